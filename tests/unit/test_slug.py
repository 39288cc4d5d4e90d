"""The slug writer: layout, determinism, links, limits, and all-or-nothing output."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from slugbuild import compressor, slug, tarstream
from slugbuild.errors import BuildFailed
from slugbuild.log import RecordingLog

GIB = 1 << 30


def make_app(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "web").write_text("#!/bin/sh\nexec node web.js\n")
    (root / "bin" / "web").chmod(0o750)
    (root / "web.js").write_text("require('http').createServer().listen(process.env.PORT)\n")
    (root / "web.js").chmod(0o600)
    (root / "lib" / "deep" / "er").mkdir(parents=True)
    (root / "lib" / "deep" / "er" / "x.txt").write_bytes(os.urandom(200_000))
    (root / "lib" / ("long-name-" * 15)).write_text("a name longer than 100 bytes")
    (root / "empty").mkdir()
    (root / "current").symlink_to("lib/deep")
    return root


def pack(app: Path, out: Path, **kwargs) -> tuple[slug.Slug, RecordingLog]:
    log = RecordingLog()
    kwargs.setdefault("max_size_b", GIB)
    return slug.pack(app, out, log, **kwargs), log


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_every_member_sits_under_app_in_sorted_depth_first_order(tmp_path):
    packed, _ = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz")
    names = [m.name for m in members(packed.path)]
    assert names == ["./app", "./app/bin", "./app/bin/web", "./app/current", "./app/empty", "./app/lib",
                     "./app/lib/deep", "./app/lib/deep/er", "./app/lib/deep/er/x.txt",
                     "./app/lib/" + "long-name-" * 15, "./app/web.js"]
    raw = gzip.decompress(packed.path.read_bytes())
    assert raw[:6] == b"./app/"  # the root entry itself, as a directory
    assert b"ustar  \x00" in raw[:512]  # GNU format
    assert b"././@LongLink" in raw  # GNU long names, not PAX headers


def test_headers_are_normalised_but_exec_bits_kept(tmp_path):
    packed, _ = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz")
    by_name = {m.name: m for m in members(packed.path)}
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in by_name.values()} == {(0, 0, "", "", 0)}
    assert by_name["./app/bin/web"].mode == 0o755
    assert by_name["./app/web.js"].mode == 0o644
    assert by_name["./app/lib"].mode == 0o755
    assert by_name["./app/current"].issym() and by_name["./app/current"].linkname == "lib/deep"


def test_source_date_epoch_sets_every_mtime(tmp_path):
    packed, _ = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz", epoch=1_700_000_000)
    assert {m.mtime for m in members(packed.path)} == {1_700_000_000}


def test_gzip_header_has_no_time_and_no_file_name(tmp_path):
    packed, _ = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz")
    header = packed.path.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] == 0  # no FNAME (or any other optional field)
    assert header[4:8] == b"\x00\x00\x00\x00"


def test_same_source_in_different_places_at_different_times_gives_the_same_bytes(tmp_path):
    first = make_app(tmp_path / "one" / "app")
    second = tmp_path / "elsewhere" / "deeper" / "app"
    shutil.copytree(first, second, symlinks=True)
    for path in second.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    os.chmod(second / "lib", 0o700)
    a, _ = pack(first, tmp_path / "a.tgz")
    b, _ = pack(second, tmp_path / "out" / "b.tgz")
    assert a.sha256 == b.sha256
    assert a.path.read_bytes() == b.path.read_bytes()


def test_the_compressor_thread_count_does_not_come_from_the_machine(tmp_path, monkeypatch):
    """zlib-ng's threaded writer gives different bytes for different thread counts (measured), so a
    machine-dependent count would break byte-identical slugs across machines."""
    asked = []
    real_open = compressor.gzip_ng_threaded.open

    def spy(*args, **kwargs):
        asked.append(kwargs["threads"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(compressor.gzip_ng_threaded, "open", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    app = make_app(tmp_path / "app")
    (app / "big.bin").write_bytes(os.urandom(3 * compressor.BLOCK_B))  # large enough to be threaded
    pack(app, tmp_path / "slug.tgz")
    assert asked == [compressor.COMPRESS_THREADS] and compressor.COMPRESS_THREADS > 0


def test_checksum_and_size_are_those_of_the_file_written(tmp_path):
    packed, _ = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz")
    data = packed.path.read_bytes()
    assert packed.size == len(data)
    assert packed.checksum == "SHA256:" + hashlib.sha256(data).hexdigest()


def test_a_symlink_pointing_outside_the_app_is_kept_as_a_link_and_warned_about(tmp_path):
    app = make_app(tmp_path / "app")
    (tmp_path / "secret").write_text("never read")
    (app / "escape").symlink_to("../secret")
    (app / "absolute").symlink_to("/etc/passwd")
    (app / "on-the-dyno").symlink_to("/app/web.js")
    packed, log = pack(app, tmp_path / "slug.tgz")
    by_name = {m.name: m for m in members(packed.path)}
    assert by_name["./app/escape"].issym() and by_name["./app/escape"].linkname == "../secret"
    assert by_name["./app/escape"].size == 0
    assert log.texts("warn") == [
        "app/absolute -> /etc/passwd: symlink points outside the app; it will dangle on a dyno",
        "app/escape -> ../secret: symlink points outside the app; it will dangle on a dyno",
    ]


def test_special_files_are_skipped_with_a_warning(tmp_path):
    app = make_app(tmp_path / "app")
    os.mkfifo(app / "pipe")
    packed, log = pack(app, tmp_path / "slug.tgz")
    assert "./app/pipe" not in [m.name for m in members(packed.path)]
    assert log.texts("warn") == ["app/pipe: not a regular file, directory or symlink; left out of the slug"]


def test_above_max_size_nothing_is_left_and_the_error_names_size_limit_and_fix(tmp_path):
    app = make_app(tmp_path / "app")
    out = tmp_path / "out" / "slug.tgz"
    with pytest.raises(slug.SlugTooLarge) as err:
        pack(app, out, max_size_b=1024)
    assert str(err.value).startswith("Compiled slug size: ")
    assert "is too large (max is 1K); leave files out with .slugignore or raise --max-size" in str(err.value)
    assert list(out.parent.iterdir()) == []


def test_an_unreadable_file_is_one_clear_error_and_keeps_the_previous_slug(tmp_path, monkeypatch):
    app = make_app(tmp_path / "app")
    out = tmp_path / "slug.tgz"
    out.write_bytes(b"previous slug")
    real_open = os.open

    def unreadable(path, flags, *args):
        if str(path).endswith("web"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(tarstream.os, "open", unreadable)
    with pytest.raises(BuildFailed, match=r"^could not read app/bin/web: Permission denied; make it"):
        pack(app, out)
    assert out.read_bytes() == b"previous slug"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "slug.tgz"]


def test_a_file_that_shrinks_while_it_is_packed_is_one_clear_error(tmp_path, monkeypatch):
    real_children = tarstream._children

    def stale(directory, arc_dir, log):
        found = real_children(directory, arc_dir, log)
        if arc_dir == tarstream.ROOT:
            (tmp_path / "app" / "web.js").write_text("x")  # after its size was taken
        return found

    monkeypatch.setattr(tarstream, "_children", stale)
    with pytest.raises(BuildFailed, match="^app/web.js shrank while the slug was written; build again"):
        pack(make_app(tmp_path / "app"), tmp_path / "out" / "slug.tgz")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_interrupted_pack_leaves_no_slug(tmp_path, monkeypatch):
    app = make_app(tmp_path / "app")
    real_write, calls = tarstream.write_entry, []

    def interrupted(*args):
        calls.append(args)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_write(*args)

    monkeypatch.setattr(tarstream, "write_entry", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pack(app, tmp_path / "out" / "slug.tgz")
    assert list((tmp_path / "out").iterdir()) == []


def test_above_the_soft_limit_a_warning_in_herokus_words(tmp_path, monkeypatch):
    monkeypatch.setattr(slug, "SOFT_LIMIT_B", 100)
    _, log = pack(make_app(tmp_path / "app"), tmp_path / "slug.tgz")
    assert len(log.texts("warn")) == 1
    assert log.texts("warn")[0].startswith("Warning: Your slug size (")
    assert log.texts("warn")[0].endswith("exceeds our soft limit (100B) which may affect boot time.")


@pytest.mark.parametrize(("size", "text"), [(0, "0B"), (1023, "1023B"), (1024, "1K"), (1536, "1.5K"),
                                            (45_300_000, "43.2M"), (1 << 30, "1G")])
def test_human_size(size, text):
    assert slug.human_size(size) == text


def test_metadata_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "slug.tgz"
    slug.write_metadata(path, {"size": 3, "process_types": {"web": "x"}})
    assert slug.read_metadata(path) == {"size": 3, "process_types": {"web": "x"}}
    assert (tmp_path / "slug.tgz.json").read_text().startswith('{\n  "process_types"')
    with pytest.raises(slug.MetadataMissing, match=r"other.tgz.json not found: rebuild the slug"):
        slug.read_metadata(tmp_path / "other.tgz")
    (tmp_path / "bad.tgz.json").write_text("{not json")
    with pytest.raises(slug.MetadataMissing, match=r"bad.tgz.json is not readable JSON"):
        slug.read_metadata(tmp_path / "bad.tgz")

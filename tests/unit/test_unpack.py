"""Unpacking: every member lands inside its target whatever order the archive puts them in, links never
lead a write outside, and one archive cannot unpack to more than the limits allow."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from archives import ATTACKS, Attack, check_unpacked, crafted, member, snapshot, tarball, written_outside

from slugbuild import classic, cli, run
from slugbuild.errors import DownloadFailed, SlugbuildError, UsageError
from slugbuild.fetch import Fetcher, UnsafeArchive, extract, unpack
from slugbuild.log import RecordingLog


def test_a_safe_archive_is_unpacked_with_its_links_and_modes(tmp_path):
    archive = tarball(tmp_path, member("node-v1/", tarfile.DIRTYPE, mode=0o755),
                      member("node-v1/bin/", tarfile.DIRTYPE, mode=0o755),
                      member("node-v1/lib/cli.js", mode=0o755),
                      member("node-v1/bin/npm", tarfile.SYMTYPE, "../lib/cli.js"),
                      member("node-v1/bin/npm-hard", tarfile.LNKTYPE, "node-v1/lib/cli.js", 0o755))
    dest = tmp_path / "out" / "node"
    extract(archive, dest, strip_components=1)
    assert (dest / "bin" / "npm").is_symlink() and (dest / "bin" / "npm").read_text() == "hi\n"
    assert (dest / "bin" / "npm-hard").read_text() == "hi\n"
    assert (dest / "lib" / "cli.js").stat().st_mode & 0o111
    assert sorted(p.name for p in dest.parent.iterdir()) == ["node"]


@pytest.mark.parametrize(("bad", "why"), [
    (member("/etc/evil"), "would land outside the target directory"),
    (member("pkg/../../evil"), "would land outside the target directory"),
    (member("pkg/link", tarfile.SYMTYPE, "/etc/passwd"), "links outside the target (/etc/passwd)"),
    (member("pkg/link", tarfile.SYMTYPE, "../../etc"), "links outside the target (../../etc)"),
    (member("pkg/hard", tarfile.LNKTYPE, "/etc/passwd"), "links outside the target (/etc/passwd)"),
    (member("pkg/hard", tarfile.LNKTYPE, "../etc/passwd"), "links outside the target (../etc/passwd)"),
    (member("pkg/tty", tarfile.CHRTYPE), "is not a regular file, directory or link"),
    (member("pkg/disk", tarfile.BLKTYPE), "is not a regular file, directory or link"),
    (member("pkg/pipe", tarfile.FIFOTYPE), "is not a regular file, directory or link"),
])
def test_unsafe_members_are_refused_and_nothing_is_left(tmp_path, bad, why):
    archive = tarball(tmp_path, member("pkg/ok.txt"), bad)
    dest = tmp_path / "out" / "dest"
    with pytest.raises(UnsafeArchive) as err:
        extract(archive, dest)
    assert str(err.value) == f"refusing to extract archive.tar.gz: member {bad.name!r} {why}"
    assert list((tmp_path / "out").iterdir()) == []


def test_many_members_big_and_small_unpack_byte_for_byte_in_archive_order(tmp_path):
    """Small members are written on several threads; a big one, a hard link right after its target and a
    directory entry after its files must come out exactly as the archive says."""
    big = bytes(range(256)) * (unpack.UNPACK_BUFFERED_MAX_B // 256 + 1)
    contents = {f"pkg/lib/m{i:03d}.js": f"module {i}\n".encode() for i in range(300)}
    contents["pkg/bin/node"] = big
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in contents.items():
            info = member(name, mode=0o755 if name.endswith("node") else 0o640)
            info.size, info.mtime = len(data), 1_000_000
            tar.addfile(info, io.BytesIO(data))
        link = member("pkg/lib/again.js", tarfile.LNKTYPE, "pkg/lib/m299.js", mode=0o640)
        link.mtime = 1_000_000  # a hard link's attributes are its target's
        tar.addfile(link)
        tar.addfile(member("pkg/lib/", tarfile.DIRTYPE, mode=0o755))
    archive = tmp_path / "many.tar.gz"
    archive.write_bytes(buf.getvalue())
    dest = tmp_path / "out"
    extract(archive, dest, strip_components=1)
    for name, data in contents.items():
        path = dest / name.removeprefix("pkg/")
        assert path.read_bytes() == data, name
        assert path.stat().st_mtime == 1_000_000
    assert (dest / "bin" / "node").stat().st_mode & 0o777 == 0o755
    assert (dest / "lib" / "m000.js").stat().st_mode & 0o777 == 0o640
    assert (dest / "lib" / "again.js").read_bytes() == b"module 299\n"


def test_a_member_nested_absurdly_deep_is_refused(tmp_path):
    archive = crafted(tmp_path / "deep.tgz", [("/".join(["d"] * 3000) + "/f", "f", b"x")])
    with pytest.raises(UnsafeArchive, match="is nested deeper than 800 directories$"):
        extract(archive, tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []
    extract(crafted(tmp_path / "ok.tgz", [("/".join(["d"] * 799) + "/f", "f", b"x")]), tmp_path / "ok")


def test_a_member_that_cannot_be_written_is_one_clear_error(tmp_path):
    archive = tarball(tmp_path, member("pkg/ok"), member("pkg/" + "x" * 300))  # longer than NAME_MAX
    with pytest.raises(DownloadFailed, match=f"^could not unpack {archive}: "):
        extract(archive, tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_corrupt_archive_is_one_clear_error(tmp_path):
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage, not deflate")
    with pytest.raises(DownloadFailed, match=f"^could not unpack {archive}: "):
        extract(archive, tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_non_empty_destination_is_refused(tmp_path):
    archive = tarball(tmp_path, member("ok.txt"))
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "old").write_text("x")
    with pytest.raises(DownloadFailed, match="dest: it is not empty; remove it first"):
        extract(archive, tmp_path / "dest")




# -- every member order an attacker may choose, through every entry point -------------------------------
#
# Each layout puts the place two levels above the unpacking root (where the escaping links lead) inside
# tmp_path, and the snapshot of all of tmp_path shows any byte written outside the allowed places.

def outcome(attack: Attack, call: Callable[[], Path], tmp_path: Path, allowed: list[str],
            prefix: str = "") -> None:
    before = snapshot(tmp_path)
    if attack.refusal is None:
        check_unpacked(call(), attack)
    else:
        with pytest.raises(SlugbuildError) as err:
            call()
        refusal = attack.refusal.replace("'p/", f"'{prefix}p/")  # names as the archive spells them
        assert str(err.value).endswith(refusal) or f"{refusal}); build it again" in str(err.value)
        assert "\n" not in str(err.value)
    assert written_outside(before, snapshot(tmp_path), allowed) == []


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_extract_never_writes_outside_its_target(tmp_path, attack):
    archive = crafted(tmp_path / "in" / "attack.tgz", attack.specs)
    dest = tmp_path / "box" / "inner" / "dest"

    def call() -> Path:
        extract(archive, dest)
        return dest

    outcome(attack, call, tmp_path, ["box", "box/inner", "box/inner/dest*"])


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_runtime_from_a_mirror_never_writes_outside_its_tree(tmp_path, attack):
    archive = crafted(tmp_path / "mirror" / "node-v1.tar.gz", [("p/", "d", ""), *attack.specs],
                      prefix="node/")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    fetcher = Fetcher(tmp_path / "cache", RecordingLog())

    def call() -> Path:
        fetcher.install(archive.as_uri(), sha, tmp_path / "app" / "node", strip_components=1)
        return tmp_path / "app" / "node"

    outcome(attack, call, tmp_path, ["cache", "cache/downloads*", "cache/pins*", "cache/unpacked",
                                     "cache/unpacked/*-strip1", "cache/unpacked/*-strip1/tree*",
                                     "cache/unpacked/*-strip1/manifest.json",
                                     "cache/unpacked/*-strip1/.lease", "app*"], prefix="node/")


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_classic_buildpack_tarball_never_writes_outside_its_directory(tmp_path, attack, httpserver):
    archive = crafted(tmp_path / "srv" / "bp.tgz", [("bin/detect", "f", b"#!/bin/sh\n"), *attack.specs])
    httpserver.expect_request("/bp.tgz").respond_with_data(archive.read_bytes())

    def call() -> Path:
        classic.resolve(httpserver.url_for("/bp.tgz"), tmp_path / "cache", RecordingLog())
        [unpacked] = (tmp_path / "cache" / "unpacked").glob("*-strip0/tree")
        return unpacked

    outcome(attack, call, tmp_path, ["cache", "cache/downloads*", "cache/pins*", "cache/unpacked",
                                     "cache/unpacked/*-strip0", "cache/unpacked/*-strip0/tree*",
                                     "cache/unpacked/*-strip0/manifest.json",
                                     "cache/unpacked/*-strip0/.lease"])


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_slugbuild_run_on_a_crafted_slug_never_writes_outside_the_app(tmp_path, attack):
    slug = crafted(tmp_path / "in" / "slug.tgz", [("", "d", ""), *attack.specs], prefix="./app/")

    def call() -> Path:
        return run.unpack(slug, tmp_path / "box" / "dyno")

    outcome(attack, call, tmp_path, ["box", "box/dyno", "box/dyno/app*"], prefix="./app/")


def test_the_cli_refuses_a_crafted_slug_in_one_line(tmp_path, capsys):
    attack = next(a for a in ATTACKS if a.name.startswith("pending small files"))
    slug = crafted(tmp_path / "slug.tgz", [("", "d", ""), *attack.specs], prefix="./app/")
    before = snapshot(tmp_path)
    assert cli.main(["run", str(slug), "--", "true"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "links outside the target through other links" in err[0]
    assert "Traceback" not in err[0]
    assert written_outside(before, snapshot(tmp_path), []) == []


# -- how much one archive may unpack to -----------------------------------------------------------------

def zeros_archive(path: Path, size_b: int) -> Path:
    """A .tgz of one member of `size_b` zero bytes: it compresses about a thousand to one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("p/zeros")
        info.size = size_b
        tar.addfile(info, io.BytesIO(bytes(size_b)))
    path.write_bytes(buf.getvalue())
    return path


def test_a_small_archive_that_unpacks_past_the_size_limit_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_SIZE", "4M")
    archive = zeros_archive(tmp_path / "bomb.tgz", 32 << 20)
    assert archive.stat().st_size < 100_000
    with pytest.raises(unpack.ArchiveTooLarge) as err:
        extract(archive, tmp_path / "out" / "dest")
    assert str(err.value) == ("refusing to extract bomb.tgz: it unpacks to more than 4 MiB; if you trust it, "
                              "raise the limit with SLUGBUILD_UNPACK_MAX_SIZE")
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_SIZE", "32M")
    extract(archive, tmp_path / "out" / "dest")
    assert (tmp_path / "out" / "dest" / "p" / "zeros").stat().st_size == 32 << 20


def test_a_sparse_member_counts_by_its_apparent_size(tmp_path):
    """A 1 TiB sparse file makes a tar.gz of a few hundred bytes; by default it must not be unpacked."""
    if shutil.which("tar") is None:
        pytest.skip("GNU tar makes the sparse archive")
    with open(tmp_path / "hole", "wb") as fh:
        fh.truncate(1 << 40)
    archive = tmp_path / "sparse.tgz"
    subprocess.run(["tar", "--sparse", "-czf", str(archive), "-C", str(tmp_path), "hole"], check=True)
    (tmp_path / "hole").unlink()
    assert archive.stat().st_size < 10_000
    with pytest.raises(unpack.ArchiveTooLarge, match="it unpacks to more than 2 GiB; if you trust it"):
        extract(archive, tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []


def test_more_members_than_the_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_FILES", "50")
    archive = crafted(tmp_path / "many.tgz", [(f"p/f{i}", "f", b"") for i in range(51)])
    with pytest.raises(unpack.ArchiveTooLarge, match="it unpacks to more than 50 members; .* with "
                                                     "SLUGBUILD_UNPACK_MAX_FILES$"):
        extract(archive, tmp_path / "out" / "dest")
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_FILES", "52")  # the 51 files and the p/ they imply
    extract(archive, tmp_path / "out" / "dest")
    assert len(list((tmp_path / "out" / "dest" / "p").iterdir())) == 51


def test_directories_a_member_implies_count_as_members(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_FILES", "1000")
    specs = [("/".join(f"d{i}x{level}" for level in range(200)) + "/f", "f", b"") for i in range(6)]
    with pytest.raises(unpack.ArchiveTooLarge, match="it unpacks to more than 1,000 members"):
        extract(crafted(tmp_path / "dirs.tgz", specs), tmp_path / "out" / "dest")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("SLUGBUILD_UNPACK_MAX_FILES", "lots", "SLUGBUILD_UNPACK_MAX_FILES='lots' is not a whole number above"),
    ("SLUGBUILD_UNPACK_MAX_FILES", "٣", "SLUGBUILD_UNPACK_MAX_FILES='٣' is not a whole number above zero"),
    ("SLUGBUILD_UNPACK_MAX_SIZE", "big", "SLUGBUILD_UNPACK_MAX_SIZE 'big' is not a size above zero"),
])
def test_a_bad_limit_is_named(tmp_path, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
        extract(crafted(tmp_path / "a.tgz", [("f", "f", b"x")]), tmp_path / "out")


def test_the_limits_reach_slugbuild_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_UNPACK_MAX_SIZE", "1M")
    slug = crafted(tmp_path / "slug.tgz", [("", "d", ""), ("big", "f", bytes(2 << 20))], prefix="./app/")
    with pytest.raises(SlugbuildError, match="it unpacks to more than 1 MiB; .*SLUGBUILD_UNPACK_MAX_SIZE"):
        run.unpack(slug, tmp_path / "dyno")
    assert not (tmp_path / "dyno" / "app").exists()

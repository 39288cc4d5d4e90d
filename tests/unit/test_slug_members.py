"""A slug made of gzip members, stable subtrees taken from the member cache (or packed in the background
while the build goes on): the same bytes either way, never a stale member."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from slugbuild import slug, slugwriter, subtree, tarstream
from slugbuild.errors import BuildFailed
from slugbuild.log import RecordingLog
from slugbuild.members import MEMBER_FILE, META_FILE, MemberCache
from slugbuild.prepack import Prepacker

GIB = 1 << 30
RUNTIME_FILE = Path(".heroku") / "node" / "bin" / "node"
NODE = "./app/.heroku/node"


def make_app(root: Path) -> Path:
    """An app with a runtime and dependencies big enough to be cached, and its own code around them."""
    (root / ".heroku" / "node" / "bin").mkdir(parents=True)
    (root / RUNTIME_FILE).write_bytes(os.urandom(1_300_000))
    (root / RUNTIME_FILE).chmod(0o755)
    (root / ".heroku" / "node" / "lib").mkdir()
    (root / ".heroku" / "node" / "lib" / "npm.js").write_text("module.exports = 1\n" * 5000)
    (root / ".heroku" / "node" / "bin" / "npm").symlink_to("../lib/npm.js")
    (root / "node_modules" / "express").mkdir(parents=True)
    (root / "node_modules" / "express" / "index.js").write_bytes(os.urandom(1_100_000))
    (root / ".profile.d").mkdir()
    (root / ".profile.d" / "nodejs.sh").write_text("export PATH=$HOME/.heroku/node/bin:$PATH\n")
    (root / "Procfile").write_text("web: node web.js\n")
    (root / "web.js").write_text("require('http').createServer().listen(process.env.PORT)\n")
    return root


def pack(app: Path, out: Path, cache: MemberCache | None = None,
         prepacked: Prepacker | None = None) -> tuple[slug.Slug, RecordingLog]:
    log = RecordingLog()
    return slug.pack(app, out, log, max_size_b=GIB, members=cache, prepacked=prepacked), log


def gzip_members(data: bytes) -> int:
    count = 0
    while data:
        reader = zlib.decompressobj(31)
        reader.decompress(data)
        assert reader.eof
        data, count = reader.unused_data, count + 1
    return count


def tree_contents(root: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_file():
            found[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), os.access(path, os.X_OK))
        else:
            found[rel] = ("dir",)
    return found


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return make_app(tmp_path / "app")


@pytest.fixture
def cache(tmp_path: Path) -> MemberCache:
    return MemberCache(tmp_path / "cache")


def test_a_slug_from_cached_members_is_byte_for_byte_the_one_compressed_afresh(tmp_path, app, cache):
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    cold, _ = pack(app, tmp_path / "cold.tgz", cache)
    warm, log = pack(app, tmp_path / "warm.tgz", cache)
    assert cold.reused == () and warm.reused == (".heroku/node", "node_modules")
    assert afresh.path.read_bytes() == cold.path.read_bytes() == warm.path.read_bytes()
    assert afresh.sha256 == warm.sha256 and warm.size == warm.path.stat().st_size
    assert warm.sha256 == hashlib.sha256(warm.path.read_bytes()).hexdigest()
    assert log.texts("warn") == []


def member_bodies(data: bytes) -> list[bytes]:
    bodies = []
    while data:
        reader = zlib.decompressobj(31)
        bodies.append(reader.decompress(data))
        data = reader.unused_data
    return bodies


def test_each_stable_subtree_is_a_gzip_member_of_its_own_cut_at_tar_headers(tmp_path, app):
    packed, _ = pack(app, tmp_path / "slug.tgz")
    bodies = member_bodies(packed.path.read_bytes())
    # ./app and .heroku | .heroku/node | .profile.d, Procfile | node_modules | web.js and the end
    assert len(bodies) == gzip_members(packed.path.read_bytes()) == 5
    first_names = [tarfile.TarInfo.frombuf(body[:512], "utf-8", "surrogateescape").name for body in bodies]
    assert first_names == ["./app", "./app/.heroku/node", "./app/.profile.d", "./app/node_modules",
                           "./app/web.js"]
    assert all(len(body) % 512 == 0 for body in bodies)
    assert bodies[-1].endswith(bytes(1024)) and not any(body.endswith(bytes(1024)) for body in bodies[:-1])


def test_gnu_tar_gzip_and_pythons_tarfile_read_the_members_as_one_archive(tmp_path, app, cache):
    pack(app, tmp_path / "cold.tgz", cache)
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused
    subprocess.run(["gzip", "-t", str(packed.path)], check=True)
    listed = subprocess.run(["tar", "tzf", str(packed.path)], check=True, capture_output=True, text=True)
    with tarfile.open(packed.path) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "by-tarfile", filter="data")
    assert [n.rstrip("/") for n in listed.stdout.splitlines()] == names
    (tmp_path / "by-gnu-tar").mkdir()
    subprocess.run(["tar", "xzf", str(packed.path), "-C", str(tmp_path / "by-gnu-tar")], check=True)
    assert tree_contents(tmp_path / "by-tarfile" / "app") == tree_contents(app)
    assert tree_contents(tmp_path / "by-gnu-tar" / "app") == tree_contents(app)


def test_the_tar_stream_ends_with_two_zero_blocks_on_a_record_boundary(tmp_path, app, cache):
    pack(app, tmp_path / "cold.tgz", cache)
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    raw = subprocess.run(["gzip", "-dc", str(packed.path)], check=True, capture_output=True).stdout
    assert len(raw) % tarstream.RECORD_B == 0
    assert raw.endswith(b"\0" * 1024)


def test_a_file_changed_in_place_inside_a_cached_subtree_is_never_served_stale(tmp_path, app, cache):
    pack(app, tmp_path / "cold.tgz", cache)
    runtime = app / RUNTIME_FILE
    before = runtime.stat()
    data = bytearray(runtime.read_bytes())
    data[500_000] ^= 0xFF
    with open(runtime, "r+b") as fh:  # same inode, same size, and the old mtime put back
        fh.write(data)
    os.utime(runtime, ns=(before.st_atime_ns, before.st_mtime_ns))
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused == ("node_modules",)
    with tarfile.open(packed.path) as tar:
        member = tar.extractfile("./app/.heroku/node/bin/node")
        assert member is not None and member.read() == bytes(data)
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    assert packed.path.read_bytes() == afresh.path.read_bytes()


def test_a_file_added_inside_a_cached_subtree_changes_its_key(tmp_path, app, cache):
    pack(app, tmp_path / "cold.tgz", cache)
    (app / "node_modules" / "express" / "extra.js").write_text("")
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused == (".heroku/node",)
    with tarfile.open(packed.path) as tar:
        assert "./app/node_modules/express/extra.js" in tar.getnames()


def stored(cache: MemberCache) -> list[Path]:
    return sorted(cache.entries())


def test_a_damaged_cached_member_is_detected_and_compressed_again(tmp_path, app, cache):
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    pack(app, tmp_path / "cold.tgz", cache)
    for entry in stored(cache):
        member = entry / MEMBER_FILE
        data = bytearray(member.read_bytes())
        data[len(data) // 2] ^= 0x01
        member.write_bytes(data)
    packed, log = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused == ()
    assert log.texts("warn") == [
        "the cached compressed app/.heroku/node is damaged (its sha256 does not match); compressing it again",
        "the cached compressed app/node_modules is damaged (its sha256 does not match); compressing it again",
    ]
    assert packed.path.read_bytes() == afresh.path.read_bytes()
    again, log = pack(app, tmp_path / "again.tgz", cache)
    assert again.reused == (".heroku/node", "node_modules") and log.texts("warn") == []
    assert again.path.read_bytes() == afresh.path.read_bytes()


@pytest.mark.parametrize("damage", ["truncate", "no record", "bad record"])
def test_a_cache_entry_cut_short_or_without_its_record_is_compressed_again(tmp_path, app, cache, damage):
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    pack(app, tmp_path / "cold.tgz", cache)
    for entry in stored(cache):
        if damage == "truncate":
            (entry / MEMBER_FILE).write_bytes((entry / MEMBER_FILE).read_bytes()[:100])
        elif damage == "no record":
            (entry / META_FILE).unlink()
        else:
            (entry / META_FILE).write_text('{"sha256": 1}')
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused == ()
    assert packed.path.read_bytes() == afresh.path.read_bytes()
    assert pack(app, tmp_path / "again.tgz", cache)[0].reused == (".heroku/node", "node_modules")


def test_a_cache_that_cannot_be_written_gives_the_same_slug(tmp_path, app):
    (tmp_path / "not-a-dir").write_text("")
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    packed, log = pack(app, tmp_path / "slug.tgz", MemberCache(tmp_path / "not-a-dir"))
    assert packed.path.read_bytes() == afresh.path.read_bytes() and log.texts("warn") == []


def test_member_bytes_do_not_depend_on_how_files_are_read(tmp_path, app, monkeypatch):
    """The threaded compressor's output depends on how its input is cut; reads of another size (another
    filesystem, another chunk size) must still give the same slug."""
    usual, _ = pack(app, tmp_path / "usual.tgz")
    monkeypatch.setattr(tarstream, "READ_CHUNK_B", 4093)
    odd, _ = pack(app, tmp_path / "odd.tgz")
    assert usual.path.read_bytes() == odd.path.read_bytes()


def test_a_subtree_that_changed_after_it_was_hashed_is_not_cached_under_either_key(tmp_path, app, cache,
                                                                                     monkeypatch):
    pack(app, tmp_path / "first.tgz", cache)
    before = stored(cache)
    modules = app / "node_modules" / "express" / "index.js"
    modules.write_bytes(os.urandom(1_100_000))
    real_digest = subtree.digest

    def then_changed(entries, *args):
        found = real_digest(entries, *args)
        if entries[0].arcname.endswith("node_modules"):
            modules.write_bytes(os.urandom(1_100_000))
        return found

    monkeypatch.setattr(subtree, "digest", then_changed)
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    monkeypatch.undo()
    with tarfile.open(packed.path) as tar:
        member = tar.extractfile("./app/node_modules/express/index.js")
        assert member is not None and member.read() == modules.read_bytes()
    assert stored(cache) == before


def test_a_small_stable_subtree_is_its_own_member_but_never_cached(tmp_path, cache):
    app = tmp_path / "app"
    (app / "vendor" / "bundle").mkdir(parents=True)
    (app / "vendor" / "bundle" / "gem.rb").write_text("puts 1\n")
    (app / "Gemfile").write_text("source 'https://rubygems.org'\n")
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert gzip_members(packed.path.read_bytes()) == 3  # ./app..vendor | vendor/bundle | the end
    assert stored(cache) == []


def test_a_copy_of_the_cache_elsewhere_serves_the_same_members(tmp_path, app, cache):
    pack(app, tmp_path / "cold.tgz", cache)
    shutil.copytree(cache.root.parent, tmp_path / "moved")
    packed, _ = pack(app, tmp_path / "slug.tgz", MemberCache(tmp_path / "moved"))
    assert packed.reused == (".heroku/node", "node_modules")


# -- packed in the background ------------------------------------------------------------------------------

@pytest.fixture
def prepacker(app: Path, cache: MemberCache):
    time.sleep(subtree.SETTLED_FINE_NS / 1e9 * 1.5)  # as a runtime installed a moment before is
    started = Prepacker(app, cache, epoch=0)
    yield started
    started.close()


def test_a_runtime_packed_in_the_background_gives_the_same_slug_on_a_first_build(tmp_path, app, cache,
                                                                                 prepacker):
    prepacker.start(app / ".heroku" / "node")
    packed, _ = pack(app, tmp_path / "slug.tgz", cache, prepacker)
    assert packed.reused[0] == ".heroku/node"  # compressed into the cache while "the build went on"
    assert packed.path.read_bytes() == pack(app, tmp_path / "afresh.tgz")[0].path.read_bytes()


def test_a_warm_build_finds_the_runtime_in_the_cache_in_the_background(tmp_path, app, cache, prepacker):
    pack(app, tmp_path / "cold.tgz", cache)
    prepacker.start(app / ".heroku" / "node")
    assert set(prepacker.known(NODE)) >= {NODE, NODE + "/bin/node"}
    packed, _ = pack(app, tmp_path / "slug.tgz", cache, prepacker)
    assert packed.reused == (".heroku/node", "node_modules")
    assert packed.path.read_bytes() == (tmp_path / "cold.tgz").read_bytes()


def test_a_file_the_build_changes_after_the_background_read_is_read_again(tmp_path, app, cache, prepacker):
    prepacker.start(app / ".heroku" / "node")
    assert prepacker.known(NODE)  # read, compressed and cached before the change below
    node = app / RUNTIME_FILE
    before = node.stat()
    data = bytearray(node.read_bytes())
    data[1000] ^= 0xFF
    with open(node, "r+b") as fh:  # in place: same inode, same size, the old mtime put back
        fh.write(data)
    os.utime(node, ns=(before.st_atime_ns, before.st_mtime_ns))
    packed, _ = pack(app, tmp_path / "slug.tgz", cache, prepacker)
    assert ".heroku/node" not in packed.reused
    with tarfile.open(packed.path) as tar:
        member = tar.extractfile(NODE + "/bin/node")
        assert member is not None and member.read() == bytes(data)
    assert packed.path.read_bytes() == pack(app, tmp_path / "afresh.tgz")[0].path.read_bytes()


def test_what_is_not_a_stable_subtree_of_the_app_is_left_alone(tmp_path, app, cache, prepacker):
    (tmp_path / "elsewhere").mkdir()
    prepacker.start(tmp_path / "elsewhere")
    prepacker.start(app / ".heroku")
    assert prepacker.known("./app/.heroku") == {} and stored(cache) == []


def test_closing_stops_a_background_read_and_leaves_nothing_half_written(app, cache):
    for i in range(40):
        (app / ".heroku" / "node" / "lib" / f"m{i}.js").write_bytes(os.urandom(200_000))
    prepacker = Prepacker(app, cache, epoch=0)
    prepacker.start(app / ".heroku" / "node")
    prepacker.close()
    assert [p.name for p in cache.root.iterdir() if p.name.startswith(".partial.")] == []


def test_an_entry_changed_too_recently_to_tell_a_later_change_apart_is_not_settled(tmp_path):
    (tmp_path / "f").write_text("")
    st = (tmp_path / "f").stat()
    assert not subtree.is_settled(st, time.time_ns())
    assert subtree.is_settled(st, st.st_ctime_ns + subtree.SETTLED_COARSE_NS + 1)
    whole_second = SimpleNamespace(st_ctime_ns=1_700_000_000 * 10**9)  # a filesystem keeping seconds only
    assert not subtree.is_settled(whole_second, whole_second.st_ctime_ns + subtree.SETTLED_FINE_NS * 2)
    assert subtree.is_settled(whole_second, whole_second.st_ctime_ns + subtree.SETTLED_COARSE_NS + 1)


def test_a_cached_member_that_went_away_is_compressed_again(tmp_path, app, cache):
    afresh, _ = pack(app, tmp_path / "afresh.tgz")
    pack(app, tmp_path / "cold.tgz", cache)
    for entry in stored(cache):
        (entry / MEMBER_FILE).unlink()
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert packed.reused == () and packed.path.read_bytes() == afresh.path.read_bytes()


def test_an_error_writing_the_slug_is_not_blamed_on_the_cache(tmp_path, app, cache, monkeypatch):
    pack(app, tmp_path / "cold.tgz", cache)

    def disk_full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(slugwriter.HashingWriter, "write", disk_full)
    with pytest.raises(BuildFailed, match="No space left on device; check the file and the free space"):
        pack(app, tmp_path / "slug.tgz", cache)
    monkeypatch.undo()
    assert pack(app, tmp_path / "again.tgz", cache)[0].reused == (".heroku/node", "node_modules")


def test_a_stable_name_that_is_a_symlink_stays_a_link_not_a_member(tmp_path, cache):
    app = tmp_path / "app"
    (app / "shared").mkdir(parents=True)
    (app / "shared" / "big.js").write_bytes(os.urandom(1_200_000))
    (app / "node_modules").symlink_to("shared")
    (app / "web.js").write_text("")
    packed, _ = pack(app, tmp_path / "slug.tgz", cache)
    assert gzip_members(packed.path.read_bytes()) == 1 and stored(cache) == []
    with tarfile.open(packed.path) as tar:
        link = tar.getmember("./app/node_modules")
        assert link.issym() and link.linkname == "shared"


def test_verify_compares_members_in_every_gzip_member_not_only_the_first(tmp_path):
    from slugbuild import verify

    before, _ = pack(make_app(tmp_path / "a"), tmp_path / "a.tgz")
    app = tmp_path / "b"
    shutil.copytree(tmp_path / "a", app, symlinks=True)
    (app / "web.js").write_text("// edited after the build\n")
    after, _ = pack(app, tmp_path / "b.tgz")
    assert gzip_members(Path(before.path).read_bytes()) > 1  # web.js sits after the runtime's member
    differences = verify.compare(Path(before.path), Path(after.path))
    assert [d.name for d in differences if d.name == "./app/web.js"] == ["./app/web.js"]
    assert not [d for d in differences if d.name.startswith(NODE)]


# -- a runtime reused from the cache: read once, by its check -------------------------------------------

@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The entries whose content is read for a slug, from now on."""
    read: list[str] = []
    real_data = tarstream._data
    monkeypatch.setattr(tarstream, "_data", lambda entry: read.append(entry.arcname) or real_data(entry))
    return read


@pytest.fixture
def installed(tmp_path, app, cache, reads, monkeypatch):
    """A warm build's runtime: the member stored by an earlier build, the runtime reused from the fetch
    cache (hard links, checked through them) and a prepacker told what the check read."""
    from slugbuild.fetch import Fetcher
    from slugbuild.fetch import fetcher as fetcher_module

    pack(app, tmp_path / "cold.tgz", cache)
    archive = tmp_path / "node.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(app / ".heroku" / "node", arcname="node-v1")
    shutil.rmtree(app / ".heroku" / "node")
    real_link_tree = fetcher_module.link_tree

    def link_tree(tree, dest):  # the check of a real runtime (200 MB) outlasts the clock's granularity
        real_link_tree(tree, dest)
        time.sleep(subtree.SETTLED_FINE_NS / 1e9 * 1.5)

    monkeypatch.setattr(fetcher_module, "link_tree", link_tree)
    prepacker = Prepacker(app, cache, epoch=0)
    fetcher = Fetcher(tmp_path / "fetch-cache", RecordingLog(), on_install=prepacker.start)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    fetcher.tree(archive.as_uri(), sha, strip_components=1)
    reads.clear()
    assert fetcher.install(archive.as_uri(), sha, app / ".heroku" / "node", strip_components=1).reused
    yield prepacker
    prepacker.close()
    fetcher.close()


def test_a_reused_runtime_is_not_read_again_for_the_slug(tmp_path, app, cache, installed, reads):
    packed, _ = pack(app, tmp_path / "slug.tgz", cache, installed)
    assert packed.reused == (".heroku/node", "node_modules")
    assert packed.path.read_bytes() == (tmp_path / "cold.tgz").read_bytes()
    assert [name for name in reads if name.startswith(NODE + "/")] == []


def test_a_reused_runtime_file_the_build_rewrites_is_read_again(tmp_path, app, cache, installed):
    assert installed.known(NODE)  # found in the cache before the change below
    node = app / RUNTIME_FILE
    before = node.stat()
    data = bytearray(node.read_bytes())
    data[1000] ^= 0xFF
    with open(node, "r+b") as fh:  # in place, as `npm i -g` might: same inode, size and mtime
        fh.write(data)
    os.utime(node, ns=(before.st_atime_ns, before.st_mtime_ns))
    packed, _ = pack(app, tmp_path / "slug.tgz", cache, installed)
    assert ".heroku/node" not in packed.reused
    with tarfile.open(packed.path) as tar:
        member = tar.extractfile(NODE + "/bin/node")
        assert member is not None and member.read() == bytes(data)
    assert packed.path.read_bytes() == pack(app, tmp_path / "afresh.tgz")[0].path.read_bytes()

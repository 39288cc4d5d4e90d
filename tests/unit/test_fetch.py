"""Downloads under injected faults (served on 127.0.0.1) never leave a partial or corrupt file in the cache;
extraction refuses anything that would land outside its target; runtimes unpacked in the cache reach each
app as links, and what a build changes through them never reaches the next build."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
from archives import member, tarball
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from slugbuild.errors import DownloadFailed
from slugbuild.fetch import Fetcher, NotFound, clear_cache, trees
from slugbuild.fetch import fetcher as fetcher_module
from slugbuild.fetch import manifest as fetch_manifest
from slugbuild.log import RecordingLog

BODY = bytes(range(256)) * 12_000  # ~3 MB: more than one read chunk, so a cut body leaves bytes to resume
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def server():
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server):
    yield server
    server.clear()


@pytest.fixture
def fetcher(tmp_path) -> Fetcher:
    return Fetcher(tmp_path / "cache", RecordingLog(), retries=2, backoff_s=0.001, timeout_s=10)


def cache_files(fetcher: Fetcher) -> list[str]:
    """Every file in the downloads cache (pins and indexes aside)."""
    root = fetcher.cache_dir / "downloads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def serve(http: HTTPServer, *responses):
    """Answer /f.tgz with each response in turn (callables get the request), then with the full body."""
    queue = list(responses)
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        step = queue.pop(0) if queue else None
        if step is None:
            return Response(BODY)
        return step if isinstance(step, Response) else step(request)

    http.expect_request("/f.tgz").respond_with_handler(handler)
    return http.url_for("/f.tgz"), seen


def truncated(request: Request) -> Response:
    return Response(iter([BODY[:2_500_000]]), headers={"Content-Length": str(len(BODY))})


def ranged(request: Request) -> Response:
    start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
    return Response(BODY[start:], status=206,
                    headers={"Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"})


def test_a_download_is_verified_cached_and_reused(http, fetcher):
    url, seen = serve(http)
    first = fetcher.fetch(url, SHA)
    second = fetcher.fetch(url, SHA)
    assert first == second and first.path.read_bytes() == BODY and first.verified
    assert len(seen) == 1
    assert cache_files(fetcher) == [f"{first.path.parent.name}/f.tgz"]


def test_a_truncated_body_is_resumed_where_it_stopped(http, fetcher):
    url, seen = serve(http, truncated, ranged)
    assert fetcher.fetch(url, SHA).path.read_bytes() == BODY
    assert [r.headers.get("Range") for r in seen] == [None, "bytes=2500000-"]  # exactly what arrived


def test_a_server_that_ignores_range_restarts_the_file(http, fetcher):
    url, _ = serve(http, truncated)
    assert fetcher.fetch(url, SHA).path.read_bytes() == BODY


def test_a_body_truncated_every_time_fails_naming_the_url_and_caches_nothing(http, fetcher):
    url, seen = serve(http, truncated, truncated, truncated)
    with pytest.raises(DownloadFailed, match=f"^could not download {url} after 3 attempts: "):
        fetcher.fetch(url, SHA)
    assert len(seen) == 3
    assert cache_files(fetcher) == []


def test_a_wrong_checksum_fails_and_caches_nothing(http, fetcher):
    url, _ = serve(http)
    with pytest.raises(DownloadFailed) as err:
        fetcher.fetch(url, "0" * 64)
    assert str(err.value) == (f"checksum mismatch for {url}: expected sha256 {'0' * 64}, got {SHA}; "
                              "the download or the mirror is corrupt")
    assert cache_files(fetcher) == []


def test_server_errors_are_retried_until_success(http, fetcher):
    url, seen = serve(http, Response("busy", status=500), Response("busy", status=503))
    assert fetcher.fetch(url, SHA).path.read_bytes() == BODY
    assert len(seen) == 3


def test_persistent_server_errors_give_up_with_one_line(http, fetcher):
    url, _ = serve(http, *[Response("down", status=502)] * 3)
    with pytest.raises(DownloadFailed, match=f"^could not download {url} after 3 attempts: HTTP 502; "
                                             "check the network and the URL$"):
        fetcher.fetch(url, SHA)
    assert cache_files(fetcher) == []


def test_not_found_is_not_retried(http, fetcher):
    url, seen = serve(http, Response("no", status=404))
    with pytest.raises(NotFound, match=f"^could not download {url}: HTTP 404; check the version"):
        fetcher.fetch(url, SHA)
    assert len(seen) == 1


def test_offline_uses_the_cache_and_names_a_missing_download(http, fetcher, tmp_path):
    url, seen = serve(http)
    fetcher.fetch(url, SHA)
    offline = Fetcher(fetcher.cache_dir, RecordingLog(), offline=True)
    assert offline.fetch(url, SHA).path.read_bytes() == BODY
    other = http.url_for("/other.tgz")
    missing = f"^--offline: {other} is not in the cache {fetcher.cache_dir}; "
    with pytest.raises(DownloadFailed, match=missing):
        offline.fetch(other, SHA)
    assert len(seen) == 1


def test_two_threads_fetching_one_url_into_one_cache_both_succeed(http, fetcher):
    both_in_flight = threading.Barrier(2, timeout=10)

    def slow(request: Request) -> Response:
        both_in_flight.wait()
        return Response(BODY)

    url, seen = serve(http, slow, slow)
    results: list[object] = [None, None]

    def fetch(i: int) -> None:
        try:
            results[i] = Fetcher(fetcher.cache_dir, RecordingLog(), retries=0).fetch(url, SHA).path
        except Exception as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] and isinstance(results[0], Path)
    assert results[0].read_bytes() == BODY
    assert len(seen) == 2
    assert cache_files(fetcher) == [f"{results[0].parent.name}/f.tgz"]


def test_partial_files_of_killed_builds_are_cleaned_up_later(http, fetcher):
    url, _ = serve(http)
    staging = fetcher.cache_dir / "downloads" / ".partial"
    staging.mkdir(parents=True)
    (staging / "old.tgz.abc").write_bytes(b"left by a build killed yesterday")
    os.utime(staging / "old.tgz.abc", (0, 0))
    (staging / "running.tgz.def").write_bytes(b"another build is writing this one")
    fetcher.fetch(url, SHA)
    assert sorted(p.name for p in staging.iterdir()) == ["running.tgz.def"]


def test_a_damaged_cached_file_is_downloaded_again(http, fetcher):
    url, seen = serve(http)
    path = fetcher.fetch(url, SHA).path
    path.write_bytes(b"bit rot")
    assert fetcher.fetch(url, SHA).path.read_bytes() == BODY
    assert len(seen) == 2
    assert fetcher.log.texts("warn") == ["cached f.tgz no longer matches its sha256; downloading it again"]


def test_without_a_published_checksum_the_first_download_is_pinned(http, fetcher):
    url, _ = serve(http)
    first = fetcher.fetch(url, None)
    assert first.sha256 == SHA and not first.verified
    http.clear()
    http.expect_request("/f.tgz").respond_with_data(b"changed upstream")
    first.path.unlink()
    with pytest.raises(DownloadFailed, match=r"expected sha256 \w+ \(pinned at its first download\)"):
        fetcher.fetch(url, None)


def test_file_urls_are_fetched_and_a_missing_one_is_not_found(tmp_path, fetcher):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "f.tgz").write_bytes(BODY)
    assert fetcher.fetch((mirror / "f.tgz").as_uri(), SHA).path.read_bytes() == BODY
    with pytest.raises(NotFound, match="does not exist; check the mirror directory"):
        fetcher.fetch((mirror / "missing.tgz").as_uri(), SHA)


def test_an_index_falls_back_to_its_cached_copy_when_the_network_fails(http, fetcher):
    http.expect_ordered_request("/index.json").respond_with_data('{"v": 1}')
    http.expect_ordered_request("/index.json").respond_with_data("down", status=500)
    http.expect_ordered_request("/index.json").respond_with_data("down", status=500)
    http.expect_ordered_request("/index.json").respond_with_data("down", status=500)
    url = http.url_for("/index.json")
    assert fetcher.fetch_text(url) == '{"v": 1}'
    assert fetcher.fetch_text(url) == '{"v": 1}'
    assert fetcher.log.texts("warn") == [
        f"{url}: HTTP 500; retrying in 0.0s (attempt 2 of 3)",
        f"{url}: HTTP 500; retrying in 0.0s (attempt 3 of 3)",
        f"could not download {url} after 3 attempts: HTTP 500; check the network and the URL; using the copy "
        "cached earlier"]


def tamper_index_copy(cache_dir: Path) -> None:
    """Change the kept copy's text, keeping its size and mtime."""
    [kept] = (cache_dir / "index").iterdir()
    st = kept.stat()
    kept.write_bytes(kept.read_bytes().replace(SHA[:8].encode(), b"0badf00d"))
    os.utime(kept, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_cached_index_changed_with_its_size_and_mtime_kept_is_not_used_offline(http, fetcher, tmp_path):
    http.expect_request("/SHASUMS256.txt").respond_with_data(f"{SHA}  node.tgz\n")
    url = http.url_for("/SHASUMS256.txt")
    assert fetcher.fetch_text(url) == f"{SHA}  node.tgz\n"
    tamper_index_copy(tmp_path / "cache")
    offline = Fetcher(tmp_path / "cache", RecordingLog(), offline=True)
    with pytest.raises(DownloadFailed, match=r"^--offline: .*SHASUMS256.txt is not in the cache"):
        offline.fetch_text(url)
    assert offline.log.texts("warn") == [
        f"the cached copy of {url} was changed after it was downloaded; discarding it"]


def test_a_changed_cached_index_is_no_fallback_when_the_download_fails(http, fetcher, tmp_path):
    http.expect_ordered_request("/SHASUMS256.txt").respond_with_data(f"{SHA}  node.tgz\n")
    for _ in range(3):
        http.expect_ordered_request("/SHASUMS256.txt").respond_with_data("down", status=500)
    url = http.url_for("/SHASUMS256.txt")
    fetcher.fetch_text(url)
    tamper_index_copy(tmp_path / "cache")
    with pytest.raises(DownloadFailed, match="after 3 attempts: HTTP 500"):
        fetcher.fetch_text(url)
    assert fetcher.log.texts("warn")[-1] == (f"the cached copy of {url} was changed after it was downloaded; "
                                             "discarding it")


# -- runtimes unpacked once in the cache, linked into each app ------------------------------------------

def runtime(tmp_path: Path) -> tuple[str, str]:
    """A file:// URL of a small Node.js-shaped archive, and its sha256."""
    archive = tarball(tmp_path, member("node-v1/", tarfile.DIRTYPE, mode=0o755),
                      member("node-v1/bin/", tarfile.DIRTYPE, mode=0o755),
                      member("node-v1/bin/node", mode=0o755),
                      member("node-v1/bin/npm", tarfile.SYMTYPE, "node"),
                      member("node-v1/README.md"))
    return archive.as_uri(), hashlib.sha256(archive.read_bytes()).hexdigest()


def test_a_runtime_is_unpacked_once_and_hard_linked_into_each_app(tmp_path, fetcher):
    url, sha = runtime(tmp_path)
    first = fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    shutil.rmtree(fetcher.cache_dir / "downloads")
    fetcher.offline = True  # the second install must not need the archive at all
    second = fetcher.install(url, sha, tmp_path / "b" / "node", strip_components=1)
    assert (first.reused, second.reused) == (False, True)
    a, b = tmp_path / "a" / "node", tmp_path / "b" / "node"
    assert (b / "bin" / "node").read_text() == "hi\n"
    assert os.path.samefile(a / "bin" / "node", b / "bin" / "node")
    assert os.readlink(b / "bin" / "npm") == "node" and (b / "bin" / "node").stat().st_mode & 0o111
    assert sorted(p.name for p in b.iterdir()) == ["README.md", "bin"]


def rewrite(path: Path, mode: str, data: bytes) -> None:
    with path.open(mode) as fh:
        fh.write(data)


@pytest.mark.parametrize("change", [
    lambda p: rewrite(p, "r+b", b"XX"),  # same size, in place
    lambda p: rewrite(p, "ab", b"more"),
    lambda p: p.chmod(0o600),
], ids=["rewritten", "appended", "chmod"])
def test_a_linked_file_changed_in_place_is_not_handed_to_the_next_build(tmp_path, fetcher, change):
    url, sha = runtime(tmp_path)
    fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    change(tmp_path / "a" / "node" / "bin" / "node")  # as `npm i -g` rewriting a file: the cache's too
    tree = fetcher.install(url, sha, tmp_path / "b" / "node", strip_components=1)
    node = tmp_path / "b" / "node" / "bin" / "node"
    assert node.read_bytes() == b"hi\n" and node.stat().st_mode & 0o777 == 0o755
    assert not tree.reused
    assert fetcher.log.texts("warn") == ["the cache's unpacked archive.tar.gz changed since it was unpacked "
                                         "(bin/node): a build wrote into it; unpacking it again"]


def same_size_and_mtime(path: Path, data: bytes) -> None:
    """Rewrite `path` in place with `data` (same length), then put its mtime back, as a careful hand would."""
    st = path.stat()
    assert len(data) == st.st_size
    rewrite(path, "r+b", data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def forged_manifest(slot: Path) -> None:
    """A well-formed, sealed manifest that lists nothing, as only someone using slugbuild's code writes."""
    fetch_manifest.write(slot / "manifest.json", [])


@pytest.mark.parametrize(("damage", "named"), [
    (lambda slot: same_size_and_mtime(slot / "tree" / "bin" / "node", b"XX\n"), "bin/node"),
    (lambda slot: (slot / "manifest.json").write_text("[[") , "manifest.json"),
    (lambda slot: (slot / "manifest.json").write_text("[]") , "manifest.json"),
    (lambda slot: (slot / "manifest.json").unlink(), "manifest.json"),
    (forged_manifest, "README.md"),
    (lambda slot: (slot / "tree" / "bin" / "extra").write_text("planted"), "bin/extra"),
    (lambda slot: os.mkfifo(slot / "tree" / "bin" / "fifo"), "bin/fifo"),
    (lambda slot: (slot / "tree" / "README.md").unlink(), "README.md"),
    (lambda slot: (slot / "tree" / "bin" / "npm").unlink() or (slot / "tree" / "bin" / "npm").symlink_to("/"),
     "bin/npm"),
    (lambda slot: (slot / "tree" / "bin").chmod(0o000), "bin"),
], ids=["rewritten, size and mtime restored", "manifest unreadable", "manifest []", "manifest removed",
        "manifest forged empty", "file added", "fifo added", "file removed", "link retargeted",
        "directory made unreadable"])
def test_a_damaged_runtime_in_the_cache_is_unpacked_again_with_one_warning(tmp_path, fetcher, damage, named):
    url, sha = runtime(tmp_path)
    fetcher.tree(url, sha, strip_components=1)
    [slot] = (fetcher.cache_dir / "unpacked").iterdir()
    damage(slot)
    tree = fetcher.install(url, sha, tmp_path / "app" / "node", strip_components=1)
    assert not tree.reused
    assert fetcher.log.texts("warn") == [f"the cache's unpacked archive.tar.gz changed since it was unpacked "
                                         f"({named}): a build wrote into it; unpacking it again"]
    bin_dir = tmp_path / "app" / "node" / "bin"
    assert (bin_dir / "node").read_bytes() == b"hi\n" and os.readlink(bin_dir / "npm") == "node"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["node", "npm"]
    assert fetcher.tree(url, sha, strip_components=1).reused and len(fetcher.log.texts("warn")) == 1


def test_a_damaged_runtime_is_handed_on_only_once_unpacked_again(tmp_path):
    url, sha = runtime(tmp_path)
    seen = []
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), on_install=lambda dest, checked: seen.append(
        (dest, (dest / "bin" / "node").read_bytes())))
    fetcher.tree(url, sha, strip_components=1)
    [slot] = (fetcher.cache_dir / "unpacked").iterdir()
    same_size_and_mtime(slot / "tree" / "bin" / "node", b"XX\n")
    fetcher.install(url, sha, tmp_path / "app" / "node", strip_components=1)
    assert seen == [(tmp_path / "app" / "node", b"hi\n")]


def test_across_filesystems_the_runtime_is_copied(tmp_path, fetcher, monkeypatch):
    def cross_device(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(trees.os, "link", cross_device)
    url, sha = runtime(tmp_path)
    fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    node = tmp_path / "a" / "node" / "bin" / "node"
    assert node.read_text() == "hi\n" and node.stat().st_mode & 0o111
    node.write_text("changed\n")
    fetcher.install(url, sha, tmp_path / "b" / "node", strip_components=1)
    assert (tmp_path / "b" / "node" / "bin" / "node").read_text() == "hi\n"
    assert fetcher.log.texts("warn") == []


def test_concurrent_builds_unpack_one_runtime_and_all_get_it(tmp_path, fetcher):
    url, sha = runtime(tmp_path)
    failures: list[BaseException] = []

    def install(i: int) -> None:
        try:
            Fetcher(fetcher.cache_dir, RecordingLog()).install(url, sha, tmp_path / f"app{i}" / "node",
                                                               strip_components=1)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=install, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert all((tmp_path / f"app{i}" / "node" / "bin" / "node").read_text() == "hi\n" for i in range(6))
    assert [p.name for p in (fetcher.cache_dir / "unpacked").iterdir()] == [f"{sha}-strip1"]


def test_clearing_the_cache_leaves_a_linked_runtime_intact(tmp_path, fetcher):
    url, sha = runtime(tmp_path)
    fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    (fetcher.cache_dir / "CACHEDIR.TAG").write_text("tag\n")
    clear_cache(fetcher.cache_dir, keep=("CACHEDIR.TAG",))
    assert [p.name for p in fetcher.cache_dir.iterdir()] == ["CACHEDIR.TAG"]
    assert (tmp_path / "a" / "node" / "bin" / "node").read_text() == "hi\n"
    assert not fetcher.install(url, sha, tmp_path / "b" / "node", strip_components=1).reused


def test_a_runtime_cleared_while_it_is_being_linked_is_unpacked_again(tmp_path, fetcher, monkeypatch):
    url, sha = runtime(tmp_path)
    fetcher.tree(url, sha, strip_components=1)
    real_link_tree = fetcher_module.link_tree
    calls = []

    def cleared_first(tree, dest):
        calls.append(dest)
        if len(calls) == 1:
            clear_cache(fetcher.cache_dir)  # another build's --clear-cache, just now
        real_link_tree(tree, dest)

    monkeypatch.setattr(fetcher_module, "link_tree", cleared_first)
    tree = fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    assert (tmp_path / "a" / "node" / "bin" / "node").read_text() == "hi\n"
    assert len(calls) == 2 and not tree.reused


def test_a_fresh_tree_another_build_discards_at_once_is_unpacked_again(tmp_path, fetcher, monkeypatch):
    url, sha = runtime(tmp_path)
    real_unpack = fetcher_module.unpack_tree
    calls = []

    def discarded_by_another_build(archive, slot, strip):
        real_unpack(archive, slot, strip)
        calls.append(slot)
        if len(calls) == 1:
            shutil.rmtree(slot)  # as a build that found the previous copy damaged would, a moment late

    monkeypatch.setattr(fetcher_module, "unpack_tree", discarded_by_another_build)
    tree = fetcher.install(url, sha, tmp_path / "a" / "node", strip_components=1)
    assert len(calls) == 2 and not tree.reused and fetcher.log.texts("warn") == []
    assert (tmp_path / "a" / "node" / "bin" / "node").read_text() == "hi\n"


def test_installing_over_an_existing_directory_is_refused(tmp_path, fetcher):
    url, sha = runtime(tmp_path)
    (tmp_path / "a" / "node").mkdir(parents=True)
    with pytest.raises(DownloadFailed, match="node: it exists; remove it first$"):
        fetcher.install(url, sha, tmp_path / "a" / "node")

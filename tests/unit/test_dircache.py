"""The dependency cache (node_modules): entries keyed by what they were built from, restored only when
every byte is as stored, and shared by builds in several processes at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from node_fakes import compile_app, make_mirror

from slugbuild import dircache
from slugbuild.dircache import DirCache
from slugbuild.fetch import manifest
from slugbuild.fetch.cache import discard
from slugbuild.log import RecordingLog


def modules(root: Path, files: int = 20, tag: str = "a") -> Path:
    """A node_modules-shaped directory with a few packages, a .bin link and an executable."""
    for i in range(files):
        pkg = root / "node_modules" / f"pkg{i % 4}"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / f"f{i}.js").write_text(f"module.exports = '{tag}{i}'\n")
    (root / "node_modules" / ".bin").mkdir(exist_ok=True)
    (root / "node_modules" / "pkg0" / "cli.js").write_text("#!/usr/bin/env node\n")
    (root / "node_modules" / "pkg0" / "cli.js").chmod(0o755)
    (root / "node_modules" / ".bin" / "cli").symlink_to("../pkg0/cli.js")
    return root / "node_modules"


def listing(root: Path) -> dict[str, object]:
    return {str(p.relative_to(root)): (os.readlink(p) if p.is_symlink() else
                                       p.read_bytes() if p.is_file() else "dir", p.lstat().st_mode)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def cache(tmp_path) -> DirCache:
    return DirCache(tmp_path / "cache" / "modules", RecordingLog(), "node_modules")


def test_a_stored_directory_comes_back_as_it_was(tmp_path, cache):
    source = modules(tmp_path / "app1")
    cache.save("sig-a", source)
    assert cache.restore("sig-a", tmp_path / "app2" / "node_modules")
    assert listing(tmp_path / "app2" / "node_modules") == listing(source)
    assert not cache.restore("sig-b", tmp_path / "app3" / "node_modules")
    assert not (tmp_path / "app3" / "node_modules").exists() and cache.log.texts("warn") == []


def entry_of(cache: DirCache) -> Path:
    [entry] = [p for p in cache.root.iterdir() if not p.name.startswith(".")]
    return entry


def rewrite_keeping_size_and_mtime(path: Path) -> None:
    st = path.stat()
    path.write_bytes(b"X" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize(("damage", "named"), [
    (lambda e: rewrite_keeping_size_and_mtime(e / "dir" / "pkg1" / "f1.js"), "pkg1/f1.js"),
    (lambda e: (e / "dir" / "pkg2" / "f2.js").write_text(""), "pkg2/f2.js"),
    (lambda e: (e / "dir" / "pkg3" / "planted.js").write_text("evil()\n"), "pkg3/planted.js"),
    (lambda e: (e / "dir" / "pkg1" / "f5.js").unlink(), "pkg1/f5.js"),
    (lambda e: (e / "dir" / ".bin" / "cli").unlink() or (e / "dir" / ".bin" / "cli").symlink_to("/bin"),
     ".bin/cli"),
    (lambda e: (e / "dir" / "pkg0" / "cli.js").chmod(0o644), "pkg0/cli.js"),
    (lambda e: (e / "manifest.json").write_text("[]"), "manifest.json"),
    (lambda e: manifest.write(e / "manifest.json", [], "sig-a"), ".bin"),
    (lambda e: manifest.write(e / "manifest.json", manifest.scan(e / "dir"), "sig-other"), "manifest.json"),
    (lambda e: (e / "manifest.json").unlink(), "manifest.json"),
    (lambda e: os.mkfifo(e / "dir" / "pkg1" / "pipe"), "pkg1/pipe"),
], ids=["rewritten, size and mtime restored", "truncated", "file planted", "file removed",
        "link retargeted", "mode changed", "manifest []", "manifest forged empty", "manifest of another key",
        "manifest removed", "fifo planted"])
def test_a_damaged_entry_is_discarded_with_one_warning(tmp_path, cache, damage, named):
    cache.save("sig-a", modules(tmp_path / "app1"))
    damage(entry_of(cache))
    dest = tmp_path / "app2" / "node_modules"
    assert not cache.restore("sig-a", dest)
    assert not dest.exists()
    assert cache.log.texts("warn") == [f"the cached node_modules was changed after it was stored ({named}); "
                                       "discarding it and installing again"]
    assert [p for p in cache.root.iterdir() if not p.name.startswith(".")] == []


def test_a_directory_that_cannot_be_kept_is_one_warning_not_a_failed_build(tmp_path, cache):
    source = modules(tmp_path / "app1")
    os.mkfifo(source / "pkg0" / "pipe")  # left by an install script
    cache.save("sig-a", source)
    assert cache.log.texts("warn") == ["could not keep node_modules in the cache (a file that is not a "
                                       "regular file, directory or link); the next build installs it again"]
    assert not cache.restore("sig-a", tmp_path / "app2" / "node_modules")


def test_an_entry_pruned_by_another_build_while_restored_is_a_quiet_miss(tmp_path, cache, monkeypatch):
    cache.save("sig-a", modules(tmp_path / "app1"))
    real_copytree = dircache.shutil.copytree

    def pruned_meanwhile(src, dst, **kwargs):
        discard(entry_of(cache))  # another build's prune, just now
        return real_copytree(src, dst, **kwargs)

    monkeypatch.setattr(dircache.shutil, "copytree", pruned_meanwhile)
    assert not cache.restore("sig-a", tmp_path / "app2" / "node_modules")
    assert not (tmp_path / "app2" / "node_modules").exists() and cache.log.texts("warn") == []


def test_entries_of_different_keys_live_side_by_side_and_the_oldest_go(tmp_path):
    cache = DirCache(tmp_path / "cache", RecordingLog(), "node_modules", keep=2)
    for n, key in enumerate(("a", "b", "c")):
        cache.save(key, modules(tmp_path / f"app-{key}", tag=key))
        os.utime(cache._entry(key), (1000 + n, 1000 + n))
    assert cache.restore("b", tmp_path / "b" / "node_modules")
    assert cache.restore("c", tmp_path / "c" / "node_modules")
    assert not cache.restore("a", tmp_path / "a" / "node_modules")
    assert (tmp_path / "c" / "node_modules" / "pkg0" / "f0.js").read_text() == "module.exports = 'c0'\n"


def test_saving_a_key_again_replaces_its_copy(tmp_path, cache):
    cache.save("ruby 3.1.2", modules(tmp_path / "first", tag="old"))
    cache.save("ruby 3.1.2", modules(tmp_path / "second", tag="new"))
    assert cache.restore("ruby 3.1.2", tmp_path / "app" / "node_modules")
    assert (tmp_path / "app" / "node_modules" / "pkg0" / "f0.js").read_text() == "module.exports = 'new0'\n"
    assert len([p for p in cache.root.iterdir() if not p.name.startswith(".")]) == 1


def test_a_damaged_node_modules_cache_is_installed_again_by_the_buildpack(node_app):
    node_app.write({}, **{"package-lock.json": "{}"})
    compile_app(node_app)
    [stored] = (node_app.root / "cache" / "node" / "modules").glob("*/dir/dep/installed-by")
    rewrite_keeping_size_and_mtime(stored)
    node_app.npm_log.unlink()
    (node_app.app_dir / "node_modules").rename(node_app.root / "old_modules")
    log = compile_app(node_app)
    assert "npm ci --include=dev" in node_app.npm_calls()
    warned = [w for w in log.texts("warn") if "node_modules" in w]
    assert warned == ["the cached node_modules was changed after it was stored (dep/installed-by); "
                      "discarding it and installing again"]
    assert b"X" not in (node_app.app_dir / "node_modules" / "dep" / "installed-by").read_bytes()


# -- several processes at once ----------------------------------------------------------------------------

def _build_many_times(args: tuple[int, str, str]) -> list[str]:
    """One "app" saving and restoring its node_modules in a loop; the errors it met."""
    number, shared, scratch = args
    cache = DirCache(Path(shared), RecordingLog(), "node_modules")
    app = Path(scratch) / f"app{number}"
    source = modules(app, files=60, tag=str(number))
    problems = []
    for round_ in range(6):
        dest = app / f"restored{round_}"
        try:
            restored = cache.restore(f"sig{number}", dest / "node_modules")
            if restored and listing(dest / "node_modules") != listing(source):
                problems.append("restored a copy that differs")
            cache.save(f"sig{number}", source)
        except Exception as exc:  # every failure is a finding; the assertion shows them
            problems.append(f"{type(exc).__name__}: {exc}")
    return problems + [f"warned: {w}" for w in cache.log.texts("warn")]


def test_processes_of_different_apps_share_one_cache_without_errors(tmp_path):
    """Four processes, four apps, one cache, more apps than entries kept: every restore is whole or none."""
    jobs = [(n, str(tmp_path / "shared"), str(tmp_path)) for n in range(5)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        problems = pool.map(_build_many_times, jobs)
    assert problems == [[]] * 5
    kept = [json.loads(p.read_text())["key"] for p in (tmp_path / "shared").glob("*/manifest.json")]
    assert len(kept) <= 4


def test_concurrent_builds_of_different_apps_on_one_cache_all_succeed(tmp_path):
    """Three apps, each built twice at once, cold then warm, as separate `slugbuild build` processes."""
    mirror = make_mirror(tmp_path / "mirror")
    env = {**os.environ, "SLUGBUILD_NODE_MIRROR": mirror.as_uri(), "TMPDIR": str(tmp_path)}
    for name in ("a", "b", "c"):
        app = tmp_path / f"app-{name}"
        app.mkdir()
        (app / "package.json").write_text(json.dumps({"name": name, "scripts": {"start": "node ."}}))
        (app / "package-lock.json").write_text(json.dumps({"name": name, "lockfileVersion": 3}))
    installs = []
    for round_ in ("cold", "warm"):
        builds = [subprocess.Popen(
            [sys.executable, "-m", "slugbuild", "build", str(tmp_path / f"app-{name}"), "--quiet",
             "-o", str(tmp_path / f"{name}{n}-{round_}.tgz"), "--cache-dir", str(tmp_path / "shared"),
             "--env", f"NPM_LOG={tmp_path / 'npm.log'}"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for name in ("a", "b", "c") for n in (1, 2)]
        outputs = [build.communicate(timeout=240)[0] for build in builds]
        assert [build.returncode for build in builds] == [0] * 6, outputs
        for name, n in ((name, n) for name in ("a", "b", "c") for n in (1, 2)):
            with tarfile.open(tmp_path / f"{name}{n}-{round_}.tgz") as slug:
                assert "./app/node_modules/dep/installed-by" in slug.getnames()
        installs.append((tmp_path / "npm.log").read_text().count("npm ci"))
    assert installs[0] == installs[1] > 0  # the warm round restored every app's node_modules instead

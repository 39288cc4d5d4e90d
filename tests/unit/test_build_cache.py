"""Whole builds with a runtime installed through the fetcher: packed while compile goes on, the same slug
cold and warm, and the cache kept under --cache-limit without touching what a running build uses."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from slugbuild import build, config, leases
from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo
from slugbuild.log import RecordingLog

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_SH)
print("holding", flush=True)
sys.stdin.read()
"""


def runtime_tarball(path: Path, seed: bytes) -> tuple[str, str]:
    """A runtime archive (one top directory, a binary big enough to be a cached member); URL and sha256."""
    data = hashlib.shake_256(seed).digest(1_500_000)
    with tarfile.open(path, "w:gz") as tar:
        for name, body in (("rt/bin/run", data), ("rt/lib/x.txt", b"x" * 1000)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class RuntimeBuildpack:
    """Installs the runtime at `url` into .heroku/rt, as the Node.js buildpack installs node."""

    url: str
    sha256: str
    name: str = "rt"

    def detect(self, app_dir: Path) -> Detection | None:
        return Detection("Runtime")

    def compile(self, ctx: BuildContext) -> None:
        ctx.fetcher.install(self.url, self.sha256, ctx.app_dir / ".heroku" / "rt", strip_components=1)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        return ReleaseInfo({"web": ".heroku/rt/bin/run"})


def run_build(tmp_path: Path, bp: RuntimeBuildpack, out: str,
              **flags: str) -> tuple[build.BuildReport, RecordingLog]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "main.txt").write_text("the app\n")
    settings = config.build_settings(source=str(src), output=str(tmp_path / out), buildpacks=None, stack=None,
                                     cache_dir=str(tmp_path / "cache"), clear_cache=False, env=None,
                                     env_file=None, commit=None, max_size=None, offline=False, **flags)
    log = RecordingLog()
    return build.build(settings, log, [bp]), log


def entries(tmp_path: Path) -> dict[str, list[str]]:
    cache = tmp_path / "cache"
    return {kind: sorted(p.name for p in (cache / kind).iterdir() if not p.name.startswith("."))
            for kind in ("slug-members", "unpacked")}


def test_a_cold_and_a_warm_build_give_the_same_slug_and_the_runtime_is_compressed_once(tmp_path):
    bp = RuntimeBuildpack(*runtime_tarball(tmp_path / "rt.tgz", b"one"))
    cold, cold_log = run_build(tmp_path, bp, "cold.tgz")
    warm, warm_log = run_build(tmp_path, bp, "warm.tgz")
    assert cold.checksum == warm.checksum
    assert (tmp_path / "cold.tgz").read_bytes() == (tmp_path / "warm.tgz").read_bytes()
    assert "Done: " in cold_log.texts("info")[-1] and len(entries(tmp_path)["slug-members"]) == 1
    assert warm_log.texts("info")[-1].endswith("(compressed earlier: .heroku/rt)")
    with tarfile.open(tmp_path / "warm.tgz") as tar:
        run = tar.extractfile("./app/.heroku/rt/bin/run")
        assert run is not None and run.read() == hashlib.shake_256(b"one").digest(1_500_000)


def test_the_cache_is_pruned_to_its_limit_least_recently_used_first(tmp_path):
    old = RuntimeBuildpack(*runtime_tarball(tmp_path / "old.tgz", b"old"))
    new = RuntimeBuildpack(*runtime_tarball(tmp_path / "new.tgz", b"new"))
    run_build(tmp_path, old, "old-slug.tgz")
    before = entries(tmp_path)
    _, log = run_build(tmp_path, new, "new-slug.tgz", cache_limit_flag="1")
    after = entries(tmp_path)
    # This build's runtime is still in use while it prunes; its member, copied into the slug, is not.
    assert after["slug-members"] == [] and len(after["unpacked"]) == 1
    assert after["unpacked"][0] not in before["unpacked"]
    removed = [line for line in log.texts("info") if line.startswith("Cache: removed the 3 least recently")]
    assert len(removed) == 1


def test_pruning_never_removes_a_runtime_another_running_build_uses(tmp_path):
    old = RuntimeBuildpack(*runtime_tarball(tmp_path / "old.tgz", b"old"))
    new = RuntimeBuildpack(*runtime_tarball(tmp_path / "new.tgz", b"new"))
    run_build(tmp_path, old, "old-slug.tgz")
    in_use = tmp_path / "cache" / "unpacked" / entries(tmp_path)["unpacked"][0]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(in_use / leases.LEASE_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        run_build(tmp_path, new, "new-slug.tgz", cache_limit_flag="1")
        assert in_use.is_dir() and (in_use / "tree" / "bin" / "run").stat().st_size == 1_500_000
    finally:
        holder.communicate("")
    assert in_use.name in entries(tmp_path)["unpacked"]


def test_the_cache_limit_is_flag_then_environment_then_default_and_a_bad_one_is_one_line(monkeypatch):
    monkeypatch.setenv("SLUGBUILD_CACHE_LIMIT", "lots")
    with pytest.raises(config.UsageError) as err:
        config.cache_limit(None)
    assert str(err.value) == ("SLUGBUILD_CACHE_LIMIT= 'lots' is not a size above zero: use bytes or a number "
                              "with K, M or G (500M, 1G)")
    assert config.cache_limit("500M") == 500 << 20
    monkeypatch.setenv("SLUGBUILD_CACHE_LIMIT", "3G")
    assert config.cache_limit(None) == 3 << 30
    monkeypatch.delenv("SLUGBUILD_CACHE_LIMIT")
    assert config.cache_limit(None) == config.DEFAULT_CACHE_LIMIT_B == 2 << 30

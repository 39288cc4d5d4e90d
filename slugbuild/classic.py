"""Classic Heroku buildpacks (bin/detect, bin/compile, bin/release) beside the built-in ones.

A classic buildpack comes from a directory, a git URL (`#ref` optional; cloned once into the cache) or a
`.tgz` URL, and always runs from a private copy, so nothing it writes lands in the user's tree or cache.
A clone is kept in the cache like node_modules (slugbuild.dircache): sealed with a manifest of its content
when stored, and the private copy made from it is checked against that manifest before it runs.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo
from slugbuild.dircache import DirCache
from slugbuild.errors import BuildFailed, CommandFailed, DownloadFailed
from slugbuild.fetch import Fetcher
from slugbuild.log import BuildLog

TARBALL_SUFFIXES = (".tgz", ".tar.gz")
URL_SCHEMES = ("http", "https", "file", "git", "ssh")
FAILURE_LINES = 3
CLONES_KEPT = 16  # git buildpacks kept in one cache, the most recently used
# Variables bash sets for itself; they are not part of what an `export` file exports.
SHELL_OWN_VARS = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


class BuildpackUnusable(BuildFailed):
    """A classic buildpack that cannot run: missing scripts, unreadable release output."""


def is_classic_spec(spec: str) -> bool:
    """True when a `--buildpack` value is a path (`./bp`, `/srv/bp`, `~/bp`) or a URL, never a
    registered name (`node`, `heroku/nodejs`), so a directory named like a buildpack cannot shadow it."""
    return spec.startswith(("/", "./", "../", "~", "git@")) or "://" in spec or spec in (".", "..")


def _safe_label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return label[:40] or "buildpack"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ClassicBuildpack:
    """The Buildpack protocol over a classic buildpack directory, run from a private copy."""

    def __init__(self, source: Path | None, spec: str, scratch_dir: Path | None = None) -> None:
        """Copy `source` to a private `home`; with `source` None, the caller fills `home` itself."""
        self.spec = spec
        base = spec.split("#", 1)[0].rstrip("/").removesuffix(".git")
        self.name = f"classic-{_safe_label(Path(base).name)}-{_key(spec)}"  # also its cache directory
        # In the build's work directory when there is one, so it goes with it even after a SIGKILL.
        private = Path(tempfile.mkdtemp(prefix="slugbuild-buildpack-", dir=scratch_dir))
        weakref.finalize(self, shutil.rmtree, private, True)
        self.home = private / "buildpack"
        if source is not None:
            shutil.copytree(source, self.home, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        self.display_name = self.name

    def _script(self, name: str) -> Path:
        return self.home / "bin" / name

    def detect(self, app_dir: Path) -> Detection | None:
        script = self._script("detect")
        if not script.is_file():
            return Detection(self.spec, f"buildpack {self.spec} has no bin/detect; a classic buildpack needs "
                                        "bin/detect and bin/compile")
        done = _run_script(self.spec, script, [app_dir], cwd=app_dir)
        if done.returncode != 0:
            why = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
            return Detection(self.spec, f"App not compatible with buildpack: {self.spec}"
                                        + (f" ({why})" if why else ""))
        self.display_name = done.stdout.strip().splitlines()[0] if done.stdout.strip() else self.name
        return Detection(self.display_name)

    def compile(self, ctx: BuildContext) -> None:
        script = self._script("compile")
        if not script.is_file():
            raise BuildpackUnusable(f"buildpack {self.spec} has no bin/compile; a classic buildpack needs "
                                    "bin/detect and bin/compile")
        if not os.access(script, os.X_OK):
            raise BuildpackUnusable(f"buildpack {self.spec}: bin/compile is not executable; "
                                    "run chmod +x bin/compile in the buildpack")
        try:
            ctx.run([script, ctx.app_dir, ctx.cache_dir, ctx.env_dir], cwd=ctx.app_dir,
                    env={"STACK": ctx.stack})
        except CommandFailed as exc:
            raise _compile_failed(self.spec, exc) from None
        exported = self.home / "export"
        if exported.is_file():
            folded = _env_after_sourcing(exported, ctx.env, ctx.app_dir)
            ctx.env.clear()
            ctx.env.update(folded)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        script = self._script("release")
        if not script.is_file():
            return ReleaseInfo(description=self.display_name)
        done = _run_script(self.spec, script, [ctx.app_dir], cwd=ctx.app_dir, env=ctx.env)
        if done.returncode != 0:
            last = _last_lines(done.stderr.splitlines() or done.stdout.splitlines())
            raise BuildFailed(f"buildpack {self.spec}: bin/release failed with exit status {done.returncode}"
                              + (f" ({last})" if last else "") + "; fix the buildpack's bin/release")
        return _release_info(self.spec, done.stdout, self.display_name)


def _run_script(spec: str, script: Path, args: list[Path], *, cwd: Path,
                env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run bin/detect or bin/release, capturing what it prints."""
    try:
        return captured([script, *args], cwd=cwd, env=env)
    except PermissionError:
        raise BuildpackUnusable(f"buildpack {spec}: bin/{script.name} is not executable; "
                                f"run chmod +x bin/{script.name} in the buildpack") from None


def captured(argv: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run argv to its end and return what it printed on stdout and stderr.

    The output goes to temporary files, not pipes: a background process it started (`cmd &`) would hold
    a pipe open, and reading to its end would wait for that process too, possibly for ever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                              check=False)
        texts = []
        for stream in (out, err):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
    return subprocess.CompletedProcess(done.args, done.returncode, *texts)


def _last_lines(lines: list[str]) -> str:
    return " | ".join([line.strip() for line in lines if line.strip()][-FAILURE_LINES:])


def _compile_failed(spec: str, exc: CommandFailed) -> BuildFailed:
    last = _last_lines(exc.tail)
    return BuildFailed(f"buildpack {spec}: bin/compile failed with exit status {exc.status}"
                       + (f"; its last output: {last}" if last else ""))


def _env_after_sourcing(export: Path, env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """The environment after `source export` in bash, as every later buildpack must see it."""
    env_program = shutil.which("env") or "/usr/bin/env"  # the export may change PATH before we ask
    script = '. "$1" >&2 && exec "$2" -0'
    done = captured(["bash", "-c", script, "export", export, env_program], cwd=cwd, env=dict(env))
    if done.returncode != 0:
        why = _last_lines(done.stderr.splitlines())
        raise BuildpackUnusable(f"the buildpack's export file failed in bash with exit status "
                                f"{done.returncode} ({why}); fix its export")
    result: dict[str, str] = {}
    for item in done.stdout.split("\0"):
        key, sep, value = item.partition("=")
        if sep and (key not in SHELL_OWN_VARS or key in env):
            result[key] = value
    return result


def _release_info(spec: str, text: str, display_name: str) -> ReleaseInfo:
    """default_process_types and config_vars from bin/release's YAML."""
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, RecursionError) as exc:
        problem = str(exc).splitlines()[0] if isinstance(exc, yaml.YAMLError) else "nested too deeply"
        raise BuildpackUnusable(f"buildpack {spec}: bin/release printed unreadable YAML ({problem}); it must "
                                "print a mapping with default_process_types") from None
    if not isinstance(data, dict):
        raise BuildpackUnusable(f"buildpack {spec}: bin/release printed unreadable YAML (a "
                                f"{type(data).__name__}, not a mapping); it must print a mapping with "
                                "default_process_types")
    procs = _string_map(spec, data, "default_process_types")
    config = _string_map(spec, data, "config_vars")
    return ReleaseInfo(process_types=procs, config_vars=config, description=display_name)


def _string_map(spec: str, data: dict[object, object], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    scalar = (str, int, float, bool)
    if not isinstance(value, dict) or not all(isinstance(v, scalar) for v in value.values()):
        raise BuildpackUnusable(f"buildpack {spec}: bin/release printed unreadable YAML ({key} must map "
                                "names to strings)")
    return {str(k): str(v) for k, v in value.items()}


# -- where a classic buildpack comes from ------------------------------------------------------------

@dataclass(frozen=True)
class Sources:
    """What resolving a classic buildpack needs from the build: the cache, the log, --offline."""

    cache_dir: Path
    log: BuildLog
    offline: bool = False
    scratch_dir: Path | None = None  # where private copies go (the build's work directory)

    def resolve(self, spec: str) -> ClassicBuildpack:
        return resolve(spec, self.cache_dir, self.log, offline=self.offline, scratch_dir=self.scratch_dir)


def resolve(spec: str, cache_dir: Path, log: BuildLog, *, offline: bool = False,
            scratch_dir: Path | None = None) -> ClassicBuildpack:
    """The classic buildpack a directory, git URL (`#ref`) or `.tgz` URL names; downloads are cached."""
    local = Path(spec).expanduser()
    if local.is_dir():
        return ClassicBuildpack(local.resolve(), spec, scratch_dir)
    url, _, ref = spec.partition("#")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("http", "https") and parsed.path.endswith(TARBALL_SUFFIXES):
        return ClassicBuildpack(_from_tarball(url, cache_dir, log, offline), spec, scratch_dir)
    if parsed.scheme in URL_SCHEMES or spec.startswith("git@"):
        return _from_git(spec, url, ref, Sources(cache_dir, log, offline, scratch_dir))
    raise BuildpackUnusable(f"buildpack {spec}: no such directory, and not a git or .tgz URL; give a "
                            "buildpack name, a directory or a URL")


def _buildpack_root(unpacked: Path) -> Path:
    """Tarballs often wrap the buildpack in one top directory; bin/ marks the real root."""
    if (unpacked / "bin").is_dir():
        return unpacked
    children = [p for p in unpacked.iterdir() if p.is_dir()]
    if len(children) == 1 and (children[0] / "bin").is_dir():
        return children[0]
    return unpacked


def _from_tarball(url: str, cache_dir: Path, log: BuildLog, offline: bool) -> Path:
    log.step(f"Fetching buildpack {url}")
    # Unpacked once into the cache like a runtime, so its manifest is checked before every reuse.
    tree = Fetcher(cache_dir, log, offline=offline).tree(url, None, label="buildpack")
    return _buildpack_root(tree.path)


def _from_git(spec: str, url: str, ref: str, sources: Sources) -> ClassicBuildpack:
    """The buildpack from its clone in the cache, checked byte for byte; cloned (again) when there is no
    intact one."""
    log, key = sources.log, f"{url}#{ref}"
    clones = DirCache(sources.cache_dir / "buildpacks" / "git", log, f"buildpack {url}", CLONES_KEPT,
                      on_damage=functools.partial(_clone_damaged, url, ref, sources))
    buildpack = ClassicBuildpack(None, spec, sources.scratch_dir)
    if clones.restore(key, buildpack.home):
        return buildpack
    if sources.offline:
        raise DownloadFailed(f"--offline: buildpack {url} has not been cloned into the cache "
                             f"{sources.cache_dir}; run the build once online or drop --offline")
    log.step(f"Cloning buildpack {url}" + (f" at {ref}" if ref else ""))
    _git(["clone", "--quiet", "--", url, str(buildpack.home)], url, ref)
    if ref:
        _git(["-C", str(buildpack.home), "checkout", "--quiet", ref, "--"], url, ref)
    shutil.rmtree(buildpack.home / ".git")  # its history never runs; the files checked out are the entry
    clones.save(key, buildpack.home)
    return buildpack


def _clone_damaged(url: str, ref: str, sources: Sources, changed: str) -> None:
    what = f"{url}#{ref}" if ref else url
    if sources.offline:
        raise DownloadFailed(f"--offline: the cached clone of buildpack {what} was changed after it was "
                             f"cloned ({changed}) and has been discarded; run the build once online to clone "
                             "it again")
    sources.log.warn(f"the cached clone of buildpack {what} was changed after it was cloned ({changed}); "
                     "cloning it again")


def _git(args: list[str], url: str, ref: str) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password nobody will type
    try:
        done = captured(["git", *args], env=env)
    except FileNotFoundError:
        raise DownloadFailed(f"buildpack {url} is a git URL but git is not installed; install git") from None
    if done.returncode != 0:
        what = f"check out {ref!r} of" if ref and "checkout" in args else "clone"
        why = _last_lines(done.stderr.splitlines())
        raise DownloadFailed(f"could not {what} buildpack {url} ({why}); check the URL and ref")

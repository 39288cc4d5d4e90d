"""The buildpack contract: what a buildpack is handed (BuildContext) and what it returns."""

from __future__ import annotations

import os
import platform
import selectors
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from slugbuild.errors import BuildFailed, CommandFailed, SlugbuildError, UsageError
from slugbuild.log import BuildLog, TextLog

if TYPE_CHECKING:
    from slugbuild.fetch import Fetcher

ENTRY_POINT_GROUP = "slugbuild.buildpacks"
BUILTIN_ORDER = ("ruby", "node", "python", "go")  # Heroku's detection order
FAILURE_TAIL_LINES = 200  # failure explainers must see the line that tells; npm prints its help after it
OUTPUT_LINGER_S = 1.0  # after a program exits, how long we still read what is left in its pipe
POLL_S = 0.2
READ_BYTES = 65536
SILENCE_NOTICE_S = 60.0  # a program quiet for this long gets a line saying it is still running


# Debian's names for the machine types Heroku publishes binaries for, as used in their URLs.
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


_warned: set[str] = set()  # each broken plugin is reported once per run, however often we look them up


class PluginBroken(SlugbuildError):
    """A third-party buildpack plugin cannot be loaded or is not a buildpack."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what = what
        self.fix = fix


@dataclass(frozen=True)
class Detection:
    """A buildpack's answer to detect: the display name (`Node.js`), or why the app is broken."""

    name: str
    error: str | None = None


@dataclass(frozen=True)
class Runtime:
    """One runtime a buildpack installed: what was asked, where the request came from, what was used."""

    name: str
    requested: str | None
    source: str
    version: str
    url: str
    sha256: str
    verified: bool = True  # False when upstream publishes no checksum and the first download was pinned

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name, "requested": self.requested, "source": self.source,
            "version": self.version, "url": self.url, "sha256": self.sha256,
        }
        if not self.verified:
            data["verified"] = False
        return data


@dataclass(frozen=True)
class ReleaseInfo:
    """Default process types and config var defaults a buildpack offers; the Procfile wins over these."""

    process_types: Mapping[str, str] = field(default_factory=dict)
    config_vars: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None  # buildpack_provided_description, e.g. "Ruby/Rack"


@dataclass
class BuildContext:
    """Everything a buildpack may touch. It writes only inside app_dir and cache_dir.

    `env` is the build environment shared by every buildpack of one build: what an earlier buildpack
    exports (PATH to its runtime, say) is what a later one runs with. `config` holds the app's config vars,
    also present one file per variable in `env_dir` (Heroku's ENV_DIR).
    """

    app_dir: Path
    cache_dir: Path
    env_dir: Path
    env: dict[str, str]
    config: Mapping[str, str]
    stack: str
    fetcher: Fetcher
    log: BuildLog
    offline: bool = False
    runtimes: list[Runtime] = field(default_factory=list)
    pins: Mapping[str, Runtime] = field(default_factory=dict)  # `verify`: the runtimes a report names

    def for_buildpack(self, name: str) -> BuildContext:
        """The same build as seen by one buildpack: its own cache directory, the shared env and runtimes."""
        cache = self.cache_dir / name
        cache.mkdir(parents=True, exist_ok=True)
        return BuildContext(self.app_dir, cache, self.env_dir, self.env, self.config, self.stack,
                            self.fetcher, self.log, self.offline, self.runtimes, self.pins)

    def pinned(self, name: str) -> Runtime | None:
        """The exact runtime `name` must be (version, URL, sha256) when rebuilding a slug, else None."""
        return self.pins.get(name)

    def export(self, key: str, value: str) -> None:
        """Set a variable for this buildpack's later steps and every later buildpack."""
        self.env[key] = value

    def prepend_path(self, directory: Path | str) -> None:
        """Put `directory` first on PATH for later steps and later buildpacks."""
        self.env["PATH"] = f"{directory}{os.pathsep}{self.env.get('PATH', '')}"

    def write_profile(self, name: str, text: str) -> Path:
        """Write `.profile.d/<name>` in the app, sourced by every dyno at start; return its path."""
        return write_profile_script(self.app_dir, name, text)

    def record_runtime(self, runtime: Runtime) -> None:
        """Add `runtime` to the build report's runtimes."""
        self.runtimes.append(runtime)

    def run(self, argv: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
            env: Mapping[str, str] | None = None, echo: bool = True,
            hide: Callable[[str], bool] | None = None) -> None:
        """Run a program in the build environment, streaming its output indented (but the lines `hide`
        picks: they still count for the failure's tail); raise CommandFailed."""
        args = [os.fspath(a) for a in argv]
        tail: deque[str] = deque(maxlen=FAILURE_TAIL_LINES)
        merged = {**self.env, **(env or {})}
        try:
            proc = subprocess.Popen(args, cwd=cwd or self.app_dir, env=merged, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise CommandFailed(args, 127, [f"{args[0]}: command not found"]) from None
        with proc:
            for line in output_lines(proc, on_silence=lambda s: self.log.info(
                    f"still running `{' '.join(args)}` ({s:.0f} s)")):
                tail.append(line)
                if echo and not (hide and hide(line)):
                    self.log.child(line)
        if proc.returncode != 0:
            raise CommandFailed(args, proc.returncode, list(tail))


def write_profile_script(app_dir: Path, name: str, text: str) -> Path:
    """Write `.profile.d/<name>` (a script every dyno sources at start, in name order) and return it.

    The app's own `.profile.d` may be a link or a file, which the build must not write through."""
    directory = app_dir / ".profile.d"
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise BuildFailed("'.profile.d' in the app is a link or a file, but the build writes scripts into "
                          "it; remove '.profile.d' from the app")
    directory.mkdir(exist_ok=True)
    path = directory / name
    if path.is_symlink():
        path.unlink()  # replace the link itself, never the file it points at
    path.write_text(text)
    return path


def host_arch(what: str = "runtime") -> str:
    """Debian's name for this machine's architecture (amd64, arm64), as in Heroku's binary URLs."""
    machine = platform.machine().lower()
    if machine not in _ARCHES:
        raise BuildFailed(f"no {what} binaries for machine type {machine!r}; build on amd64 or arm64")
    return _ARCHES[machine]


def output_lines(proc: subprocess.Popen[bytes], linger_s: float = OUTPUT_LINGER_S,
                 on_silence: Callable[[float], None] | None = None) -> Iterator[str]:
    """The lines a program prints on its stdout pipe, until it exits, then for at most linger_s more.

    Reading to end of file is not enough: a background process it started (a daemon, `cmd &`) inherits
    the pipe and may hold it open long after the program itself is done. Each time it has printed nothing
    for SILENCE_NOTICE_S, `on_silence` gets the seconds since it started, so a long quiet step is not
    mistaken for a hang.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = b""
    started = heard = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            if deadline is None and proc.poll() is not None:
                deadline = time.monotonic() + linger_s
            wait_s = POLL_S if deadline is None else max(deadline - time.monotonic(), 0)
            if not selector.select(wait_s):
                if on_silence and deadline is None and time.monotonic() - heard >= SILENCE_NOTICE_S:
                    heard = time.monotonic()
                    on_silence(heard - started)
                continue
            heard = time.monotonic()
            chunk = os.read(fd, READ_BYTES)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            yield from (_decoded(line) for line in lines)
    if pending:
        yield _decoded(pending)


def _decoded(line: bytes) -> str:
    return line.decode(errors="replace").rstrip("\r")


@runtime_checkable
class Buildpack(Protocol):
    """What a buildpack offers: detect (cheap, no writes), compile, release."""

    name: str  # used by --buildpack

    def detect(self, app_dir: Path) -> Detection | None: ...  # cheap: no network, no writes

    def compile(self, ctx: BuildContext) -> None: ...

    def release(self, ctx: BuildContext) -> ReleaseInfo: ...


def registered(log: BuildLog | None = None) -> dict[str, Buildpack]:
    """Every buildpack registered under the entry-point group, by name and by alias (`heroku/nodejs`).

    A plugin that cannot be loaded is skipped with one warning naming its package: a broken third-party
    package must not stop builds that the other buildpacks can do (`--buildpack NAME` still names it).
    """
    found, broken = _load_plugins()
    for problem in broken.values():
        if problem.what not in _warned:
            _warned.add(problem.what)
            (log or TextLog()).warn(f"{problem.what}; skipped it: {problem.fix}")
    return found


def _load_plugins() -> tuple[dict[str, Buildpack], dict[str, PluginBroken]]:
    """The buildpacks that load, by name and alias, and the problem of each entry point that does not."""
    found: dict[str, Buildpack] = {}
    broken: dict[str, PluginBroken] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            buildpack = _load(ep)
        except PluginBroken as exc:
            broken.setdefault(ep.name, exc)
            continue
        _claim(found, ep.name, buildpack)
    return found, broken


def name_index(available: Iterable[Buildpack]) -> dict[str, Buildpack]:
    """Each buildpack by its name and by its aliases; the first to claim a name keeps it."""
    found: dict[str, Buildpack] = {}
    for buildpack in available:
        _claim(found, buildpack.name, buildpack)
    return found


def _claim(found: dict[str, Buildpack], name: str, buildpack: Buildpack) -> None:
    for key in (name, *getattr(buildpack, "aliases", ())):
        found.setdefault(key, buildpack)


def unknown_buildpack(name: str, available: Iterable[Buildpack]) -> UsageError:
    """The error for a `--buildpack` value that names none of `available`, listing their names."""
    known = ", ".join(sorted({bp.name for bp in available}))
    return UsageError(f"unknown buildpack {name!r}: use one of {known}, a directory, or a buildpack URL")


def _load(ep: EntryPoint) -> Buildpack:
    package = ep.dist.name if ep.dist is not None else "the package that provides it"
    where = f"buildpack plugin {ep.name!r} ({ENTRY_POINT_GROUP} entry point {ep.value})"
    fix = f"reinstall or uninstall {package} (pip uninstall {package})" if ep.dist else f"remove {package}"
    try:
        buildpack = ep.load()()
    except Exception as exc:  # third-party code: any failure to import or construct it is the plugin's
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise PluginBroken(f"{where} failed to load ({why})", fix) from None
    if not isinstance(buildpack, Buildpack):
        raise PluginBroken(f"{where} is not a buildpack (it needs name, detect, compile and release)", fix)
    return buildpack


def detection_order() -> list[Buildpack]:
    """Built-ins in Heroku's order (Ruby, Node.js, Python, Go), then third-party plugins by name."""
    by_name = registered()
    unique = {bp.name: bp for bp in by_name.values()}
    builtins = [unique[n] for n in BUILTIN_ORDER if n in unique]
    plugins = [unique[n] for n in sorted(unique) if n not in BUILTIN_ORDER]
    return builtins + plugins


def by_name(name: str) -> Buildpack:
    """The registered buildpack called `name` (or an alias), or a UsageError listing the known ones."""
    found, broken = _load_plugins()
    if name in found:
        return found[name]
    if name in broken:
        raise UsageError(str(broken[name]))
    raise unknown_buildpack(name, found.values())

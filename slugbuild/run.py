"""Boot a slug locally the way a dyno does: unpack, HOME and cwd at the app, PORT, DYNO, config vars,
`.profile.d/*.sh` sourced in order, then the process's command; stop it and every child at the end."""

from __future__ import annotations

import contextlib
import http.client
import os
import posixpath
import re
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slugbuild.errors import DownloadFailed, SlugbuildError, UsageError
from slugbuild.fetch import extract
from slugbuild.log import BuildLog

STACK_PATH = "/usr/local/bin:/usr/bin:/bin"  # the only PATH a booted dyno starts with
STOP_GRACE_S = 5.0  # Heroku waits 30 s between SIGTERM and SIGKILL; locally a short wait is kinder
POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
TAIL_LINES = 20
ANSWER_SHOWN_CHARS = 300
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SHELL_SAFE = re.compile(r"^[\w@%+=:,./$-]+$", re.ASCII)  # words the shell reads as they are

# Sourced by bash before the command, as a dyno does: .profile.d in glob (byte) order, then ~/.profile.
# The command is evaluated in the same shell, so variables a script sets without `export` still apply.
_STARTUP = """\
for f in "$HOME"/.profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; unset f
if [ -r "$HOME/.profile" ]; then . "$HOME/.profile"; fi
eval "$1"
"""


class BootFailed(SlugbuildError):
    """The process did not answer HTTP: it exited early, never bound its port, or timed out."""

    def __init__(self, message: str, output: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.output = list(output)  # its last lines, shown as lines above the one-line error


@dataclass(frozen=True)
class Answer:
    """What a booted process answered over HTTP."""

    status: int
    body: str


class Dyno(subprocess.Popen):
    """A booted process. With capture, its output is drained by a thread and its last lines are kept."""

    tail: deque[str]
    drainer: threading.Thread | None = None

    def start_draining(self, echo: bool) -> None:
        """Read the process's output in a daemon thread, keeping its last lines."""
        self.tail = deque(maxlen=TAIL_LINES)
        self.drainer = threading.Thread(target=self._drain, args=(echo,), daemon=True)
        self.drainer.start()

    def _drain(self, echo: bool) -> None:
        assert self.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # the pipe closed under us at stop()
            for raw in self.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.tail.append(line)
                if echo:
                    print(line, flush=True)

    def last_output(self, wait_s: float = 1.0) -> list[str]:
        """The last lines it printed (empty when its output was not captured)."""
        if self.drainer is None:
            return []
        self.drainer.join(wait_s)  # lines written just before exit may still be in the pipe
        return list(self.tail)


def unpack(slug: Path, dest: Path) -> Path:
    """Safely extract slug.tgz into dest; return dest/"app", the app directory.

    Symlinks to /app/... (where the app lives on a dyno) are made relative to the unpacked app; any other
    member that would land or point outside it is refused.
    """
    slug, app_dir = Path(slug), Path(dest) / "app"
    try:
        # members are ./app/...; the app dir is dest/app
        extract(slug, app_dir, strip_components=1, relink=_app_relative)
    except (DownloadFailed, tarfile.TarError, OSError) as exc:
        raise SlugbuildError(f"{slug} is not a usable slug ({exc}); build it again") from None
    return app_dir


def _app_relative(name: str, linkname: str) -> str:
    """`linkname` as seen from member `name` (./app/...), relative when it points at /app on a dyno."""
    target = posixpath.normpath(linkname)
    if not linkname.startswith("/") or not (target == "/app" or target.startswith("/app/")):
        return linkname
    return posixpath.relpath(target, posixpath.dirname(posixpath.normpath("/" + name)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dyno_env(app_dir: Path, *, port: int, config: Mapping[str, str] | None,
             process_type: str) -> dict[str, str]:
    """The environment a dyno starts with: the stack's PATH, then config vars, then what the platform sets."""
    env = {"PATH": STACK_PATH, **(config or {})}
    env.update(HOME=str(app_dir), PORT=str(port), DYNO=f"{process_type}.1")
    return env


@contextlib.contextmanager
def booted(app_dir: Path, command: str, *, port: int, config: Mapping[str, str] | None = None,
           process_type: str = "web", capture: bool = True, echo: bool = False,
           stop_grace_s: float = STOP_GRACE_S) -> Iterator[Dyno]:
    """Start `command` as a dyno in app_dir; on leaving, stop it and its whole process group.

    With capture (the default) stdin is closed and output is kept (`Dyno.last_output`), echoed when asked;
    without it the process shares this terminal's stdin, stdout and stderr.
    """
    app_dir = Path(app_dir).resolve()
    env = dyno_env(app_dir, port=port, config=config, process_type=process_type)
    streams = ({"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
               if capture else {})
    # A session of its own makes the process group ours to signal, children included.
    proc = Dyno(["bash", "-c", _STARTUP, f"{process_type}.1", command], cwd=app_dir, env=env,
                start_new_session=True, **streams)
    if capture:
        proc.start_draining(echo)
    try:
        yield proc
    finally:
        stop(proc, stop_grace_s)


def stop(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after grace_s, and reap the leader."""
    pgid = proc.pid
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGTERM)
        _wait_for_group(proc, grace_s)
        _signal_group(pgid, signal.SIGKILL)
        _wait_for_group(proc, grace_s)  # SIGKILL lands asynchronously: return only once the group is gone
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    drainer = proc.drainer if isinstance(proc, Dyno) else None
    if drainer is not None:
        drainer.join(grace_s)
    # Closing a pipe blocks while another thread is still reading it, and a process that left the group
    # (setsid) may hold it open for ever: then the daemon drainer keeps it until that process ends.
    if proc.stdout is not None and (drainer is None or not drainer.is_alive()):
        proc.stdout.close()


def _wait_for_group(proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        _reap(proc, POLL_S)


def forward_signal(proc: subprocess.Popen, signum: int) -> None:
    """Pass a signal on to the process's whole group, as a dyno manager does."""
    _signal_group(proc.pid, signum)


def _reap(proc: subprocess.Popen, timeout_s: float) -> None:
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return
    time.sleep(POLL_S)  # the leader is gone; give orphaned children a moment before checking again


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group is running (zombies waiting to be reaped do not count)."""
    if not Path("/proc/self/stat").is_file():  # no procfs: ask the kernel, which counts zombies too
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def probe(port: int, path: str = "/", timeout_s: float = PROBE_TIMEOUT_S) -> Answer:
    """One HTTP GET to 127.0.0.1:port; raises OSError or http.client.HTTPException when it gets no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return Answer(response.status, response.read().decode(errors="replace"))
    finally:
        conn.close()


def wait_for_answer(port: int, proc: subprocess.Popen, timeout_s: float, path: str = "/") -> Answer:
    """Poll until the process answers HTTP on its port; raise BootFailed saying why it did not."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception = ConnectionRefusedError()
    while True:
        if proc.poll() is not None:
            raise _exited_early(proc, port)
        try:
            return probe(port, path, min(PROBE_TIMEOUT_S, max(deadline - time.monotonic(), POLL_S)))
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise _timed_out(port, timeout_s, last_error)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=POLL_S)


def wait_for_http(port: int, proc: subprocess.Popen, timeout_s: float, path: str = "/") -> str:
    """Poll http://127.0.0.1:port/path until it answers; return the body, or raise BootFailed."""
    return wait_for_answer(port, proc, timeout_s, path).body


def _exited_early(proc: subprocess.Popen, port: int) -> BootFailed:
    status = proc.returncode
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    lines = [line for line in (proc.last_output() if isinstance(proc, Dyno) else []) if line.strip()]
    said = "its last output is above" if lines else "it printed nothing"
    return BootFailed(f"the process {how} before answering HTTP on port {port}; {said}", lines)


def _timed_out(port: int, timeout_s: float, last_error: Exception) -> BootFailed:
    if isinstance(last_error, ConnectionRefusedError):
        return BootFailed(f"the process never bound port {port} within {timeout_s:g} s; "
                          "make it listen on $PORT")
    return BootFailed(f"timed out after {timeout_s:g} s: port {port} accepted connections but gave no HTTP "
                      f"answer ({type(last_error).__name__}: {last_error or 'no reply'})")


# -- `slugbuild run`: one process of a slug, attached to this terminal, or a boot check --------------

@dataclass(frozen=True)
class Process:
    """What to run: a process type and its command (a one-off `-- COMMAND` is type `run`, as on Heroku)."""

    type: str
    command: str


def pick_process(process_types: Mapping[str, str], process_type: str | None, command: Sequence[str],
                 where: str) -> Process:
    """The process to start: the command given, else TYPE (default web) from the slug's process types."""
    if command:
        return Process("run", command_line(command))
    wanted = process_type or "web"
    if wanted not in process_types:
        known = ", ".join(sorted(process_types)) or "none"
        raise UsageError(f"process type {wanted!r} is not in {where} (it has: {known}); pick one of those "
                         "or give -- COMMAND")
    return Process(wanted, process_types[wanted])


def command_line(words: Sequence[str]) -> str:
    """The shell command line `-- COMMAND ...` stands for. One word is a command line as it is
    (`-- 'rake db:migrate && rake seed'`, as `heroku run` takes it). Of several, a word holding anything
    but letters, digits, `$` and `_@%+=:,./-` is double-quoted, so `-- node -e 'console.log(1)'` keeps its
    argument and `-- sh -c 'exit 7'` exits 7, while `$VAR` still expands on the dyno as on Heroku."""
    if len(words) == 1:
        return words[0]
    return " ".join(w if SHELL_SAFE.match(w) else _double_quoted(w) for w in words)


def _double_quoted(word: str) -> str:
    return '"' + re.sub(r'([\\"`])', r"\\\1", word) + '"'


def exit_status(returncode: int) -> int:
    """A shell's view of how a process ended: its status, or 128 + the signal that killed it."""
    return 128 - returncode if returncode < 0 else returncode


class Forwarder:
    """A signal handler that passes SIGINT, SIGTERM and SIGHUP on to a process group; a second one kills it,
    so a process that ignores the first (as Heroku would SIGKILL it after its grace period) cannot hang us.
    Signals that arrive before the process exists are held and passed on by `attach`."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.received.append(signum)
        if self.proc is not None:
            forward_signal(self.proc, signal.SIGKILL if len(self.received) > 1 else signum)

    def attach(self, proc: subprocess.Popen) -> None:
        """Send signals to `proc` from now on, and pass on those that came before it existed."""
        held = list(self.received)
        self.proc = proc
        for count, signum in enumerate(held):
            forward_signal(proc, signal.SIGKILL if count else signum)


@contextlib.contextmanager
def forwarding(proc: subprocess.Popen | None = None) -> Iterator[Forwarder]:
    """While attached, signals to us go to the process group (see Forwarder). Enter it before starting the
    process: a signal in between would otherwise kill us and leave the process running, orphaned."""
    forwarder = Forwarder()
    previous = {signum: signal.signal(signum, forwarder) for signum in FORWARDED_SIGNALS}
    try:
        if proc is not None:
            forwarder.attach(proc)
        yield forwarder
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_slug(slug: Path, process: Process, *, port: int, config: Mapping[str, str], log: BuildLog) -> int:
    """Unpack the slug into a temporary directory, run the process attached to this terminal, and
    return its exit status once it and its children are gone and the directory is removed."""
    with tempfile.TemporaryDirectory(prefix="slugbuild-run-") as tmp:
        app_dir = unpack(slug, Path(tmp))
        log.step(f"Running `{process.command}` as {process.type}.1 on port {port}")
        with forwarding() as forwarder, booted(app_dir, process.command, port=port, config=config,
                                                process_type=process.type, capture=False) as proc:
            forwarder.attach(proc)
            returncode = proc.wait()
    return exit_status(returncode)


def check_slug(slug: Path, process_types: Mapping[str, str], *, port: int, config: Mapping[str, str],
               timeout_s: float, log: BuildLog) -> Answer:
    """Boot the slug's web process, wait until it answers HTTP, stop it; raise BootFailed saying why not."""
    if "web" not in process_types:
        known = ", ".join(sorted(process_types)) or "none"
        raise UsageError(f"--check boots the web process, but {slug} has none (it has: {known}); declare "
                         "web in the Procfile")
    web = Process("web", process_types["web"])
    with tempfile.TemporaryDirectory(prefix="slugbuild-check-") as tmp:
        app_dir = unpack(slug, Path(tmp))
        log.step(f"Checking web.1 (`{web.command}`) on port {port}")
        with booted(app_dir, web.command, port=port, config=config) as proc:
            try:
                answer = wait_for_answer(port, proc, timeout_s)
            except BootFailed as exc:
                for line in exc.output:
                    log.child(line)
                raise
    shown = " ".join(answer.body.split())
    if len(shown) > ANSWER_SHOWN_CHARS:
        shown = shown[:ANSWER_SHOWN_CHARS] + "..."
    log.info(f"web answered HTTP {answer.status}: {shown or '(empty body)'}")
    return answer

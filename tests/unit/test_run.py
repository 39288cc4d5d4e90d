"""Booting an app as a dyno: its environment, .profile.d, HTTP checks, and stopping it with its children."""

from __future__ import annotations

import io
import os
import signal
import tarfile
from pathlib import Path

import pytest
from processes import is_gone

from slugbuild import run
from slugbuild.errors import SlugbuildError

SERVER = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        keys = ("GREETING", "DYNO", "PORT", "HOME", "COLOUR", "PATH")
        body = "\\n".join(f"{k}={os.environ.get(k, '')}" for k in keys) + f"\\ncwd={os.getcwd()}"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

SILENT = """\
import os, socket, time
s = socket.socket()
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen()
conns = []
while True:
    conns.append(s.accept())
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A tiny app: a Python web server and two .profile.d scripts, the second relying on the first."""
    app_dir = tmp_path / "app"
    (app_dir / ".profile.d").mkdir(parents=True)
    (app_dir / "server.py").write_text(SERVER)
    (app_dir / "silent.py").write_text(SILENT)
    (app_dir / ".profile.d" / "10-greeting.sh").write_text('export GREETING="hello"\n')
    (app_dir / ".profile.d" / "20-more.sh").write_text(
        'export GREETING="$GREETING from profile.d"\nexport PATH="$HOME/bin:$PATH"\n')
    return app_dir


def answer_lines(body: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in body.splitlines())


def test_a_booted_web_process_sees_what_a_dyno_sees(app: Path):
    port = run.free_port()
    with run.booted(app, "python3 server.py", port=port, config={"COLOUR": "blue"}) as proc:
        seen = answer_lines(run.wait_for_http(port, proc, timeout_s=20))
    assert seen["GREETING"] == "hello from profile.d"
    assert seen["DYNO"] == "web.1"
    assert seen["PORT"] == str(port)
    assert seen["HOME"] == seen["cwd"] == str(app.resolve())
    assert seen["COLOUR"] == "blue"
    assert seen["PATH"] == f"{app.resolve()}/bin:{run.STACK_PATH}"


def test_the_process_type_names_the_dyno(app: Path):
    with run.booted(app, 'echo "$DYNO" > dyno.txt', port=run.free_port(), process_type="worker") as proc:
        assert proc.wait() == 0
    assert (app / "dyno.txt").read_text().strip() == "worker.1"


def test_the_exit_status_comes_back(app: Path):
    with run.booted(app, "exit 7", port=run.free_port()) as proc:
        assert proc.wait() == 7


def test_a_process_that_exits_early_fails_the_check_with_its_output(app: Path):
    port = run.free_port()
    with run.booted(app, "echo 'cannot find module express' >&2; exit 3", port=port) as proc, \
            pytest.raises(run.BootFailed) as failure:
        run.wait_for_http(port, proc, timeout_s=20)
    assert str(failure.value) == (f"the process exited with status 3 before answering HTTP on port {port}; "
                                  "its last output is above")
    assert failure.value.output == ["cannot find module express"]


def test_a_process_that_never_binds_its_port_is_stopped_with_its_children(app: Path):
    port = run.free_port()
    command = "sleep 300 & echo $! > child.pid; sleep 300"
    with run.booted(app, command, port=port) as proc, pytest.raises(run.BootFailed) as failure:
        run.wait_for_http(port, proc, timeout_s=1)
    assert str(failure.value) == f"the process never bound port {port} within 1 s; make it listen on $PORT"
    assert is_gone(proc.pid)
    assert is_gone(int((app / "child.pid").read_text()))


def test_a_port_that_accepts_but_never_answers_times_out(app: Path):
    port = run.free_port()
    with run.booted(app, "python3 silent.py", port=port) as proc, pytest.raises(run.BootFailed) as failure:
        run.wait_for_http(port, proc, timeout_s=1)
    expected = f"timed out after 1 s: port {port} accepted connections but gave no HTTP answer"
    assert expected in str(failure.value)


def test_a_process_that_ignores_sigterm_is_killed(app: Path):
    with run.booted(app, "trap '' TERM; sleep 300 & wait", port=run.free_port(), stop_grace_s=0.5) as proc:
        pass
    assert is_gone(proc.pid)


def test_a_forwarded_signal_reaches_the_process(app: Path):
    command = "trap 'echo stopping; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    with run.booted(app, command, port=run.free_port()) as proc:
        while "ready" not in proc.last_output(wait_s=0.1):
            assert proc.poll() is None
        run.forward_signal(proc, signal.SIGTERM)
        assert proc.wait() == 0
    assert proc.last_output()[-1] == "stopping"


def make_slug(path: Path, members: dict[str, bytes], mode: int = 0o755) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))
    return path


def test_unpack_returns_the_app_directory(tmp_path: Path):
    slug = make_slug(tmp_path / "slug.tgz", {"./app/bin/start": b"#!/bin/sh\necho hi\n"})
    app_dir = run.unpack(slug, tmp_path / "dyno")
    assert app_dir == tmp_path / "dyno" / "app"
    assert (app_dir / "bin" / "start").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.access(app_dir / "bin" / "start", os.X_OK)


def test_unpack_refuses_a_member_outside_the_app(tmp_path: Path):
    slug = make_slug(tmp_path / "evil.tgz", {"./app/../../escape": b"x"})
    with pytest.raises(SlugbuildError) as failure:
        run.unpack(slug, tmp_path / "dyno")
    assert str(failure.value).startswith(f"{slug} is not a usable slug (refusing to extract evil.tgz")
    assert not (tmp_path / "escape").exists()


def test_while_attached_a_signal_is_passed_on_and_a_second_one_kills(app: Path):
    command = "trap 'echo first TERM ignored' TERM; echo ready; while true; do sleep 0.1; done"
    with run.booted(app, command, port=run.free_port()) as proc, run.forwarding(proc):
        while "ready" not in proc.last_output(wait_s=0.1):
            assert proc.poll() is None
        os.kill(os.getpid(), signal.SIGTERM)
        while "first TERM ignored" not in proc.last_output(wait_s=0.1):
            assert proc.poll() is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert proc.wait() == -signal.SIGKILL
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_signal_that_arrives_before_the_process_starts_reaches_it(app: Path):
    command = "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    with run.forwarding() as forwarder:
        os.kill(os.getpid(), signal.SIGTERM)  # between installing the handlers and starting the process
        with run.booted(app, command, port=run.free_port()) as proc:
            while "ready" not in proc.last_output(wait_s=0.1):
                assert proc.poll() is None
            forwarder.attach(proc)
            assert proc.wait() == 0
    assert proc.last_output()[-1] == "got TERM"


def test_stopping_returns_when_a_process_that_left_the_group_still_holds_the_output(app: Path):
    command = "setsid sleep 300 & echo $! > escaped.pid; echo started"
    try:
        with run.booted(app, command, port=run.free_port(), stop_grace_s=0.5) as proc:
            assert proc.wait() == 0
        assert proc.last_output(wait_s=0) == ["started"]
    finally:
        os.kill(int((app / "escaped.pid").read_text()), signal.SIGKILL)


def make_linked_slug(path: Path, links: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("./app/lib/real.sh")
        info.size, info.mode = 8, 0o755
        tf.addfile(info, io.BytesIO(b"echo hi\n"))
        for name, target in links.items():
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tf.addfile(link)
    return path


def test_unpack_makes_links_to_app_relative_to_the_unpacked_app(tmp_path: Path):
    slug = make_linked_slug(tmp_path / "slug.tgz", {"./app/bin/start": "/app/lib/real.sh",
                                                    "./app/current": "/app", "./app/lib/same": "real.sh"})
    app_dir = run.unpack(slug, tmp_path / "dyno")
    assert os.readlink(app_dir / "bin" / "start") == "../lib/real.sh"
    assert (app_dir / "bin" / "start").read_bytes() == b"echo hi\n"
    assert os.readlink(app_dir / "current") == "."
    assert os.readlink(app_dir / "lib" / "same") == "real.sh"
    assert sorted(p.name for p in (tmp_path / "dyno").iterdir()) == ["app"]


@pytest.mark.parametrize("target", ["/etc/passwd", "/app/../etc/passwd", "/application", "../../x"])
def test_unpack_still_refuses_links_that_leave_the_app(tmp_path: Path, target: str):
    slug = make_linked_slug(tmp_path / "slug.tgz", {"./app/bin/start": target})
    with pytest.raises(SlugbuildError) as failure:
        run.unpack(slug, tmp_path / "dyno")
    assert str(failure.value).startswith(f"{slug} is not a usable slug (refusing to extract slug.tgz: member "
                                         f"'./app/bin/start' links outside the target")
    assert not (tmp_path / "dyno" / "app").exists()

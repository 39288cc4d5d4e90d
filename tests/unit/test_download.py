"""Downloads that never end, servers that never answer, retries a user can see, and errors that name the URL
and the variable to change: against real sockets on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from slugbuild.buildpacks.node import NodeBuildpack

from slugbuild.errors import DownloadFailed, UsageError
from slugbuild.fetch import Fetcher, download
from slugbuild.log import RecordingLog

SIZE_B = 100_000  # at a byte every 50 ms, about an hour and a half without a stall limit


class Trickle(http.server.BaseHTTPRequestHandler):
    """Promises SIZE_B bytes, then sends one every 50 ms (or, for /silent, none at all)."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE_B))
        self.end_headers()
        self.wfile.flush()
        if self.path.startswith("/silent"):
            self.server.stopping.wait(30)  # type: ignore[attr-defined]
            return
        for _ in range(SIZE_B):
            if self.server.stopping.wait(0.05):  # type: ignore[attr-defined]
                return
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:  # the client gave up: what the test wants
                return

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="module")
def trickle() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_trickling_mirror_is_cut_retried_and_named(tmp_path, trickle):
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=1, backoff_s=0.001, stall_s=0.5)
    url = f"{trickle}/node-v1.tar.gz"
    with pytest.raises(DownloadFailed) as err:
        fetcher.fetch(url, "0" * 64, mirror="SLUGBUILD_NODE_MIRROR")
    stalled = "stalled: less than 1 KiB/s for 0.5 s (SLUGBUILD_DOWNLOAD_STALL_S sets the limit)"
    assert str(err.value) == (f"could not download {url} after 2 attempts: {stalled}; check the network, or "
                              "set SLUGBUILD_NODE_MIRROR to a mirror that answers")
    [retry] = fetcher.log.texts("warn")
    assert retry.startswith(f"node-v1.tar.gz: {stalled}; retrying in 0.0s (attempt 2 of 2)")


def test_a_server_that_sends_headers_then_nothing_is_cut_too(tmp_path, trickle):
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=0, stall_s=0.5)
    silent = r"after 1 attempt: stalled: no data for 0\.5 s \(SLUGBUILD_DOWNLOAD_STALL_S sets the limit\)"
    with pytest.raises(DownloadFailed, match=silent + "; check the network, or set SLUGBUILD_GO_MIRROR"):
        fetcher.fetch(f"{trickle}/silent/go.tgz", "0" * 64, mirror="SLUGBUILD_GO_MIRROR")


def test_the_stall_limit_comes_from_the_environment(tmp_path, trickle, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_DOWNLOAD_STALL_S", "0.4")
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=0)
    with pytest.raises(DownloadFailed, match=r"stalled: less than 1 KiB/s for 0\.4 s"):
        fetcher.fetch_text(f"{trickle}/index.json")


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "1e9"])
def test_a_bad_stall_limit_is_named(value, monkeypatch):
    monkeypatch.setenv("SLUGBUILD_DOWNLOAD_STALL_S", value)
    with pytest.raises(UsageError, match=f"^SLUGBUILD_DOWNLOAD_STALL_S='{value}' is not a number of "):
        download.stall_setting()


def test_a_refused_connection_is_retried_visibly_and_ends_in_one_plain_line(tmp_path):
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=2, backoff_s=0.001)
    url = f"http://127.0.0.1:{closed_port()}/ruby-3.1.2.tgz"
    with pytest.raises(DownloadFailed) as err:
        fetcher.fetch(url, "0" * 64, label="ruby-3.1.2.tgz", mirror="SLUGBUILD_RUBY_MIRROR")
    assert str(err.value) == (f"could not download {url} after 3 attempts: Connection refused; check the "
                              "network, or set SLUGBUILD_RUBY_MIRROR to a mirror that answers")
    assert "Pool" not in str(err.value) and "\n" not in str(err.value)
    warns = fetcher.log.texts("warn")
    assert [w.split(";")[0] for w in warns] == ["ruby-3.1.2.tgz: Connection refused"] * 2
    assert [w.rsplit("(", 1)[1] for w in warns] == ["attempt 2 of 3)", "attempt 3 of 3)"]


def test_the_node_buildpack_names_its_mirror_variable(node_app, monkeypatch):
    monkeypatch.setattr(download.time, "sleep", lambda s: None)  # five retries without the wait
    node_app.write({"engines": {"node": "24.x"}})
    mirror = f"http://127.0.0.1:{closed_port()}/dist"
    ctx = node_app.context()
    ctx.env["SLUGBUILD_NODE_MIRROR"] = mirror  # instead of the fake mirror: nothing listens there
    with pytest.raises(DownloadFailed) as err:
        NodeBuildpack().compile(ctx)
    assert str(err.value).startswith(f"could not download {mirror}/index.json after 6 attempts: Connection "
                                     "refused; check the network, or set SLUGBUILD_NODE_MIRROR")


def test_a_retry_waits_and_counts_like_the_api_client(tmp_path, trickle):
    """The retry line has the API client's shape: cause; retrying in Ns (attempt n of m)."""
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=1, backoff_s=0.2, stall_s=0.3)
    waited: list[float] = []
    fetcher.downloader.sleep = lambda s: waited.append(s)
    started = time.monotonic()
    with pytest.raises(DownloadFailed):
        fetcher.fetch(f"{trickle}/f.tgz", "0" * 64)
    assert time.monotonic() - started < 60  # ended: the stall limit cut both attempts
    [line] = fetcher.log.texts("warn")
    assert line.endswith(f"retrying in {waited[0]:.1f}s (attempt 2 of 2)") and 0.1 <= waited[0] <= 0.2

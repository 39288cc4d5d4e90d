"""A mirror and an API behind their own certificate authority (as behind a TLS-intercepting proxy), served
over HTTPS on 127.0.0.1 with a CA made by trustme: with the CA variable set slugbuild's downloads and API
calls pass; without it they fail in one line naming the variable to set."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from node_fakes import make_mirror
from slugbuild.buildpacks.node import NodeBuildpack

from slugbuild.errors import DownloadFailed
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog
from slugbuild.platform.client import ApiUnreachable, connect

BODY = b"runtime bytes\n" * 1000
CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
HINT = "set SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) to the CA bundle of your proxy or mirror"


class Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"[]" if self.path.startswith("/apps") else BODY
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https(ca: trustme.CA) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_ca_from_the_outside(monkeypatch):
    for name in CA_VARS:
        monkeypatch.delenv(name, raising=False)


def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def ca_dir(ca: trustme.CA, tmp_path: Path) -> Path:
    """A directory in OpenSSL's hashed layout, as SSL_CERT_DIR wants it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl rehash lays out the CA directory")
    directory = tmp_path / "certs"
    directory.mkdir()
    ca.cert_pem.write_to_path(str(directory / "corporate-ca.pem"))
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    return directory


@pytest.mark.parametrize("variable", CA_VARS)
def test_a_download_passes_with_the_ca_variable_set(tmp_path, https, ca, monkeypatch, variable):
    where = ca_dir(ca, tmp_path) if variable == "SSL_CERT_DIR" else ca_file(ca, tmp_path)
    monkeypatch.setenv(variable, str(where))
    fetched = Fetcher(tmp_path / "cache", RecordingLog()).fetch(f"{https}/node.tgz",
                                                                hashlib.sha256(BODY).hexdigest())
    assert fetched.path.read_bytes() == BODY


def test_without_the_ca_a_download_fails_at_once_in_one_line_naming_the_variable(tmp_path, https):
    fetcher = Fetcher(tmp_path / "cache", RecordingLog(), retries=3, backoff_s=0.001)
    url = f"{https}/node.tgz"
    with pytest.raises(DownloadFailed) as err:
        fetcher.fetch(url, None)
    message = str(err.value)
    assert message.startswith(f"could not download {url}: TLS certificate not trusted (")
    assert message.endswith(f"); {HINT}") and "\n" not in message
    assert fetcher.log.texts("warn") == []  # no retry: waiting does not make a certificate trusted


def test_a_ca_variable_naming_the_wrong_ca_is_named_itself(tmp_path, https, monkeypatch):
    other = ca_file(trustme.CA(), tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(DownloadFailed, match=f"the CA from SSL_CERT_FILE={other} did not verify it; point "
                                             "SSL_CERT_FILE at your proxy's CA$"):
        Fetcher(tmp_path / "cache", RecordingLog()).fetch(f"{https}/node.tgz", None)


def test_the_api_client_honours_ssl_cert_file_and_names_it_when_missing(tmp_path, https, ca, monkeypatch):
    with connect(https, "key") as client, pytest.raises(ApiUnreachable) as err:
        client.get("/apps")
    assert "TLS certificate not trusted (" in str(err.value) and HINT in str(err.value)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(ca, tmp_path)))
    with connect(https, "key") as client:
        assert client.get("/apps") == []


@pytest.fixture(scope="module")
def https_mirror(ca: trustme.CA, tmp_path_factory) -> Iterator[str]:
    """The fake Node.js releases, served over HTTPS by a server whose certificate only `ca` vouches for."""
    root = make_mirror(tmp_path_factory.mktemp("https-mirror") / "dist")
    handler = functools.partial(QuietFiles, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


def test_a_node_build_from_an_https_mirror_passes_with_the_ca_and_says_which_variable_without(
        node_app, https_mirror, ca, tmp_path, monkeypatch):
    node_app.write({"engines": {"node": "24.x"}})
    ctx = node_app.context()
    ctx.env["SLUGBUILD_NODE_MIRROR"] = https_mirror
    with pytest.raises(DownloadFailed) as err:
        NodeBuildpack().compile(ctx)
    message = str(err.value)
    assert message.startswith(f"could not download {https_mirror}/index.json: TLS certificate not trusted (")
    assert message.endswith(f"); {HINT}") and "\n" not in message
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file(ca, tmp_path)))
    shutil.rmtree(node_app.app_dir / ".heroku", ignore_errors=True)
    ctx = node_app.context()
    ctx.env["SLUGBUILD_NODE_MIRROR"] = https_mirror
    NodeBuildpack().compile(ctx)
    assert (node_app.app_dir / ".heroku" / "node" / "bin" / "node").is_file()

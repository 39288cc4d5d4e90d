"""Real services for the team back end, on 127.0.0.1: a throwaway PostgreSQL cluster (Debian's `postgresql`
package, installed by `make services`) and moto's S3 server mode as the object store.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then belongs to `nobody`, run
through `runuser`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BACKENDS = ["local", "team"]  # SQLite and files; PostgreSQL and S3
# For tests of the file store itself (signatures, expiry, files on disk), even under
# SLUGBUILD_TEST_BACKEND=team: moto checks neither signatures nor expiry.
FILE_STORE = pytest.mark.parametrize("backend", ["local"], indirect=True)
PG_USER = "slugbuild"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """A PostgreSQL server in `root`, trusting local connections, that tests can stop and start again."""

    def __init__(self, root: Path, bindir: Path) -> None:
        self.root, self.bindir, self.port = root, bindir, free_port()
        self.data = root / "data"
        self.data.mkdir(parents=True)
        os.chmod(root, 0o755)
        self._as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.data, "nobody")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER, "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bindir / tool), *args], cwd=self.root, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, tool, stderr=done.stderr)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a fresh, empty schema: as good as a new database to slugbuild, and much quicker."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{self.url()}?options=-csearch_path%3D{name}"


@contextlib.contextmanager
def postgres() -> Iterator[PostgresCluster]:
    """A cluster in a new directory of the system's temp dir (pytest's own is private to root)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed; run `make services` (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="slugbuild-pg-"))
    try:
        cluster = PostgresCluster(root, bindir)
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


class S3Server:
    """moto's S3 server mode on a thread; `env` points boto3 (and any subprocess) at it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {**AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def new_bucket(self) -> str:
        return new_bucket(self.endpoint)

    def stop(self) -> None:
        self._server.stop()


def new_bucket(endpoint: str) -> str:
    """A fresh bucket in the S3 server at `endpoint`: its `s3://BUCKET/PREFIX` URL."""
    import boto3

    name = f"slugs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                 region_name=AWS_ENV["AWS_DEFAULT_REGION"]).create_bucket(Bucket=name)
    return f"s3://{name}/team"

"""The team back end: replicas sharing only PostgreSQL and S3, a database that goes away, bad settings."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest
import requests
import services

ACCEPT = "application/vnd.heroku+json; version=3"
TEAM = pytest.mark.parametrize("backend", ["team"], indirect=True)  # raw_api on PostgreSQL and S3


def _headers(key: str) -> dict[str, str]:
    return {"Accept": ACCEPT, "Authorization": f"Bearer {key}"}


class Replica:
    """`slugbuild serve` in its own process and data directory, on the shared database and bucket."""

    def __init__(self, tmp_path, name: str, database: str, bucket: str, env: dict[str, str]) -> None:
        self.data_dir = tmp_path / name
        full_env = {k: v for k, v in os.environ.items() if k != "SLUGBUILD_SERVE_KEY"} | env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "slugbuild", "serve", "--port", "0", "--data-dir", str(self.data_dir),
             "--database", database, "--blob-store", bucket, "--workers", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        for line in self.proc.stdout:
            if "export SLUGBUILD_API_URL=" in line:
                self.url = line.split("=", 1)[1].strip()
            if "Ctrl-C" in line:
                break
        self.key = (self.data_dir / "api-key").read_text().strip()

    def stop(self) -> str:
        self.proc.terminate()
        return self.proc.communicate(timeout=30)[1]


def test_two_replicas_share_the_key_and_give_contiguous_versions(tmp_path, pg_cluster, s3_server):
    database, bucket = pg_cluster.new_database(), s3_server.new_bucket()
    replicas = [Replica(tmp_path, f"replica{i}", database, bucket, s3_server.env) for i in range(2)]
    try:
        assert replicas[0].key == replicas[1].key  # made once, kept in the database
        first = replicas[0]
        requests.post(f"{first.url}/apps", json={"name": "shared"}, headers=_headers(first.key), timeout=30)
        slug = requests.post(f"{first.url}/apps/shared/slugs", json={"process_types": {"web": "x"}},
                             headers=_headers(first.key), timeout=30).json()
        assert requests.put(slug["blob"]["url"], data=b"shared slug", timeout=30).status_code == 200
        statuses: list[int] = []

        def release(replica: Replica) -> None:
            url = f"{replica.url}/apps/shared/releases"
            with requests.Session() as session:
                for _ in range(10):
                    answer = session.post(url, json={"slug": slug["id"]}, headers=_headers(replica.key),
                                          timeout=60)
                    statuses.append(answer.status_code)

        threads = [threading.Thread(target=release, args=(replicas[i % 2],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listed = requests.get(f"{replicas[1].url}/apps/shared/releases", headers=_headers(first.key),
                              timeout=30).json()
    finally:
        errors = [replica.stop() for replica in replicas]
    assert statuses == [201] * 40
    assert [release["version"] for release in listed] == list(range(1, 41))
    assert not any("Traceback" in err for err in errors), errors


@TEAM
def test_the_api_answers_503_while_the_database_is_away_and_recovers(raw_api, pg_cluster):
    raw_api.create_app("patient")
    pg_cluster.stop()
    try:
        away = raw_api("GET", "/apps/patient")
    finally:
        pg_cluster.start()
    assert away.status_code == 503
    assert away.json()["id"] == "service_unavailable" and away.headers["Retry-After"]
    assert raw_api("GET", "/apps/patient").status_code == 200  # the same server, no restart


def _serve(run_cli, tmp_path, *args: str, env: dict[str, str] | None = None):
    return run_cli("serve", "--port", "0", "--data-dir", tmp_path / "data", "--key", "k", *args, env=env)


def test_an_unreachable_database_stops_serve_in_one_line_naming_the_setting(run_cli, tmp_path):
    url = f"postgresql://me:secret@127.0.0.1:{services.free_port()}/nothing"
    result = _serve(run_cli, tmp_path, "--database", url)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    line = result.last_error_line
    assert line.startswith("!     cannot use the database postgresql://me:***@127.0.0.1:")
    assert "secret" not in line
    assert line.endswith("check --database (or SLUGBUILD_DATABASE_URL)")


def test_a_schema_from_a_newer_slugbuild_stops_serve_on_postgresql_too(run_cli, tmp_path, pg_cluster):
    url = pg_cluster.new_database()
    assert _serve(run_cli, tmp_path, "--database", url, "--workers", "0").exit_code == 2  # bad --workers
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "applied_at TEXT NOT NULL)")
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    result = _serve(run_cli, tmp_path, "--database", url)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "schema version 999, from a newer slugbuild" in result.last_error_line
    assert result.last_error_line.endswith("point --database (or SLUGBUILD_DATABASE_URL) elsewhere")


def test_a_missing_bucket_stops_serve_in_one_line_naming_the_setting(run_cli, tmp_path, s3_server):
    result = _serve(run_cli, tmp_path, "--blob-store", "s3://no-such-bucket-here/x", env=s3_server.env)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.last_error_line.endswith(
        "bucket no-such-bucket-here does not exist; create it or fix --blob-store (or SLUGBUILD_BLOB_STORE)")


@TEAM
def test_an_old_put_url_used_after_the_release_cannot_change_the_released_object(raw_api):
    raw_api.create_app("sealed")
    slug = raw_api.uploaded_slug("sealed", b"released bytes")
    assert raw_api.release("sealed", slug["id"]).status_code == 201
    requests.put(slug["blob"]["url"], data=b"replacement", timeout=30)  # the store takes it: the URL is valid
    info = raw_api("GET", f"/apps/sealed/slugs/{slug['id']}").json()
    assert requests.get(info["blob"]["url"], timeout=30).content == b"released bytes"
    assert info["size"] == len(b"released bytes")
    promoted = raw_api.create_app("promoted")
    assert raw_api.release(promoted["name"], slug["id"]).status_code == 201  # still the sealed bytes


def test_an_unreachable_object_store_stops_serve_in_one_line(run_cli, tmp_path):
    env = {**services.AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{services.free_port()}"}
    result = _serve(run_cli, tmp_path, "--blob-store", "s3://some-bucket/x", env=env)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.last_error_line.startswith("!     cannot reach the object store for s3://some-bucket/x:")
    assert result.last_error_line.endswith(
        "check AWS_ENDPOINT_URL and --blob-store (or SLUGBUILD_BLOB_STORE)")


def test_credentials_the_store_refuses_stop_serve_in_one_line(tmp_path):
    # moto accepts any credentials, so the store's 403 is played by botocore's stubber.
    import boto3
    from botocore.stub import Stubber

    from slugbuild.errors import UsageError
    from slugbuild.platform.server.s3 import S3Blobs

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="wrong", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(UsageError) as refused:
            S3Blobs("s3://team-bucket/x", 3600, client=client)
    assert str(refused.value) == (
        "the store refused bucket team-bucket (403): check the credentials (AWS_ENDPOINT_URL, "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) and --blob-store (or SLUGBUILD_BLOB_STORE)")


def test_credentials_postgresql_refuses_stop_serve_in_one_line(run_cli, tmp_path, pg_cluster):
    url = pg_cluster.url().replace(f"{services.PG_USER}@", "nobody-here:pw@")
    result = _serve(run_cli, tmp_path, "--database", url)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    line = result.last_error_line
    assert 'role "nobody-here" does not exist' in line and ":pw@" not in line
    assert line.endswith("check --database (or SLUGBUILD_DATABASE_URL)")


@TEAM
def test_an_upload_to_a_deleted_apps_slug_is_removed_once_its_urls_have_expired(raw_api, api_server,
                                                                                monkeypatch):
    from slugbuild.platform.server import blobs

    raw_api.create_app("doomed")
    slug = raw_api("POST", "/apps/doomed/slugs", json={"process_types": {"web": "x"}}).json()
    assert raw_api("DELETE", "/apps/doomed").status_code == 200
    # The store cannot refuse a PUT whose URL is still valid: the object appears after the delete.
    assert requests.put(slug["blob"]["url"], data=b"late bytes", timeout=30).status_code == 200
    store = api_server.server.backend.blobs
    assert _keys(store, slug["id"])
    monkeypatch.setattr(blobs, "CLOCK_SKEW_S", -2 * store.ttl_s)  # as if an hour had passed
    raw_api.create_app("trigger")
    assert raw_api("DELETE", "/apps/trigger").status_code == 200  # each delete sweeps what is due
    assert _keys(store, slug["id"]) == []


def _keys(store, slug_id: str) -> list[str]:
    listed = store._s3.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return [item["Key"] for item in listed.get("Contents", []) if slug_id in item["Key"]]

"""What a release sends, read from the slug and its metadata, before any request is made."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from slugbuild.errors import UsageError
from slugbuild.platform import release


@pytest.fixture
def slug(tmp_path: Path) -> Path:
    path = tmp_path / "slug.tgz"
    path.write_bytes(b"pretend gzip bytes")
    return path


def checksum_of(path: Path) -> str:
    return "SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_metadata_fills_the_slug_create_body_and_flags_override_process_types(slug):
    meta = {"process_types": {"web": "old", "worker": "./work"}, "checksum": checksum_of(slug),
            "stack": "heroku-24", "commit": "abc", "buildpack_provided_description": "Node.js", "size": 1}
    found = release.slug_file(slug, meta, ["web=./new --port $PORT"])
    assert found.create_body() == {
        "process_types": {"web": "./new --port $PORT", "worker": "./work"}, "checksum": checksum_of(slug),
        "stack": "heroku-24", "commit": "abc", "buildpack_provided_description": "Node.js"}


def test_a_hand_made_slug_gets_its_checksum_computed_and_sends_nothing_unknown(slug):
    found = release.slug_file(slug, None, ["web=./serve"])
    assert found.create_body() == {"process_types": {"web": "./serve"}, "checksum": checksum_of(slug)}


def test_a_slug_that_is_not_the_one_its_metadata_describes_is_refused(slug):
    with pytest.raises(UsageError, match=r"is not the file its slug.tgz.json describes .* rebuild it"):
        release.slug_file(slug, {"process_types": {"web": "x"}, "checksum": "SHA256:" + "0" * 64}, [])


@pytest.mark.parametrize("pair", ["web", "we b=x", "web=", "=x", "w" * 129 + "=x", "wéb=x"])
def test_a_bad_process_type_flag_is_named(slug, pair):
    with pytest.raises(UsageError, match=r"--process-type .* is not TYPE=COMMAND"):
        release.slug_file(slug, None, [pair])


def test_a_missing_or_empty_slug_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        release.slug_file(tmp_path / "nope.tgz", None, ["web=x"])
    (tmp_path / "empty.tgz").write_bytes(b"")
    with pytest.raises(UsageError, match="is empty"):
        release.slug_file(tmp_path / "empty.tgz", None, ["web=x"])


@pytest.mark.parametrize(("text", "version"), [("v12", 12), ("12", 12), (" v3 ", 3)])
def test_versions_are_read_with_or_without_the_v(text, version):
    assert release.parse_version(text) == version


@pytest.mark.parametrize("text", ["latest", "v", "v1.2", "-1"])
def test_a_bad_version_is_a_usage_error(text):
    with pytest.raises(UsageError, match="is not a version; give one like v12"):
        release.parse_version(text)

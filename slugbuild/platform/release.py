"""Releasing slugs: create the slug, upload it, release it; promote, list and roll back releases."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slugbuild.errors import ApiError, SlugbuildError, UsageError
from slugbuild.fetch import file_sha256
from slugbuild.log import BuildLog, RecordingLog
from slugbuild.platform import blob
from slugbuild.platform.apps import config_vars
from slugbuild.platform.client import PAGE_SIZE, PlatformClient, app_path, connect
from slugbuild.procfile import PROCESS_TYPE
from slugbuild.slug import human_size, metadata_path, read_metadata

_VERSION = re.compile(r"^v?(\d+)$")


class NothingToRelease(SlugbuildError):
    """The app has no release (or no earlier one) to promote, download or roll back to."""


@dataclass(frozen=True)
class SlugFile:
    """A slug on disk and what the slug create call says about it."""

    path: Path
    process_types: Mapping[str, str]
    checksum: str
    stack: str | None = None
    commit: str | None = None
    buildpack_provided_description: str | None = None

    def create_body(self) -> dict[str, object]:
        body: dict[str, object] = {"process_types": dict(self.process_types), "checksum": self.checksum}
        for key in ("stack", "commit", "buildpack_provided_description"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        return body


@dataclass(frozen=True)
class Released:
    """A release that was created: what `--json` prints and `Released vN on NAME` names."""

    id: str
    version: int
    app: str
    slug_id: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "version": self.version, "app": self.app}

    def build_json(self) -> dict[str, object]:
        """What a build's `--json` report gains when the build was released."""
        return {"slug_id": self.slug_id, "release": self.as_json()}

    @classmethod
    def of(cls, release: Mapping[str, Any], app: str) -> Released:
        slug = release.get("slug") or {}
        return cls(id=release["id"], version=release["version"],
                   app=(release.get("app") or {}).get("name") or app, slug_id=slug.get("id", ""))


def released_json(released: Sequence[Released]) -> object:
    """`{id, version, app}` for one release, a list of them for several (promote to many apps)."""
    if len(released) == 1:
        return released[0].as_json()
    return [r.as_json() for r in released]


def load_slug(path: Path, process_type_pairs: Sequence[str]) -> SlugFile:
    """The slug at `path` with the metadata `slugbuild build` wrote beside it, when there is one."""
    metadata = read_metadata(path) if metadata_path(path).exists() else None
    return slug_file(path, metadata, process_type_pairs)


def slug_file(path: Path, metadata: Mapping[str, Any] | None, process_type_pairs: Sequence[str], *,
              checksum: str | None = None) -> SlugFile:
    """The slug at `path` described by its metadata, with `--process-type` pairs on top; `checksum` is
    given when the caller already knows it, so the file is not read once more only to hash it."""
    if not path.is_file():
        raise UsageError(f"slug {path} does not exist; build one with `slugbuild build SRC -o {path}`")
    if path.stat().st_size == 0:
        raise UsageError(f"slug {path} is empty; build one with `slugbuild build SRC -o {path}`")
    meta = metadata or {}
    process_types = {**(meta.get("process_types") or {}), **parse_process_types(process_type_pairs)}
    if not process_types:
        raise UsageError(f"slug {path} has no {path.name}.json beside it and no --process-type; give one, "
                         'as in --process-type web="./bin/server"')
    checksum = checksum or f"SHA256:{file_sha256(path)}"
    if meta.get("checksum") and str(meta["checksum"]).lower() != checksum.lower():
        raise UsageError(f"slug {path} is not the file its {path.name}.json describes ({meta['checksum']}, "
                         f"found {checksum}); rebuild it with `slugbuild build`")
    return SlugFile(path=path, process_types=process_types, checksum=checksum, stack=meta.get("stack"),
                    commit=meta.get("commit"),
                    buildpack_provided_description=meta.get("buildpack_provided_description"))


def parse_process_types(pairs: Sequence[str]) -> dict[str, str]:
    """`TYPE=COMMAND` pairs for --process-type; the type must be one the API accepts."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, command = pair.partition("=")
        if not sep or not PROCESS_TYPE.match(name) or not command.strip():
            raise UsageError(f"--process-type {pair!r} is not TYPE=COMMAND with a TYPE of letters, digits, "
                             '- and _ (as in web="./bin/server")')
        result[name] = command
    return result


def release_slug(client: PlatformClient, app: str, slug: SlugFile, description: str | None,
                 log: BuildLog) -> Released:
    """Create the slug, upload its bytes, and release it; no release is created unless the upload worked."""
    log.step(f"Releasing {slug.path.name} on {app}")
    created = client.post(app_path(app, "slugs"), slug.create_body())
    log.info(f"Slug {created['id']} created")
    blob.upload(created["blob"], slug.path, log)
    log.info(f"Uploaded {human_size(slug.path.stat().st_size)}")
    return create_release(client, app, created["id"], description)


def create_release(client: PlatformClient, app: str, slug_id: str, description: str | None) -> Released:
    """A new release of `slug_id` on `app`."""
    body: dict[str, str] = {"slug": slug_id}
    if description:
        body["description"] = description
    return Released.of(client.post(app_path(app, "releases"), body), app)


def releases(client: PlatformClient, app: str) -> Iterator[dict[str, Any]]:
    """The app's releases, newest first, page after page."""
    return client.pages(app_path(app, "releases"), f"version ..; order=desc, max={PAGE_SIZE}")


def newest_first(items: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """All of them, sorted by version too, so a server that ignores `order=desc` still reads right."""
    return sorted(items, key=lambda r: r["version"], reverse=True)


def current_release(client: PlatformClient, app: str) -> dict[str, Any]:
    """The app's current release; NothingToRelease when it has none."""
    for release in releases(client, app):
        if release.get("current"):
            return release
    raise NothingToRelease(f"app {app} has no current release; release a slug on it first "
                           f"(`slugbuild release SLUG.tgz --app {app}`)")


def slug_id_of(release: Mapping[str, Any], app: str) -> str:
    """The id of the release's slug; NothingToRelease when it has none."""
    if not release.get("slug"):
        raise NothingToRelease(f"release v{release['version']} of {app} has no slug; release a slug on it "
                               "first")
    return release["slug"]["id"]


def promote(client: PlatformClient, source: str, targets: Sequence[str], log: BuildLog) -> list[Released]:
    """Release the current slug of `source` on each target: the same slug id, nothing rebuilt or uploaded."""
    current = current_release(client, source)
    slug_id = slug_id_of(current, source)
    log.step(f"Promoting {source} v{current['version']} (slug {slug_id})")
    done = []
    for target in targets:
        done.append(create_release(client, target, slug_id, f"Promote {source} v{current['version']}"))
    return done


def parse_version(text: str) -> int:
    """The release number in `v12` or `12`; a UsageError otherwise."""
    found = _VERSION.match(text.strip())
    if not found:
        raise UsageError(f"release {text!r} is not a version; give one like v12 (see `slugbuild releases`)")
    return int(found.group(1))


def rollback_target(client: PlatformClient, app: str, version: str | None) -> dict[str, Any]:
    """The release named by `version`, or the newest succeeded one before the current release."""
    if version is not None:
        return _release_numbered(client, app, parse_version(version))
    current = None
    for release in releases(client, app):
        if current is None:
            current = release if release.get("current") else None
        elif release["version"] < current["version"] and release.get("status", "succeeded") == "succeeded":
            return release
    raise NothingToRelease(f"app {app} has no release before its current one to roll back to; "
                           "name one with `slugbuild rollback --app APP vN`")


def _release_numbered(client: PlatformClient, app: str, number: int) -> dict[str, Any]:
    try:
        return client.get(app_path(app, "releases", str(number)))
    except ApiError as exc:
        if exc.status != 404:
            raise
        client.get(app_path(app))  # a missing app keeps the API's own 404, naming the app
        raise NothingToRelease(f"app {app} has no release v{number}; `slugbuild releases --app {app}` lists "
                               "its releases") from None


def rollback(client: PlatformClient, app: str, version: str | None) -> Released:
    """A new release copying the slug and config vars of the target, as Heroku's rollback does."""
    target = rollback_target(client, app, version)
    return Released.of(client.post(app_path(app, "releases"), {"release": target["id"]}), app)


def download_current_slug(client: PlatformClient, app: str, dest: Path,
                          log: BuildLog | None = None) -> tuple[Path, dict[str, str]]:
    """Download the app's current slug to `dest` (a directory: `dest/slug.tgz`; else the file itself).

    Returns the tgz path and the slug's process types. The blob is fetched without API credentials.
    """
    slug = client.get(app_path(app, "slugs", slug_id_of(current_release(client, app), app)))
    target = dest / "slug.tgz" if dest.is_dir() else dest
    if not slug.get("blob", {}).get("url"):
        raise NothingToRelease(f"slug {slug['id']} of {app} has no download URL; release the app again")
    blob.download(slug["blob"]["url"], target, slug.get("checksum"), log or RecordingLog())
    return target, dict(slug.get("process_types") or {})


class BuildTarget:
    """The app a build is released on: its config vars before the build, the release after it."""

    def __init__(self, client: PlatformClient, app: str) -> None:
        self.client, self.app = client, app

    def config_vars(self) -> dict[str, str]:
        """The app's config vars, the build's environment."""
        return config_vars(self.client, self.app)

    def release(self, built: Mapping[str, Any], description: str | None, log: BuildLog) -> Released:
        """Release the slug a build just wrote, as its report describes it: the checksum was computed
        while the slug was packed, so the file is not hashed a second time."""
        slug = slug_file(Path(str(built["path"])), built, (), checksum=str(built["checksum"]))
        return release_slug(self.client, self.app, slug, description, log)


@contextlib.contextmanager
def for_build(app: str | None, api_url: str | None, api_key: str | None,
              log: BuildLog) -> Iterator[BuildTarget | None]:
    """A BuildTarget when the build names an app (credentials resolved now), else None."""
    if not app:
        yield None
        return
    with connect(api_url, api_key, log) as client:
        yield BuildTarget(client, app)

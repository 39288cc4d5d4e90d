"""Which Python to install: runtime.txt, .python-version, Pipfile.lock, else the default, in Heroku's
precedence and with its checks and warnings (lib/python_version.sh of heroku/heroku-buildpack-python)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from slugbuild.errors import BuildFailed

# The newest patch release of each supported major, as Heroku's buildpack pins them (commit b4e7e72).
LATEST = {"3.10": "3.10.21", "3.11": "3.11.16", "3.12": "3.12.14", "3.13": "3.13.15", "3.14": "3.14.7"}
OLDEST_MINOR, NEWEST_MINOR = 10, 14
DEFAULT_MAJOR = "3.14"
DEPRECATED_MAJORS = {"3.10": "Python 3.10 reaches its upstream end-of-life in October 2026"}
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?$")
_RUNTIME_TXT = re.compile(r"^python-(.+)$")
# Misspellings of .python-version seen in the wild (Heroku's list); each is refused with the right name.
MISSPELLED = (
    " .python-version", ". python-version", ".python_version.txt", ".python_version", ".python-version ",
    ",python-version", ".python-version.", ".python-version.py", ".python-version.rtf",
    ".python-version.txt", ".python-version.TXT", ".Python-version", ".python.version", ".pythonversion",
    "'.python-version'", "python_version.txt", "python_version", "python-version.", "python-version.txt",
    "python-version",
)
PIN_HINT = "use the major version only (such as {major}), so each build gets its security updates"


@dataclass(frozen=True)
class PythonRequest:
    """The Python to install (N.N.N), what the app asked for, where that came from, and the warnings."""

    version: str
    requested: str | None
    source: str  # "runtime.txt", ".python-version", "Pipfile.lock" or "default"
    warnings: tuple[str, ...] = ()

    @property
    def major(self) -> str:
        return self.version.rsplit(".", 1)[0]


def request(app_dir: Path, package_manager: str) -> PythonRequest:
    """The Python version for the app, resolved and checked, with Heroku's warnings."""
    requested, source = read_requested(app_dir, package_manager)
    version = resolve(requested or DEFAULT_MAJOR, source)
    major = version.rsplit(".", 1)[0]
    warnings = [*_origin_warnings(source, major, package_manager)]
    if major in DEPRECATED_MAJORS:
        warnings.append(f"Support for Python {major} is deprecated: {DEPRECATED_MAJORS[major]}; upgrade to "
                        f"a newer Python by changing the version in your {source} file")
    if requested and requested.count(".") == 2 and _patch(version) < _patch(LATEST[major]):
        warnings.append(f"A Python patch update is available: the app uses Python {version}, but "
                        f"{LATEST[major]} is out; update your {source} file, or better, "
                        + PIN_HINT.format(major=major))
    return PythonRequest(version, requested, source, tuple(warnings))


def read_requested(app_dir: Path, package_manager: str) -> tuple[str | None, str]:
    """(the version as written, or None, and its source), in Heroku's order: runtime.txt (deprecated),
    .python-version, then Pipfile.lock's python_full_version or python_version for Pipenv apps."""
    if (app_dir / "runtime.txt").is_file():
        return parse_runtime_txt(app_dir / "runtime.txt"), "runtime.txt"
    for name in MISSPELLED:
        if (app_dir / name).is_file():
            raise BuildFailed(f"Your .python-version file is spelled incorrectly: it is named {name!r}; "
                              "rename it to exactly '.python-version'")
    if (app_dir / ".python-version").is_file():
        return parse_python_version_file(app_dir / ".python-version"), ".python-version"
    if package_manager == "pipenv":
        version = pipfile_lock_version(app_dir / "Pipfile.lock")
        if version:
            return version, "Pipfile.lock"
    return None, "default"


def version_lines(path: Path) -> list[str]:
    """The file's lines without blanks, `#` comments and surrounding whitespace; BuildFailed when the
    file is not UTF-8 text (a BOM or UTF-16, as some Windows editors and shells write)."""
    data = path.read_bytes()
    encoding = _odd_encoding(data)
    if encoding is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "not UTF-8"
    if encoding is not None:
        raise BuildFailed(f"Unable to read {path.name}: it uses an unsupported text encoding ({encoding}); "
                          "save it as UTF-8 without a BOM")
    lines = (line.strip() for line in text.replace("\0", "\u2400").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _odd_encoding(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        return "UTF-8 with BOM"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    return None


def parse_python_version_file(path: Path) -> str:
    """The one version in .python-version (N.N or N.N.N); every line is checked before they are counted."""
    versions = version_lines(path)
    for version in versions:
        if not _VERSION.match(version):
            shown = "".join(c if c.isprintable() else "\ufffd" for c in version)
            raise BuildFailed(f"Invalid Python version in .python-version: {shown!r}; write the major "
                              f"version only, for example {DEFAULT_MAJOR} (or an exact version such as "
                              f"{DEFAULT_MAJOR}.999), without quotes, a 'python-' prefix or wildcards, "
                              "with any comment on its own line starting with '#'")
    if not versions:
        raise BuildFailed(f"No Python version found in .python-version; write the app's major Python "
                          f"version in it, for example {DEFAULT_MAJOR} (a line starting with '#' is a "
                          "comment)")
    if len(versions) > 1:
        raise BuildFailed(f"Multiple Python versions found in .python-version ({', '.join(versions)}); "
                          f"keep only one, for example {DEFAULT_MAJOR}")
    return versions[0]


def parse_runtime_txt(path: Path) -> str:
    """The version in runtime.txt (`python-3.13` or `python-3.13.1`)."""
    lines = version_lines(path)
    match = _RUNTIME_TXT.match(lines[0]) if len(lines) == 1 else None
    if not match or not _VERSION.match(match.group(1)):
        raise BuildFailed(f"Invalid Python version in runtime.txt; runtime.txt is deprecated: delete it and "
                          f"create a .python-version file containing the major version, for example "
                          f"{DEFAULT_MAJOR}")
    return match.group(1)


def pipfile_lock_version(path: Path) -> str | None:
    """`_meta.requires.python_full_version`, else `python_version`, from Pipfile.lock; None if neither."""
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildFailed(f"Can't parse Pipfile.lock ({exc}); it is not valid JSON: run 'pipenv lock' to "
                          "regenerate it") from None
    requires = lock.get("_meta", {}).get("requires", {}) if isinstance(lock, dict) else {}
    requires = requires if isinstance(requires, dict) else {}
    version = requires.get("python_full_version") or requires.get("python_version")
    if version is None:
        return None
    if not isinstance(version, str) or not _VERSION.match(version):
        raise BuildFailed(f"Invalid Python version in Pipfile.lock: {version!r} in 'python_version' or "
                          f"'python_full_version'; set a version such as {DEFAULT_MAJOR} in the Pipfile "
                          "(no wildcards) and run 'pipenv lock'")
    return version


def resolve(requested: str, source: str) -> str:
    """N.N -> the newest known N.N.x; N.N.N stays. End-of-life and unknown majors are refused."""
    match = _VERSION.match(requested)
    if not match:
        raise BuildFailed(f"Invalid Python version {requested!r} in {source}")
    major, minor = int(match.group(1)), int(match.group(2))
    where = f"in your {source} file" if source != "default" else "with a .python-version file"
    if major < 3 or (major == 3 and minor < OLDEST_MINOR):
        raise BuildFailed(f"The requested Python version has reached end-of-life: Python {major}.{minor} no "
                          f"longer receives security updates and is no longer supported; upgrade to at "
                          f"least Python 3.{OLDEST_MINOR} {where}")
    if major > 3 or minor > NEWEST_MINOR:
        raise BuildFailed(f"The requested Python version isn't recognised: Python {major}.{minor} "
                          f"({source}); "
                          f"check it has been released, or switch to a supported version such as "
                          f"Python 3.{NEWEST_MINOR} {where}")
    return requested if match.group(3) is not None else LATEST[f"{major}.{minor}"]


def _origin_warnings(source: str, major: str, package_manager: str) -> list[str]:
    if source == "default" and package_manager == "uv":
        raise BuildFailed("No Python version was specified: with uv, the app must name its Python in a "
                          f".python-version file; run 'uv python pin {major}' in the app's root directory "
                          "and commit .python-version")
    if source == "runtime.txt" and package_manager == "uv":
        raise BuildFailed("The runtime.txt file isn't supported when using uv: delete runtime.txt, run "
                          f"'uv python pin {major}' and commit .python-version")
    if source == "default":
        return [f"No Python version was specified, so the buildpack default Python {major} is used, which "
                "can change over time; create a .python-version file in the app's root directory "
                f"containing {major}"]
    if source == "runtime.txt":
        return ["The runtime.txt file is deprecated: it has been replaced by the more widely supported "
                f".python-version file; delete runtime.txt and create a .python-version containing {major}"]
    return []


def _patch(version: str) -> int:
    return int(version.rsplit(".", 1)[1])

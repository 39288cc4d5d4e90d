"""Settings: every value resolved once, flag > environment > default, keeping where it came from."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import platformdirs

from slugbuild.errors import UsageError

if TYPE_CHECKING:
    from slugbuild.buildpack import Runtime

T = TypeVar("T")

DEFAULT_STACK = "heroku-24"
DEFAULT_MAX_SIZE_B = 1 << 30  # Heroku's limit since 2026
# Room for about six runtimes with their compressed slug members (Node.js: 210 MB unpacked + 57 MB).
DEFAULT_CACHE_LIMIT_B = 2 << 30
CACHE_LIMIT_ENV = "SLUGBUILD_CACHE_LIMIT"
DEFAULT_API_URL = "https://api.heroku.com"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE | re.ASCII)
MAX_SIZE_B = 1 << 50  # 1024T: far above any slug, and a bound for the arithmetic
NAME_MAX_B = 255  # the longest file name Linux file systems allow
PATH_MAX_B = 4096  # the longest path, with its NUL, that Linux's file calls take
MAX_EPOCH_S = 8**11 - 1  # the largest mtime a tar header holds in octal, in the year 2242
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOUBLE_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"(.*)$')
_SINGLE_QUOTED = re.compile(r"^'([^']*)'(.*)$")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A setting's value and where it came from."""

    value: T
    source: str  # "--app", "HEROKU_APP", "default", "package.json engines.node"


def _shown(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, its middle left out when it is long (400 nines, say)."""
    return repr(text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]}")


def _named(what: str, text: str) -> str:
    """`--max-size '5X'` for a flag, `SLUGBUILD_CACHE_LIMIT='abc'` for a variable (`what` ends in `=`)."""
    return f"{what}{_shown(text)}" if what.endswith("=") else f"{what} {_shown(text)}"


def parse_size(text: str, what: str = "--max-size") -> int:
    """Bytes from `123`, `500M` or `1G` (1024-based); `what` names the flag or variable in the error."""
    match = _SIZE.match(text)
    # Decimal, not float: 400 nines are a number too (float gives infinity, and int() of that raises).
    size = int(Decimal(match.group(1)) * 1024 ** "_KMGT".index(match.group(2).upper())) if match else 0
    if size <= 0:
        raise UsageError(f"{_named(what, text)} is not a size above zero: use bytes or a number with K, M "
                         "or G (500M, 1G)")
    if size > MAX_SIZE_B:
        raise UsageError(f"{_named(what, text)} is more than 1024T, the most slugbuild takes; give a "
                         "size such as 500M or 1G")
    return size


def parse_env_pairs(pairs: Sequence[str], what: str = "--env") -> dict[str, str]:
    """`KEY=VALUE` strings as a dict; a bad pair is a UsageError naming it."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_KEY.match(key):
            raise UsageError(f"{what} {pair!r} is not KEY=VALUE with a KEY of ASCII letters, digits and _ "
                             "that does not start with a digit (a shell could not export it)")
        result[key] = value
    return result


def _unquoted(value: str) -> str | None:
    """A .env value without its quotes and trailing comment; None when a quote is left open."""
    if value[:1] not in ("'", '"'):
        return value.split(" #", 1)[0].rstrip()
    quote = value[0]
    match = (_DOUBLE_QUOTED if quote == '"' else _SINGLE_QUOTED).match(value)
    if not match or (match.group(2).strip() and not match.group(2).strip().startswith("#")):
        return None
    if quote == "'":
        return match.group(1)
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), match.group(1))


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file: KEY=VALUE lines, optional `export `, quotes, `#` comments and blank lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--env-file {path}: {exc.strerror}; give a readable .env file") from None
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path} is not UTF-8 text; save it as UTF-8") from None
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").lstrip().partition("=")
        key = key.strip()
        unquoted = _unquoted(value.strip()) if sep and _ENV_KEY.match(key) else None
        if unquoted is None:
            raise UsageError(f"{path}:{lineno}: {line!r} is not KEY=VALUE; fix or remove the line")
        result[key] = unquoted
    return result


def config_vars(env_pairs: Sequence[str] | None, env_file: Path | None,
                base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Config vars for a build: `base` (the app's, when releasing), then --env-file, then --env."""
    result = dict(base or {})
    if env_file is not None:
        result.update(read_env_file(env_file))
    result.update(parse_env_pairs(env_pairs or []))
    return result


def default_cache_dir() -> Sourced[Path]:
    """SLUGBUILD_CACHE_DIR when set, else the user cache directory."""
    if os.environ.get("SLUGBUILD_CACHE_DIR"):
        return Sourced(Path(os.environ["SLUGBUILD_CACHE_DIR"]), "SLUGBUILD_CACHE_DIR")
    return Sourced(Path(platformdirs.user_cache_dir("slugbuild")), "default")


def cache_limit(flag: str | None) -> int:
    """How large the cache's slug members and unpacked runtimes may grow: --cache-limit, else
    SLUGBUILD_CACHE_LIMIT, else DEFAULT_CACHE_LIMIT_B."""
    if flag:
        return parse_size(flag, "--cache-limit")
    if os.environ.get(CACHE_LIMIT_ENV):
        return parse_size(os.environ[CACHE_LIMIT_ENV], f"{CACHE_LIMIT_ENV}=")
    return DEFAULT_CACHE_LIMIT_B


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH as seconds (0 when unset), the time every slug entry carries."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_EPOCH_S))) or int(raw) > MAX_EPOCH_S:
        raise UsageError(f"SOURCE_DATE_EPOCH={_shown(raw)} is not a whole number of seconds from 0 to "
                         f"{MAX_EPOCH_S}; unset it or fix it")
    return int(raw)


@dataclass(frozen=True)
class BuildSettings:
    """Every build input, resolved and checked once by `build_settings`."""

    source_dir: Path
    output: Path
    buildpacks: tuple[str, ...] = ()
    stack: str = DEFAULT_STACK
    cache_dir: Sourced[Path] = field(default_factory=default_cache_dir)
    clear_cache: bool = False
    config: Mapping[str, str] = field(default_factory=dict)
    commit: str | None = None
    max_size_b: int = DEFAULT_MAX_SIZE_B
    offline: bool = False
    source_date_epoch: int = 0
    pins: Mapping[str, Runtime] = field(default_factory=dict)  # `verify`: rebuild with these runtimes
    reuse_members: bool = True  # False for `verify`: compress everything afresh, trusting no cached member
    cache_limit_b: int = DEFAULT_CACHE_LIMIT_B


def path_arg(what: str, text: str) -> Path:
    """`text` as a path, or a UsageError naming `what` when no file could be called that."""
    try:
        names = [os.fsencode(part) for part in Path(text).parts]
    except UnicodeEncodeError:
        names = [b"\0"]
    if "\0" in text or b"\0" in b"".join(names):
        raise UsageError(f"{what} {_shown(text)} is not a file name (it holds a NUL or a character no file "
                         "name can hold); fix the path")
    if any(len(name) > NAME_MAX_B for name in names):
        raise UsageError(f"{what} {_shown(text)}: a name in it is longer than {NAME_MAX_B} bytes, which no "
                         "file system allows; choose a shorter one")
    if len(os.fsencode(text)) >= PATH_MAX_B:  # pathlib's exists() and is_file() raise for it
        raise UsageError(f"{what} {_shown(text)} is {PATH_MAX_B} bytes or longer, more than a path may be; "
                         "give a shorter (relative) path")
    return Path(text)


def _check_writable(output: Path) -> None:
    """Fail before the build, not after it, when the slug could not be written where asked."""
    place = output.absolute().parent
    while not place.exists():
        place = place.parent
    if not place.is_dir() or not os.access(place, os.W_OK | os.X_OK):
        raise UsageError(f"-o {output}: cannot write in {place}; choose a writable place for the slug")


def build_settings(*, source: str, output: str | None, buildpacks: Sequence[str] | None, stack: str | None,
                   cache_dir: str | None, clear_cache: bool, env: Sequence[str] | None,
                   env_file: str | None, commit: str | None, max_size: str | None, offline: bool,
                   base_config: Mapping[str, str] | None = None,
                   cache_limit_flag: str | None = None) -> BuildSettings:
    """Validate the build flags once; every problem is a UsageError naming the flag or value."""
    src = path_arg("source directory", source)
    if not src.is_dir():
        problem = "is not a directory" if src.exists() else "does not exist"
        raise UsageError(f"source directory {source} {problem}; give the app's directory")
    out = path_arg("-o", output or "slug.tgz")
    if out.is_dir():
        raise UsageError(f"-o {out} is a directory; give the slug's file name, such as {out / 'slug.tgz'}")
    _check_writable(out)
    cache = Sourced(path_arg("--cache-dir", cache_dir), "--cache-dir") if cache_dir else default_cache_dir()
    return BuildSettings(
        source_dir=src.resolve(),
        output=out.resolve(),
        buildpacks=tuple(buildpacks or ()),
        stack=stack or os.environ.get("STACK") or DEFAULT_STACK,
        cache_dir=Sourced(cache.value.resolve(), cache.source),
        clear_cache=clear_cache,
        config=config_vars(env, path_arg("--env-file", env_file) if env_file else None, base_config),
        commit=commit,
        max_size_b=parse_size(max_size) if max_size else DEFAULT_MAX_SIZE_B,
        offline=offline,
        source_date_epoch=source_date_epoch(),
        cache_limit_b=cache_limit(cache_limit_flag),
    )

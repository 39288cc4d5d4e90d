"""The API key clients must send: from --key, --key-file, $SLUGBUILD_SERVE_KEY, or one made and kept.

A key made by slugbuild is kept in DATA_DIR/api-key (mode 0600). With a shared database it is kept in the
database instead, so every replica accepts the same key, and copied to DATA_DIR/api-key for this host's
users to read. (The blob-signing secret is always in the database: see Store.blob_secret.)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slugbuild.errors import UsageError

if TYPE_CHECKING:
    from slugbuild.platform.server.store import Store

KEY_ENV = "SLUGBUILD_SERVE_KEY"
KEY_FILE = "api-key"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # "--key", "--key-file", "SLUGBUILD_SERVE_KEY" or "generated"
    path: Path | None = None  # the file that holds it, when one does

    def __repr__(self) -> str:
        # Keeps the key out of tracebacks and debug output.
        return f"ApiKey(source={self.source!r})"


def _write_private(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(value + "\n")


def kept_secret(path: Path) -> str:
    """The secret stored in `path`, first made (random, mode 0600) if the file does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if not value:
            raise UsageError(f"{path} is empty; delete it and a new key will be made") from None
        return value
    os.close(fd)
    value = secrets.token_hex(32)
    _write_private(path, value)
    return value


def from_file(path: str) -> ApiKey:
    """The key in the file --key-file names (its first line), or one line saying what is wrong."""
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--key-file {path}: {reason}; give a readable file holding the key") from None
    if not lines or not lines[0].strip():
        raise UsageError(f"--key-file {path} is empty; put the key on its first line")
    return ApiKey(lines[0].strip(), "--key-file", Path(path).expanduser().absolute())


def api_key(flag: str | None, data_dir: Path, *, key_file: str | None = None,
            store: Store | None = None) -> ApiKey:
    """--key, else --key-file, else $SLUGBUILD_SERVE_KEY, else the kept one (made when missing)."""
    if flag is not None and key_file is not None:
        raise UsageError("--key and --key-file both give the key; keep one (--key-file: ps cannot show it)")
    if flag is not None:
        if not flag.strip():
            raise UsageError("--key is empty; give a non-empty key or leave --key out to use a generated one")
        return ApiKey(flag, "--key")
    if key_file is not None:
        return from_file(key_file)
    if os.environ.get(KEY_ENV, "").strip():
        return ApiKey(os.environ[KEY_ENV], KEY_ENV)
    path = data_dir / KEY_FILE
    if store is None:
        return ApiKey(kept_secret(path), "generated", path)
    value = store.kept("api_key", lambda: secrets.token_hex(32))
    _write_private(path, value)
    return ApiKey(value, "generated", path)

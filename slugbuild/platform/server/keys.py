"""The server's secrets: the API key clients must send and the key that signs blob URLs."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from slugbuild.errors import UsageError

KEY_ENV = "SLUGBUILD_SERVE_KEY"
KEY_FILE = "api-key"
BLOB_SECRET_FILE = "blob-secret"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # "--key", "SLUGBUILD_SERVE_KEY" or the key file's path

    def __repr__(self) -> str:
        # Keeps the key out of tracebacks and debug output.
        return f"ApiKey(source={self.source!r})"


def kept_secret(path: Path) -> str:
    """The secret stored in `path`, first made (random, mode 0600) if the file does not exist."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if not value:
            raise UsageError(f"{path} is empty; delete it and a new key will be made") from None
        return value
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(value + "\n")
    return value


def api_key(flag: str | None, data_dir: Path) -> ApiKey:
    """The key from --key, else $SLUGBUILD_SERVE_KEY, else DATA_DIR/api-key (made when missing)."""
    if flag is not None:
        if not flag.strip():
            raise UsageError("--key is empty; give a non-empty key or leave --key out to use a generated one")
        return ApiKey(flag, "--key")
    if os.environ.get(KEY_ENV, "").strip():
        return ApiKey(os.environ[KEY_ENV], KEY_ENV)
    path = data_dir / KEY_FILE
    return ApiKey(kept_secret(path), str(path))


def blob_secret(data_dir: Path) -> bytes:
    """The HMAC key for blob URLs; kept so URLs handed out before a restart still work."""
    return kept_secret(data_dir / BLOB_SECRET_FILE).encode()

"""The cache of compressed slug members: one gzip member per large subtree, keyed by what it holds.

A member's key is the sha256 of the compressor's settings and of the digest of the subtree's tar bytes
(every header and every byte of every file), so a change anywhere inside the subtree, or in how it is
compressed, gives another key; nothing about timestamps or paths on disk enters it. Each entry also records
the sha256 of its compressed bytes, checked while they are copied into a slug, so a damaged entry is never
used. Entries live at `<cache>/slug-members/<key>/` and are leased while a build copies them (leases.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from slugbuild import leases
from slugbuild.compressor import SETTINGS

MEMBERS_DIR = "slug-members"
MEMBER_FILE = "member.gz"
META_FILE = "meta.json"
PARTIAL_PREFIX = ".partial."
HINTS_DIR = ".seen"
KEY_VERSION = b"slugbuild member v2"  # v2: entry digests hash each file's content digest


@dataclass(frozen=True)
class Cached:
    """A member in the cache, leased by this build until `lease` is released."""

    path: Path
    sha256: str
    tar_size: int
    lease: leases.Lease


class Staged:
    """A member being written for the cache: its bytes are hashed and counted as they arrive."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._file: BinaryIO = open(directory / MEMBER_FILE, "wb")  # noqa: SIM115 - closed in finish()
        self.digest = hashlib.sha256()
        self.size = 0
        self.failed = False

    def write(self, data: bytes) -> int:
        """Keep `data`; a cache that fills up only loses this member, never the slug being written."""
        if not self.failed:
            self.digest.update(data)
            self.size += len(data)
            try:
                self._file.write(data)
            except OSError:
                self.failed = True
        return len(data)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._file.flush()

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        self._file.close()


def entry_key(content_digest: bytes) -> str:
    """The cache key of a member whose uncompressed bytes have `content_digest`."""
    return hashlib.sha256(KEY_VERSION + b"\0" + SETTINGS.encode() + b"\0" + content_digest).hexdigest()


class MemberCache:
    """Compressed members under `cache_dir`, shared by every build using that cache."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / MEMBERS_DIR

    def take(self, key: str) -> Cached | None:
        """The member stored under `key`, leased; None when there is none. An entry whose record is
        unreadable is removed, so that the member compressed instead can take its place."""
        lease = leases.take(self.root / key)
        if lease is None:
            return None
        try:
            meta = json.loads((self.root / key / META_FILE).read_text())
            return Cached(self.root / key / MEMBER_FILE, str(meta["sha256"]), int(meta["tar_size"]), lease)
        except (OSError, ValueError, KeyError, TypeError):
            lease.release()
            self.discard(key)
            return None

    def discard(self, key: str) -> None:
        """Remove the entry under `key` (found damaged), unless another build holds it right now."""
        leases.remove_unused(self.root / key)

    def stage(self) -> Staged | None:
        """A place to write a new member; None when the cache cannot be written (it is then not used)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            leases.remove_stale_leftovers(self.root, (PARTIAL_PREFIX, leases.DISCARD_PREFIX))
            directory = Path(tempfile.mkdtemp(dir=self.root, prefix=PARTIAL_PREFIX))
            directory.chmod(0o755)  # as readable as the rest of the cache, for builds as other users
            return Staged(directory)
        except OSError:
            return None

    def contains(self, key: str) -> bool:
        """Whether a member is stored under `key` (it is checked only when it is used)."""
        return (self.root / key / META_FILE).is_file()

    def has_seen(self, name: str) -> bool:
        """Whether a member was ever stored for subtree `name` here (when not, hashing it first is wasted)."""
        return self._hint(name).exists()

    def _hint(self, name: str) -> Path:
        return self.root / HINTS_DIR / hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()

    def store(self, staged: Staged, key: str, tar_size: int, name: str) -> None:
        """Put a finished member of subtree `name` in place under `key`; when another build stored it
        first, keep theirs."""
        meta = {"sha256": staged.digest.hexdigest(), "size": staged.size, "tar_size": tar_size,
                "settings": SETTINGS}
        try:
            staged.close()
            if not staged.failed:
                (staged.directory / META_FILE).write_text(json.dumps(meta, sort_keys=True) + "\n")
                self._hint(name).parent.mkdir(exist_ok=True)
                self._hint(name).touch()
                os.replace(staged.directory, self.root / key)
        except OSError:
            pass  # another build stored the same key first, or the cache is full: the slug is unaffected
        finally:
            staged.discard()

    def entries(self) -> list[Path]:
        """Every stored member's directory (for pruning)."""
        with contextlib.suppress(FileNotFoundError):
            return [p for p in self.root.iterdir() if not p.name.startswith(".")]
        return []

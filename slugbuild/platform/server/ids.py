"""Resource ids: UUIDv7 (RFC 9562), time-ordered, so a list sorted by id (the API's default) reads
oldest first, as Heroku's lists do.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_TAIL_BITS = 74  # the 12 + 62 bits of a UUIDv7 after its millisecond timestamp that are not fixed
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, tail) of the id made last


def new_id() -> str:
    """A fresh id, greater than every id this process made before (even within one millisecond)."""
    global _last
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        last_ms, last_tail = _last
        # A new millisecond starts the tail at random, with headroom for increments within it.
        fresh = now_ms > last_ms
        ms, tail = (now_ms, secrets.randbits(_TAIL_BITS - 1)) if fresh else (last_ms, last_tail + 1)
        _last = (ms, tail)
    value = (ms << 80) | (0x7 << 76) | ((tail >> 62) << 64) | (0b10 << 62) | (tail & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))

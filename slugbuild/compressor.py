"""One gzip member of the slug, compressed so that its bytes depend on nothing but its uncompressed bytes.

A slug is several gzip members; every gzip reader reads them as one stream. Each member starts afresh
(no dictionary carried over from the one before), so a member compressed earlier and cached is the same
bytes as one compressed now.
"""

from __future__ import annotations

import contextlib
import struct
from typing import BinaryIO, Protocol

import zlib_ng
from zlib_ng import gzip_ng_threaded
from zlib_ng import zlib_ng as zng

# zlib-ng's level 6 is weaker than gzip's: on a Node.js tree it wrote 1.023x the bytes of `tar czf`, level 7
# 1.016x for about 1.5x its CPU time (still well under `tar czf`'s time on two threads); 9 costs 2.5x.
COMPRESS_LEVEL = 7
# Each compressor thread is reused for every n-th block and carries state from one block to the next, so
# the bytes depend on the thread count (measured: 2 and 4 threads differ on a Node.js tree). Fixed here,
# never taken from the machine, so every machine writes the same slug.
COMPRESS_THREADS = 2
# The threaded compressor cuts its input where the writes fall (measured: one 2 MiB write and a 1.5 MiB
# plus a 0.5 MiB write give different bytes), so it is only ever handed whole blocks of this size.
BLOCK_B = 1 << 20
# What a cached member's key must include besides its content: anything that changes the bytes.
SETTINGS = (f"python-zlib-ng {zlib_ng.__version__} zlib-ng {zng.ZLIBNG_VERSION} level {COMPRESS_LEVEL} "
            f"threads {COMPRESS_THREADS} block {BLOCK_B}")
# The header the threaded compressor writes: no name, mtime 0, OS "unknown". Small members get the same.
_HEADER = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, 0xFF)


class Sink(Protocol):
    def write(self, data: bytes) -> int: ...
    def flush(self) -> None: ...


class MemberWriter:
    """Writes one gzip member to `sink`. A member of one block or less is compressed on this thread (the
    threaded compressor's threads take up to 50 ms to stop, too long for a Procfile); a larger one on
    COMPRESS_THREADS threads. Which one depends only on the member's length, so the bytes stay fixed."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._pending = bytearray()
        self._threaded: BinaryIO | None = None
        self.size = 0  # uncompressed bytes so far

    def write(self, data: bytes | memoryview) -> None:
        self._pending += data
        self.size += len(data)
        while len(self._pending) >= BLOCK_B:
            if self._threaded is None:
                self._threaded = gzip_ng_threaded.open(self._sink, "wb", compresslevel=COMPRESS_LEVEL,
                                                       threads=COMPRESS_THREADS, block_size=BLOCK_B)
            self._threaded.write(bytes(self._pending[:BLOCK_B]))
            del self._pending[:BLOCK_B]

    def close(self) -> None:
        """Finish the member: the rest of the data, the end of the deflate stream, the trailer."""
        if self._threaded is not None:
            if self._pending:
                self._threaded.write(bytes(self._pending))
            self._threaded.close()
        else:
            self._write_small(bytes(self._pending))
        self._pending = bytearray()

    def abandon(self) -> None:
        """Stop the compressor threads; the member is being given up, so its end is of no interest."""
        if self._threaded is not None:
            with contextlib.suppress(Exception):  # the error that made us give up is the one to report
                self._threaded.close()

    def _write_small(self, data: bytes) -> None:
        deflate = zng.compressobj(COMPRESS_LEVEL, zng.DEFLATED, -15)
        body = deflate.compress(data) + deflate.flush()
        trailer = struct.pack("<II", zng.crc32(data), len(data) & 0xFFFFFFFF)
        self._sink.write(_HEADER + body + trailer)

"""Downloads for buildpacks: a verified cache keyed by URL and checksum (`cache`), retries with resume, a
stall limit and offline use (`download`), the one set of safe unpacking rules (`unpack`, writing only
through directory descriptors in `target`), sealed content manifests checked before any reuse
(`manifest`), and runtimes unpacked once in the cache then hard-linked into each app (`trees`), put
together by `Fetcher` (`fetcher`)."""

from slugbuild.fetch.cache import clear_cache, file_sha256, url_key
from slugbuild.fetch.download import NotFound
from slugbuild.fetch.fetcher import Download, Fetcher
from slugbuild.fetch.manifest import Entry
from slugbuild.fetch.trees import Tree
from slugbuild.fetch.unpack import UnsafeArchive, extract

__all__ = ["Download", "Entry", "Fetcher", "NotFound", "Tree", "UnsafeArchive", "clear_cache", "extract",
           "file_sha256", "url_key"]

"""The slug's tar headers: written by slugbuild itself, the bytes Python's tarfile writes in GNU format."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from slugbuild import tarstream
from slugbuild.log import RecordingLog


def tarfile_header(entry: tarstream.Entry, epoch: int) -> bytes:
    info = tarfile.TarInfo(entry.arcname)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = epoch
    info.linkname = entry.linkname
    if entry.st.st_mode & 0o170000 == 0o040000:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.linkname:
        info.type, info.mode = tarfile.SYMTYPE, 0o777
    else:
        info.mode, info.size = (0o755 if entry.st.st_mode & 0o111 else 0o644), entry.st.st_size
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "run").write_text("#!/bin/sh\n")
    (root / "bin" / "run").chmod(0o700)
    (root / ("n" * 120)).write_text("a name beyond the 100-byte field")
    (root / "deep" / ("d" * 60) / ("e" * 60)).mkdir(parents=True)
    (root / "ünïcödé.txt").write_text("utf-8 name")
    os.symlink("t" * 150, root / "long-target")
    os.symlink("bin/run", root / "short-target")
    (root / os.fsdecode(b"latin1-\xe9.txt")).write_text("not utf-8")
    return root


@pytest.mark.parametrize("epoch", [0, 1_700_000_000, 8 ** 11 + 5])
def test_headers_are_the_bytes_tarfile_writes(tmp_path, epoch):
    entries = list(tarstream.entries(make_tree(tmp_path / "app"), RecordingLog()))
    assert len(entries) == 11
    for entry in entries:
        assert tarstream.header_bytes(entry, epoch) == tarfile_header(entry, epoch), entry.arcname


def test_a_size_beyond_the_octal_field_uses_gnus_base_256_as_tarfile_does(tmp_path):
    (tmp_path / "f").write_text("")
    st = os.lstat(tmp_path / "f")
    huge = os.stat_result((st.st_mode, *st[1:6], 9 * (1 << 30), *st[7:]))
    entry = tarstream.Entry("./app/f", str(tmp_path / "f"), huge, "")
    assert tarstream.header_bytes(entry, 0) == tarfile_header(entry, 0)


def test_an_entry_is_padded_to_whole_blocks_and_a_file_that_grew_is_cut_at_its_size(tmp_path):
    (tmp_path / "f").write_text("hello")
    entry = tarstream.Entry("./app/f", str(tmp_path / "f"), os.lstat(tmp_path / "f"), "")
    (tmp_path / "f").write_text("hello, and more written since")
    out = bytearray()
    _, size = tarstream.write_entry(entry, 0, out.extend)
    assert size == len(out) == 1024 and out[512:517] == b"hello" and out[517:] == bytes(507)

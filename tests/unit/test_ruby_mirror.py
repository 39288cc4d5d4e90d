"""`slugbuild mirror --ruby`: Debian's /usr laid out as Heroku's tarball, and mirroring another mirror."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from slugbuild.buildpacks.ruby import mirror, runtime

from slugbuild.errors import UsageError
from slugbuild.log import RecordingLog

TRIPLET = "x86_64-linux-gnu"


def fake_debian_usr(usr: Path) -> Path:
    """Just enough of Debian's ruby3.1 and libruby3.1: a `ruby3.1` that reports how it was started."""
    files = {
        "bin/ruby3.1": '#!/bin/sh\necho "LD=$LD_LIBRARY_PATH RUBYLIB=$RUBYLIB ARGS=$*"\n',
        "bin/gem3.1": "#!/usr/bin/ruby3.1\nrequire 'rubygems'\n",
        f"lib/{TRIPLET}/ruby/3.1.0/rbconfig.rb": "module RbConfig; end\n",
        f"lib/{TRIPLET}/libruby-3.1.so.3.1.2": "ELF",
        "lib/ruby/3.1.0/set.rb": "class Set; end\n",
        "lib/ruby/vendor_ruby/rubygems/defaults/operating_system.rb": "# Debian's paths\n",
    }
    for name, body in files.items():
        path = usr / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755 if name.startswith("bin/") else 0o644)
    (usr / "lib" / TRIPLET / "libruby-3.1.so.3.1").symlink_to("libruby-3.1.so.3.1.2")
    return usr


@pytest.fixture
def tree(tmp_path) -> Path:
    tree = tmp_path / "tree"
    mirror.lay_out(fake_debian_usr(tmp_path / "usr"), tree, "3.1.2", "3.1")
    return tree


def test_the_layout_is_herokus_with_debians_vendor_ruby_left_out(tree):
    names = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if not p.is_dir()}
    assert names == {"bin/ruby", "bin/ruby3.1", "bin/gem", "libexec/ruby3.1",
                     f"lib/{TRIPLET}/libruby-3.1.so.3.1", f"lib/{TRIPLET}/libruby-3.1.so.3.1.2",
                     f"lib/{TRIPLET}/ruby/3.1.0/rbconfig.rb", "lib/ruby/3.1.0/set.rb"}
    assert os.readlink(tree / "bin" / "ruby3.1") == "ruby"
    assert (tree / "bin" / "gem").read_text().splitlines()[0] == "#!/usr/bin/env ruby"


def test_the_wrapper_finds_libraries_and_stdlib_wherever_it_is_linked_from(tree, tmp_path):
    (tmp_path / "app-bin").mkdir()
    (tmp_path / "app-bin" / "ruby").symlink_to(tree / "bin" / "ruby")  # as an app's bin/ruby might
    out = subprocess.run([str(tmp_path / "app-bin" / "ruby"), "-e", "1"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True).stdout.strip()
    root = tree.resolve()
    assert out == (f"LD={root}/lib/{TRIPLET} RUBYLIB={root}/lib/ruby/3.1.0:{root}/lib/{TRIPLET}/ruby/3.1.0 "
                   "ARGS=-e 1")


def test_the_tarball_has_its_members_at_the_top_level(tree, tmp_path):
    mirror.pack(tree, tmp_path / "ruby-3.1.2.tgz")
    with tarfile.open(tmp_path / "ruby-3.1.2.tgz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"bin/ruby", "libexec/ruby3.1", "lib/ruby/3.1.0/set.rb"} <= set(members)
    assert members["bin/ruby3.1"].issym() and members["bin/ruby3.1"].linkname == "ruby"
    assert members["bin/ruby"].mode & 0o111 and members["bin/ruby"].uid == 0


def test_a_version_debian_does_not_have_is_a_usage_error(tmp_path):
    (tmp_path / "ruby3.1_3.1.7+really3.1.2-0+deb12u1_amd64.deb").write_bytes(b"")
    with pytest.raises(UsageError, match=r"^--ruby 3.1.4: Debian's ruby3.1 is 3.1.2; mirror 3.1.2 with "):
        mirror._check_version(tmp_path, "3.1", "3.1.4")
    mirror._check_version(tmp_path, "3.1", "3.1.2")


@pytest.mark.parametrize("spec", ["3.1", "latest", "3.1.2p20"])
def test_a_spec_that_is_not_a_full_version_is_a_usage_error(tmp_path, spec):
    with pytest.raises(UsageError, match=f"^--ruby '{spec}' is not a Ruby version; use a full one"):
        mirror.fill(tmp_path, [spec], from_registries=True, cache_dir=tmp_path, log=RecordingLog())


def test_mirroring_a_mirror_adds_the_sha256_upstream_lacks(tmp_path, monkeypatch):
    source = tmp_path / "source"
    tarball = source / runtime.stack_path("heroku-24", runtime.host_arch()) / "ruby-3.1.2.tgz"
    tarball.parent.mkdir(parents=True)
    tarball.write_bytes(b"not really a tarball, but bytes to copy")
    monkeypatch.setenv("SLUGBUILD_RUBY_MIRROR", source.as_uri())
    dest = tmp_path / "dest"
    log = RecordingLog()
    flags = {"from_registries": False, "cache_dir": tmp_path / "cache", "log": log, "stack": "heroku-24"}
    mirror.fill(dest, ["3.1.2"], **flags)
    copied = dest / tarball.relative_to(source)
    assert copied.read_bytes() == tarball.read_bytes()
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert Path(f"{copied}.sha256").read_text() == f"{digest}  ruby-3.1.2.tgz\n"
    mirror.fill(dest, ["3.1.2"], **flags)
    assert log.texts("step")[-1] == f"Ruby 3.1.2 for heroku-24 is already in {dest}"

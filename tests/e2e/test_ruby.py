"""Ruby end to end: the real (relocated Debian) Ruby from the loopback mirror, the slug built by the CLI
and booted as a dyno boots it, with only the stack's PATH."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from slugbuild.buildpacks.ruby.runtime import host_arch

from slugbuild import run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT_S = 60


def build(run_cli, source: Path, output: Path, env: dict[str, str]) -> tuple[dict, str]:
    """Build through the real CLI; return the --json report and the build log (stderr)."""
    result = run_cli("build", source, "-o", output, "--json", env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def programs_in_group(pgid: int) -> list[Path]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                found.append(Path(os.readlink(stat.parent / "exe")))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


def test_examples_ruby_answers_on_the_slugs_own_ruby(run_cli, mirror_env, tmp_path):
    report, log = build(run_cli, ROOT / "examples" / "ruby", tmp_path / "slug.tgz", mirror_env)
    [ruby] = report["runtimes"]
    arch = host_arch()
    assert ruby["url"] == f"{mirror_env['SLUGBUILD_RUBY_MIRROR']}/heroku-24/{arch}/ruby-3.1.2.tgz"
    assert (ruby["requested"], ruby["source"]) == ("ruby 3.1.2p20", "Gemfile.lock RUBY VERSION")
    assert "verified" not in ruby  # the mirror publishes ruby-3.1.2.tgz.sha256
    assert "Installing ruby 3.1.2 (from Gemfile.lock RUBY VERSION)" in log
    assert report["process_types"] == {"web": "bundle exec ruby app.rb", "rake": "bundle exec rake",
                                       "console": "bundle exec irb"}

    app_dir = run.unpack(Path(report["path"]), tmp_path / "dyno")
    port = run.free_port()
    with run.booted(app_dir, report["process_types"]["web"], port=port) as proc:
        assert run.wait_for_http(port, proc, BOOT_TIMEOUT_S) == "Hello from Ruby!\n"
        programs = programs_in_group(proc.pid)
    slug_ruby = (app_dir / "vendor" / "ruby-3.1.2" / "libexec" / "ruby3.1").resolve()
    assert slug_ruby in programs
    assert [p for p in programs if p.name.startswith("ruby")] == [slug_ruby]  # no ruby of the machine's


def test_an_unchanged_rebuild_downloads_no_ruby_and_restores_the_bundle(run_cli, mirror_env, runtime_mirror,
                                                                          tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "ruby", source)
    first, _ = build(run_cli, source, tmp_path / "first.tgz", mirror_env)
    mark = len(runtime_mirror.requests)
    second, log = build(run_cli, source, tmp_path / "second.tgz", mirror_env)
    assert "Restoring vendor/bundle from the cache" in log
    assert not [path for path in runtime_mirror.requests_since(mark) if path.endswith(".tgz")]
    assert second["checksum"] == first["checksum"]

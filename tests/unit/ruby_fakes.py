"""A fake Ruby (stub ruby, bundle and rake that log their calls) in a file:// mirror, and an app around it, so
the Ruby buildpack can be tested without a real runtime."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from slugbuild.buildpacks.ruby import RubyBuildpack, runtime

from slugbuild.buildpack import BuildContext
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STACK = "heroku-24"
# Stubs standing in for Ruby's programs: each records how it was called in $FAKE_RUBY_LOG.
STUBS = {
    "bin/ruby": 'echo "ruby $*" >> "$FAKE_RUBY_LOG"\n',
    "bin/bundle": """echo "bundle $* WITHOUT=$BUNDLE_WITHOUT DEPLOYMENT=$BUNDLE_DEPLOYMENT \
PATH=$BUNDLE_PATH" >> "$FAKE_RUBY_LOG"
case "$1" in
  install) mkdir -p vendor/bundle/ruby/3.1.0/gems/rack-2.2.8
           if [ -n "$FAKE_BUNDLE_ENV" ]; then env > "$FAKE_BUNDLE_ENV"; fi ;;
  exec) shift; exec "$@" ;;
esac
""",
    "bin/rake": """echo "rake $* RAILS_ENV=$RAILS_ENV" >> "$FAKE_RUBY_LOG"
[ "$1" = assets:precompile ] && echo "node for assets: $(command -v node)" >> "$FAKE_RUBY_LOG"
if [ "$1" = -P ]; then
  if [ -n "$FAKE_RAKE_FAILS" ]; then echo "rake aborted!" >&2; echo "$FAKE_RAKE_FAILS" >&2; exit 1; fi
  for task in $FAKE_RAKE_TASKS; do echo "rake $task"; echo "    environment"; done
fi
""",
}


def fake_ruby_tgz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in STUBS.items():
            data = ("#!/bin/sh\n" + body).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class RubyApp:
    """An app dir, a file:// mirror holding a fake Ruby (3.1.2), a cache, and a context to compile with."""

    def __init__(self, root: Path, fixture: str = "ruby-rack", *, sidecar: bool = True,
                 version: str = "3.1.2") -> None:
        self.root = root
        self.app_dir = root / "app"
        shutil.copytree(FIXTURES / fixture, self.app_dir)
        self.mirror = root / "mirror"
        self.tarball = self.mirror / runtime.stack_path(STACK, runtime.host_arch()) / f"ruby-{version}.tgz"
        self.tarball.parent.mkdir(parents=True)
        self.tarball.write_bytes(fake_ruby_tgz())
        self.sha256 = hashlib.sha256(self.tarball.read_bytes()).hexdigest()
        if sidecar:
            Path(f"{self.tarball}.sha256").write_text(f"{self.sha256}  ruby-{version}.tgz\n")
        self.calls_file = root / "calls.log"

    def context(self, config: dict[str, str] | None = None, log: RecordingLog | None = None,
                **env: str) -> BuildContext:
        log = log or RecordingLog()
        cache = self.root / "cache"
        base_env = {"PATH": "/usr/bin:/bin", "SLUGBUILD_RUBY_MIRROR": self.mirror.as_uri(),
                    "FAKE_RUBY_LOG": str(self.calls_file), **env}
        return BuildContext(self.app_dir, cache / "ruby", self.root / "env", base_env, config or {}, STACK,
                            Fetcher(cache, log, retries=0), log)

    def compile(self, config: dict[str, str] | None = None, **env: str) -> RecordingLog:
        log = RecordingLog()
        RubyBuildpack().compile(self.context(config, log, **env))
        return log

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

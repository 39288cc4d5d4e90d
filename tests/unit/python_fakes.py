"""A fake Python (stub python3 and pip that log their calls) as a .tar.zst in a file:// mirror, and an app
around it, so the Python buildpack can be tested without a real runtime or a package index."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import zstandard
from slugbuild.buildpacks.python import PythonBuildpack, runtime

from slugbuild.buildpack import BuildContext, host_arch
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog

STACK = "heroku-24"
VERSION = "3.11.2"
# `python3 <bundled pip> install pip==...` logs; `pip install -r requirements.txt` "installs" flask: a
# package in site-packages and a console script whose #! line names this Python, as pip writes them.
STUBS = {
    # `python3 -m venv --without-pip DIR` makes DIR/bin/python3 (this stub again); `DIR/bin/python3
    # <wheel>/pip install TOOL==V` puts a TOOL stub in DIR/bin that logs how it was called and with what
    # (after FAKE_INSTALL_PAUSE_S seconds, so that concurrent builds overlap).
    "bin/python3": """echo "python3 $*" >> "$FAKE_PYTHON_LOG"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$4/bin"; cp "$0" "$4/bin/python3"; exit 0; fi
if [ "$2" = collectstatic ]; then
  if [ -n "$FAKE_COLLECTSTATIC_FAILS" ]; then echo "Traceback (most recent call last):"; \
    echo "$FAKE_COLLECTSTATIC_FAILS"; exit 1; fi
  echo "1 static file copied"; exit 0
fi
if [ "$2" = install ]; then
  if [ -n "$FAKE_INSTALL_PAUSE_S" ]; then sleep "$FAKE_INSTALL_PAUSE_S"; fi
  for spec in "$@"; do tool=${spec%%==*}
    case "$tool" in pipenv|poetry|uv)
      printf '#!/bin/sh\\necho "%s $* VIRTUAL_ENV=${VIRTUAL_ENV:-} PIPENV_SYSTEM=${PIPENV_SYSTEM:-} \
UV_PROJECT_ENVIRONMENT=${UV_PROJECT_ENVIRONMENT:-} POETRY_VIRTUALENVS_CREATE=${POETRY_VIRTUALENVS_CREATE:-}" \
>> "$FAKE_PYTHON_LOG"\\n' "$tool" > "$(dirname "$0")/$tool"
      chmod 755 "$(dirname "$0")/$tool" ;;
    esac
  done
fi
""",
    "bin/pip": """echo "pip $* INDEX=${PIP_INDEX_URL:-} CONFIG=$PIP_CONFIG_FILE" >> "$FAKE_PYTHON_LOG"
if [ -n "$FAKE_PIP_FAILS" ]; then echo "Collecting x"; echo "ERROR: $FAKE_PIP_FAILS"; exit 1; fi
home=$(dirname "$(dirname "$0")")
mkdir -p "$home/lib/python3.11/site-packages/flask"
for package in $FAKE_PIP_ALSO; do mkdir -p "$home/lib/python3.11/site-packages/$package"
  touch "$home/lib/python3.11/site-packages/$package/__init__.py"; done
echo "installed" > "$home/lib/python3.11/site-packages/flask/__init__.py"
printf '#!%s/bin/python3\\nimport flask\\n' "$home" > "$home/bin/flask"
chmod 755 "$home/bin/flask"
""",
    "lib/python3.11/ensurepip/_bundled/pip-23.0.1-py3-none-any.whl": "",
    "lib/python3.11/os.py": "",
}


def fake_python_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in STUBS.items():
            data = (("#!/bin/sh\n" + body) if name.startswith("bin/") else body).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(buf.getvalue())


class PythonApp:
    """An app dir, a file:// mirror holding a fake Python, a cache, and a context to compile with."""

    def __init__(self, root: Path, files: dict[str, str] | None = None) -> None:
        self.root = root
        self.app_dir = root / "app"
        self.app_dir.mkdir()
        files = {"requirements.txt": "flask\n", ".python-version": VERSION} if files is None else files
        for name, text in files.items():
            (self.app_dir / name).write_text(text)
        self.mirror = root / "mirror"
        self.archive = self.mirror / runtime.archive_name(VERSION, STACK, host_arch())
        self.archive.parent.mkdir(parents=True)
        self.archive.write_bytes(fake_python_archive())
        self.sha256 = hashlib.sha256(self.archive.read_bytes()).hexdigest()
        Path(f"{self.archive}.sha256").write_text(f"{self.sha256}  {self.archive.name}\n")
        self.calls_file = root / "calls.log"

    def context(self, config: dict[str, str] | None = None, log: RecordingLog | None = None,
                offline: bool = False, **env: str) -> BuildContext:
        log = log or RecordingLog()
        cache = self.root / "cache"
        base_env = {"PATH": "/usr/bin:/bin", runtime.MIRROR_ENV: self.mirror.as_uri(),
                    "FAKE_PYTHON_LOG": str(self.calls_file), **env}
        return BuildContext(self.app_dir, cache / "python", self.root / "env", base_env, config or {}, STACK,
                            Fetcher(cache, log, retries=0, offline=offline), log, offline)

    def compile(self, config: dict[str, str] | None = None, offline: bool = False,
                **env: str) -> RecordingLog:
        log = RecordingLog()
        PythonBuildpack().compile(self.context(config, log, offline, **env))
        return log

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

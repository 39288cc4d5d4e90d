""".profile.d/WEB_CONCURRENCY.sh, sourced as a dyno would (bash and POSIX sh): what it exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from slugbuild.buildpacks.node import concurrency

SHOW = 'echo "$WEB_CONCURRENCY|${WEB_CONCURRENCY_SET_BY-unset}|$WEB_MEMORY|$MEMORY_AVAILABLE"'
SHELLS = [shell for shell in ("bash", "sh") if shutil.which(shell)]


@pytest.fixture
def profile(tmp_path) -> Path:
    return concurrency.write_profile(tmp_path)


def source(shell: str, profile: Path, **env: str) -> tuple[str, str]:
    proc = subprocess.run([shell, "-c", f'. "$0"; {SHOW}', profile], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, check=True)
    return proc.stdout.strip(), proc.stderr.strip()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("env", "shown"), [
    ({"MEMORY_AVAILABLE": "512"}, "1|heroku/nodejs|512|512"),  # standard-1x
    ({"MEMORY_AVAILABLE": "1024"}, "2|heroku/nodejs|512|1024"),  # standard-2x
    ({"MEMORY_AVAILABLE": "14336"}, "28|heroku/nodejs|512|14336"),  # performance-l
    ({"MEMORY_AVAILABLE": "30720"}, "15|heroku/nodejs|2048|30720"),  # over 16 GB: 2 GB a process
    ({"MEMORY_AVAILABLE": "256"}, "1|heroku/nodejs|512|256"),  # never below one process
    ({"MEMORY_AVAILABLE": "1024", "WEB_MEMORY": "256"}, "4|heroku/nodejs|256|1024"),
    ({"MEMORY_AVAILABLE": "1024", "WEB_CONCURRENCY": "7"}, "7|unset|512|1024"),  # the user's value stays
    ({"MEMORY_AVAILABLE": "1024", "WEB_MEMORY": "lots"}, "2|heroku/nodejs|lots|1024"),  # no shell error
])
def test_concurrency_follows_memory_and_respects_the_user(profile, shell, env, shown):
    assert source(shell, profile, **env) == (shown, "")


@pytest.mark.parametrize("shell", SHELLS)
def test_an_implausible_result_falls_back_to_one_with_a_warning(profile, shell):
    shown, warning = source(shell, profile, MEMORY_AVAILABLE="129024", WEB_MEMORY="64")
    assert shown == "1|heroku/nodejs|64|129024"
    assert warning.startswith("WEB_CONCURRENCY: 129024 MB of memory is no dyno's limit")


def test_without_memory_available_the_limit_is_read_and_bounded(profile):
    concurrency_, set_by, web_memory, memory = source("bash", profile)[0].split("|")
    assert 1 <= int(memory) <= 129024 and web_memory in ("512", "2048")
    assert int(concurrency_) >= 1 and set_by == "heroku/nodejs"


def test_log_concurrency_says_what_was_chosen(profile):
    proc = subprocess.run(["bash", "-c", '. "$0"', profile], capture_output=True, text=True, check=True,
                          env={"MEMORY_AVAILABLE": "2048", "LOG_CONCURRENCY": "true"})
    assert proc.stdout.splitlines() == [
        "Detected 2048 MB available memory, 512 MB limit per process (WEB_MEMORY)",
        "Recommending WEB_CONCURRENCY=4"]


def test_nothing_but_the_exports_is_left_in_the_shell(profile):
    proc = subprocess.run(["bash", "-c", '. "$0"; set | grep -c "^__wc" || true', profile],
                          capture_output=True, text=True, env={"MEMORY_AVAILABLE": "1024"})
    assert proc.stdout.strip() == "0"


V1_UNLIMITED = str(9223372036854771712)  # what cgroup v1 reports for "no limit" (4 KiB pages)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("files", "shown"), [
    ({"memory.max": "max\n"}, "1|heroku/nodejs|512|512"),  # cgroup v2, unlimited
    ({"memory/memory.limit_in_bytes": V1_UNLIMITED + "\n"}, "1|heroku/nodejs|512|512"),  # v1, unlimited
    ({}, "1|heroku/nodejs|512|512"),  # no cgroup files at all
    ({"memory.max": f"{1024 * 1048576}\n"}, "2|heroku/nodejs|512|1024"),  # v2, a 1 GB dyno
    ({"memory/memory.limit_in_bytes": f"{1024 * 1048576}\n"}, "2|heroku/nodejs|512|1024"),  # v1, the same
    ({"memory/memory.limit_in_bytes": f"{129024 * 1048576}\n"}, "63|heroku/nodejs|2048|129024"),  # largest
])
def test_cgroup_v1_and_v2_give_the_same_answer(tmp_path, shell, files, shown):
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    app = tmp_path / "app"
    app.mkdir()
    assert source(shell, concurrency.write_profile(app, str(root))) == (shown, "")

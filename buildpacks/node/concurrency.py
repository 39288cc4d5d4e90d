""".profile.d/WEB_CONCURRENCY.sh: at dyno start, a default number of web processes from the memory limit.

Heroku's rules: memory from the cgroup limit (512 MB when there is none: no file to read, cgroup v2's
`max`, or a cgroup v1 limit above 129024 MB, the largest dyno, which is how v1 says unlimited), WEB_MEMORY
MB per process (512, or 2048 above 16 GB), at least one process, and a result over 200 (no real limit
seen) falls back to 1 with a warning. A WEB_CONCURRENCY the user set is kept.
"""

from __future__ import annotations

from pathlib import Path

from slugbuild.buildpack import write_profile_script

PROFILE_NAME = "WEB_CONCURRENCY.sh"
# POSIX sh (dash runs it too); helpers are unset at the end so nothing but the exports stays behind.
PROFILE = """\
# Written by the Node.js buildpack: a default WEB_CONCURRENCY from this dyno's memory limit.
__wc_memory_mb() {
  __wc_limit=""
  if [ -r /sys/fs/cgroup/memory.max ]; then
    __wc_limit=$(cat /sys/fs/cgroup/memory.max)
  elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
    __wc_limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
  fi
  # No limit reads as 512, whichever way the cgroup says it: v2 writes "max", v1 a number of about 8 EiB.
  case "$__wc_limit" in
    ''|*[!0-9]*) echo 512 ;;
    *) __wc_mb=$((__wc_limit / 1048576))
       if [ "$__wc_mb" -gt 129024 ]; then echo 512; else echo "$__wc_mb"; fi ;;
  esac
}

case "${MEMORY_AVAILABLE:-}" in
  ''|*[!0-9]*) MEMORY_AVAILABLE=$(__wc_memory_mb) ;;
esac
export MEMORY_AVAILABLE
if [ -z "${WEB_MEMORY:-}" ]; then
  if [ "$MEMORY_AVAILABLE" -gt 16384 ]; then WEB_MEMORY=2048; else WEB_MEMORY=512; fi
fi
export WEB_MEMORY

if [ -z "${WEB_CONCURRENCY:-}" ]; then
  case "$WEB_MEMORY" in
    ''|*[!0-9]*|0) __wc_per=512 ;;
    *) __wc_per=$WEB_MEMORY ;;
  esac
  WEB_CONCURRENCY=$((MEMORY_AVAILABLE / __wc_per))
  if [ "$WEB_CONCURRENCY" -lt 1 ]; then
    WEB_CONCURRENCY=1
  elif [ "$WEB_CONCURRENCY" -gt 200 ]; then
    WEB_CONCURRENCY=1
    echo "WEB_CONCURRENCY: $MEMORY_AVAILABLE MB of memory is no dyno's limit (not running on Heroku?);" \\
      "using 1 process: set WEB_CONCURRENCY to choose" >&2
  fi
  export WEB_CONCURRENCY
  # Heroku's marker: tools tell a computed default from a value the user chose.
  export WEB_CONCURRENCY_SET_BY=heroku/nodejs
fi

if [ "${LOG_CONCURRENCY:-}" = "true" ]; then
  echo "Detected $MEMORY_AVAILABLE MB available memory, $WEB_MEMORY MB limit per process (WEB_MEMORY)"
  echo "Recommending WEB_CONCURRENCY=$WEB_CONCURRENCY"
fi
unset -f __wc_memory_mb
unset __wc_limit __wc_mb __wc_per
"""


CGROUP_ROOT = "/sys/fs/cgroup"


def write_profile(app_dir: Path, cgroup_root: str = CGROUP_ROOT) -> Path:
    """Write .profile.d/WEB_CONCURRENCY.sh (replacing an earlier buildpack's, as on Heroku); return it.
    `cgroup_root` is where it reads the memory limit (tests hand it fake cgroup files)."""
    return write_profile_script(app_dir, PROFILE_NAME, PROFILE.replace(CGROUP_ROOT, cgroup_root))

"""The command line fed hostile option values (hypothesis): every one ends in a usage message or one error
line, never a traceback. Only commands that stop before any network or server are driven here: `build` with
a buildpack that does not exist (so nothing is built) and `run` of a slug that does not exist."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from slugbuild import cli

TOKENS = [*"0123456789.-+=eE KMGTiB", "١", "²", "𝟗", "\t", "nan", "inf", "9" * 400, "9" * 5000, "=", "A", "_",
          "\udcff", "'", '"', "#", "\n", "export "]
VALUES = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(TOKENS), max_size=8).map("".join))
BUILD_FLAGS = st.sampled_from(["--max-size", "--cache-limit", "--env", "--stack", "--commit", "--description",
                               "--timeout"])
SWITCHES = st.lists(st.sampled_from(["--offline", "--clear-cache", "--quiet", "--json"]), max_size=2)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "src").mkdir()
    (root / "src" / "index.txt").write_text("hi\n")
    return root


@contextlib.contextmanager
def restored(sigterm: object) -> Iterator[None]:
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, sigterm)


def main_says(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in-process: (exit status, stderr); any exception but argparse's exit fails the test."""
    err = io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own; later tests expect the default
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), restored(sigterm):
        try:
            status = cli.main(argv)
        except SystemExit as exc:  # argparse: usage and one `error:` line
            status = exc.code if isinstance(exc.code, int) else 2
            assert status in (0, 2) and (status == 0 or "error:" in err.getvalue().splitlines()[-1])
    return status, err.getvalue()


def assert_one_error_line(status: int, stderr: str) -> None:
    assert status != 0 and "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith(" !")]
    assert len(lines) <= 1 or status == 2, stderr


@given(st.lists(st.tuples(BUILD_FLAGS, VALUES), max_size=4), SWITCHES, VALUES, st.binary(max_size=40))
@example([("--max-size", "9" * 400)], [], "slug.tgz", b"")
@example([], [], "\udcff.tgz", b"")
@example([("--timeout", "nan"), ("--env", "=x")], ["--offline"], "..", b"A='open\n")
def test_build_options_end_in_one_line(place, options, switches, output, env_file):
    (place / "vars.env").write_bytes(env_file)
    argv = ["build", str(place / "src"), "-o", str(place / output.replace("/", "_")), "--cache-dir",
            str(place / "cache"), "--env-file", str(place / "vars.env"), "--buildpack", "no-such-buildpack",
            *switches, *(part for flag, value in options for part in (flag, value))]
    assert_one_error_line(*main_says(argv))


@given(port=VALUES, timeout=VALUES, env=VALUES, name=VALUES)
@example(port="9" * 5000, timeout="nan", env="x", name="slug.tgz")
@example(port="-1", timeout="-5", env="A=1", name="\udcff")
def test_run_options_end_in_one_line(place, port, timeout, env, name):
    argv = ["run", str(place / f"missing-{name.replace('/', '_')}.tgz"), "--port", port, "--timeout", timeout,
            "--env", env]
    assert_one_error_line(*main_says(argv))


def test_regression_max_size_of_400_nines_is_one_line(place):
    status, stderr = main_says(["build", str(place / "src"), "--max-size", "9" * 400, "-o",
                                str(place / "s.tgz")])
    assert status == 2
    assert stderr.strip() == ("!     --max-size '99999999999999999999...99999999999999999999' is more than "
                              "1024T, the most slugbuild takes; give a size such as 500M or 1G")


TOO_LONG = "a name in it is longer than 255 bytes, which no file system allows; choose a shorter one"
NOT_A_NAME = "is not a file name (it holds a NUL or a character no file name can hold); fix the path"


@pytest.mark.parametrize(("flag", "value", "problem"), [
    ("-o", "9" * 400, TOO_LONG), ("-o", "slug\x00.tgz", NOT_A_NAME),
    ("--cache-dir", "c" * 300 + "/x", TOO_LONG), ("--env-file", "\ud800", NOT_A_NAME),
])
def test_regression_a_path_no_file_system_takes_is_one_line_naming_the_flag(place, flag, value, problem):
    output = [] if flag == "-o" else ["-o", str(place / "s.tgz")]
    argv = ["build", str(place / "src"), "-b", "none", *output, flag,
            str(place / value) if flag == "-o" else value]
    status, stderr = main_says(argv)
    assert status == 2 and len(stderr.strip().splitlines()) == 1
    assert stderr.strip().startswith(f"!     {flag} ") and stderr.strip().endswith(problem)


@pytest.mark.parametrize("argv", [["run", "9" * 400 + ".tgz", "--", "true"], ["9" * 400],
                                  ["run", "/".join(["d" * 200] * 25), "--", "true"],
                                  ["build", "/".join(["d" * 200] * 25)]])
def test_regression_a_slug_or_source_name_too_long_for_the_file_system_is_one_line(place, argv):
    status, stderr = main_says(argv)  # pathlib's is_file() and exists() raise for such names
    assert status == 2 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_an_environment_variable_that_is_no_number_is_one_line(place, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "²")
    status, stderr = main_says(["build", str(place / "src"), "-o", str(place / "s.tgz"), "-b", "none"])
    assert status == 2 and stderr.strip().endswith(
        f"SOURCE_DATE_EPOCH='²' is not a whole number of seconds from 0 to {8**11 - 1}; unset it or fix it")
    assert os.environ["SOURCE_DATE_EPOCH"] == "²"


@pytest.mark.parametrize("timeout", ["nan", "inf", "-5", "0", "9e999", "²"])
def test_regression_a_timeout_that_would_wait_for_ever_or_crash_is_one_line(place, timeout):
    status, stderr = main_says(["run", str(place / "missing.tgz"), "--check", "--timeout", timeout])
    assert status == 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].endswith(
        f"argument --timeout: {timeout!r} is not a number of seconds above zero (such as 30)")


@given(slug_name=VALUES, env=VALUES)
def test_verify_options_end_in_one_line(place, slug_name, env):
    slug = place / f"missing-{slug_name.replace('/', '_')}.tgz"
    argv = ["verify", str(slug), str(place / "src"), "--env", env, "--cache-dir", str(place / "cache"),
            "--offline"]
    assert_one_error_line(*main_says(argv))

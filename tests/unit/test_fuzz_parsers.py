"""Every parser of user input, fed hostile and random input (hypothesis): each one either reads it or ends in
one SlugbuildError line, never a traceback. `SLUGBUILD_FUZZ=1` runs the long hunt (tests/conftest.py).

The `test_regression_*` tests are the cases such a run found, each pinned with the line a user now sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st
from slugbuild.buildpacks.go import gomod
from slugbuild.buildpacks.go import versions as go_versions
from slugbuild.buildpacks.node import notices, package_json, package_manager, preflight
from slugbuild.buildpacks.node import versions as node_versions
from slugbuild.buildpacks.python import install as python_install
from slugbuild.buildpacks.python import versions as python_versions
from slugbuild.buildpacks.ruby import bundler, framework, gemfile_lock
from slugbuild.buildpacks.ruby import versions as ruby_versions

from slugbuild import classic, config, procfile, source, verify
from slugbuild.errors import SlugbuildError
from slugbuild.fetch import download, unpack
from slugbuild.log import RecordingLog
from slugbuild.platform import release

# Pieces hostile version strings are made of: range syntax, non-ASCII digits (Arabic-Indic, superscript,
# mathematical), control characters, words the parsers know, and very long runs of digits.
TOKENS = [*"0123456789.^~<>=|-*xXv @+/", "١", "٣", "²", "𝟗", "\x00", "\n", "\t", "rc", "beta", "go", "ruby",
          "p", "latest", "lts/*", "jruby", "9" * 50, "9" * 5000]
VERSIONISH = st.lists(st.sampled_from(TOKENS), max_size=12).map("".join)
HOSTILE_TEXT = st.one_of(st.text(), VERSIONISH, st.binary().map(lambda b: b.decode("latin-1")))
JSON_VALUE = st.one_of(
    VERSIONISH.map(lambda v: f'"{v.replace(chr(92), "").replace(chr(34), "")}"'.replace("\n", "\\n")
                   .replace("\t", "\\t").replace("\x00", "\\u0000")),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n), st.sampled_from(
        ["1e999", "-1e999", "NaN", "Infinity", "-0", "0.5", "[]", "{}", "null", "true", '"@"', '"pnpm@"',
         '"yarn@9999999999999999999.0.0"', '"npm@1+sha"', '["24.x"]', '{"node": "24"}']))

NODE_INDEX = node_versions.NodeIndex([node_versions.NodeRelease(v, lts) for v, lts in (
    ("26.1.0", None), ("24.11.0", "Krypton"), ("22.21.1", "Jod"), ("18.20.8", "Hydrogen"))])
GO_RELEASES = [{"version": v, "stable": True, "files": [
    {"os": "linux", "arch": "amd64", "kind": "archive", "filename": f"{v}.linux-amd64.tar.gz",
     "sha256": "a" * 64}]}
    for v in ("go1.25.5", "go1.24.11", "go1.20", "go1.26rc1")]


def one_line_or_value(call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)`, or None when it refused the input as a user error: one non-empty line."""
    try:
        return call(*args)
    except SlugbuildError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, message
        return None


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """One app directory, its files rewritten for each example."""
    return tmp_path_factory.mktemp("app")


def write_app(app: Path, **files: str | bytes) -> Path:
    for child in app.iterdir():
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for name, content in files.items():
        path = app / name.replace("_", ".").replace("dot.", ".")
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return app


# -- Node.js: package.json, engines, packageManager ----------------------------------------------------

def node_pipeline(app: Path) -> None:
    """What the Node.js buildpack does with package.json before anything is downloaded."""
    pkg = package_json.read(app)
    preflight.check(app, pkg)
    pkg.has_dependencies(), pkg.has_install_scripts(), pkg.has_script("start")
    requested = pkg.engine("node")
    resolution = node_versions.resolve(requested, NODE_INDEX)
    notices.end_of_life(resolution.version, NODE_INDEX.suggestion())
    notices.wide_range(requested, NODE_INDEX)
    package_manager.choose(app, pkg).npm_package()


@given(node=JSON_VALUE, npm=JSON_VALUE, yarn=JSON_VALUE, manager=JSON_VALUE, scripts=JSON_VALUE,
       lockfile=st.sampled_from(["", "yarn.lock", "pnpm-lock.yaml", "package-lock.json"]))
def test_package_json_engines_and_package_manager_never_crash(app, node, npm, yarn, manager, scripts,
                                                              lockfile):
    text = (f'{{"engines": {{"node": {node}, "npm": {npm}, "yarn": {yarn}}}, "packageManager": {manager}, '
            f'"scripts": {scripts}, "dependencies": {scripts}}}')
    files = {"package.json": text, **({lockfile: "__metadata:\n" if lockfile == "yarn.lock" else "{}"}
                                       if lockfile else {})}
    one_line_or_value(node_pipeline, write_app(app, **{k.replace(".", "_"): v for k, v in files.items()}))


@given(st.one_of(st.binary(), st.text().map(str.encode), JSON_VALUE.map(str.encode)))
def test_any_bytes_as_package_json_end_in_one_line_naming_it(app, data):
    try:
        node_pipeline(write_app(app, package_json=data))
    except package_json.BadPackageJson as exc:
        assert str(exc).startswith("Unable to parse package.json: ") and "\n" not in str(exc)
    except SlugbuildError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(("text", "why"), [
    ("[" * 100_000 + "]" * 100_000, "it nests arrays or objects too deeply"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "it nests arrays or objects too deeply"),
    ('{"engines": {"node": ' + "9" * 5000 + "}}", "a number has more than 4300 digits"),
])
def test_regression_deeply_nested_or_huge_number_package_json(app, text, why):
    with pytest.raises(package_json.BadPackageJson) as caught:
        package_json.read(write_app(app, package_json=text))
    assert str(caught.value) == (f"Unable to parse package.json: {why}; fix the JSON (a trailing comma or a "
                                 "missing quote is the usual cause)")


def test_regression_a_huge_float_engine_is_an_invalid_range_not_a_crash(app):
    with pytest.raises(node_versions.InvalidNodeRange, match="^engines.node 'inf' in package.json is not"):
        node_pipeline(write_app(app, package_json='{"engines": {"node": 1e999}}'))


# -- Ruby: Gemfile.lock, Gemfile, .ruby-version -----------------------------------------------------------

def ruby_pipeline(app: Path) -> None:
    lock = gemfile_lock.read(app)
    request = ruby_versions.resolve(app, lock)
    bundler.ruby_api(request.version)
    assert framework.detect(lock).description


GEM_NAMES = st.sampled_from(["railties", "rack", "thin", "puma", "rails"])


@given(ruby=VERSIONISH, bundled=VERSIONISH, gems=st.lists(st.tuples(GEM_NAMES, VERSIONISH), max_size=4),
       gemfile=HOSTILE_TEXT, ruby_version=HOSTILE_TEXT, noise=st.text(max_size=50))
def test_gemfile_lock_gemfile_and_ruby_version_never_crash(app, ruby, bundled, gems, gemfile, ruby_version,
                                                           noise):
    specs = "".join(f"    {name} ({version})\n" for name, version in gems)
    lock = (f"GEM\n  remote: https://rubygems.org/\n  specs:\n{specs}\nRUBY VERSION\n   ruby {ruby}\n\n"
            f"BUNDLED WITH\n   {bundled}\n{noise}")
    one_line_or_value(ruby_pipeline, write_app(app, Gemfile_lock=lock, Gemfile=gemfile,
                                               dot_ruby__version=ruby_version))


@pytest.mark.parametrize("version", ["١.٢.٣", "²", "3²", "𝟗.1", "9" * 5000])
def test_regression_non_ascii_digits_in_gemfile_lock_versions(app, version):
    lock = gemfile_lock.parse(f"GEM\n  specs:\n    railties ({version})\n\nRUBY VERSION\n   ruby {version}\n")
    assert lock.has_gem("railties") and lock.gem_major("railties") is None
    assert lock.ruby_version is None  # not a Ruby version: the default is used, with its warning
    assert framework.detect(lock).description  # whatever it decides, it decides without a traceback


# -- Go: go.mod directives and GOVERSION ------------------------------------------------------------------

def go_pipeline(text: str, goversion: str | None) -> None:
    mod = gomod.parse(text, Path("go.mod"))
    request = go_versions.requested({"GOVERSION": goversion} if goversion else {}, mod)
    go_versions.resolve(request, GO_RELEASES, "amd64", "http://127.0.0.1/dl/index.json")


@given(module=VERSIONISH, go=VERSIONISH, heroku=VERSIONISH, install=VERSIONISH,
       goversion=st.none() | VERSIONISH, noise=st.text(max_size=50))
def test_go_mod_directives_and_goversion_never_crash(module, go, heroku, install, goversion, noise):
    text = f"module {module}\n\ngo {go}\n// +heroku goVersion {heroku}\n// +heroku install {install}\n{noise}"
    one_line_or_value(go_pipeline, text, goversion)


@given(st.text())
def test_any_go_mod_text_never_crashes(text):
    one_line_or_value(go_pipeline, text, None)


@pytest.mark.parametrize("directive", ["1." + "9" * 5000, "9" * 5000 + ".1", "١.٢٥", "1.25.𝟗"])
def test_regression_a_go_directive_of_thousands_of_digits_or_foreign_digits(directive):
    with pytest.raises(SlugbuildError) as caught:
        go_pipeline(f"module example.com/x\n\ngo {directive}\n", None)
    assert str(caught.value).startswith("go.mod go directive asks for Go ")
    assert str(caught.value).endswith(", which is not a Go version; use a version such as 1.25 or 1.25.5")


# -- Procfile, .slugignore ----------------------------------------------------------------------------------

@given(st.text())
def test_any_procfile_text_gives_types_or_one_line_naming_its_line(text):
    types = one_line_or_value(procfile.parse, text, RecordingLog())
    if types is None:
        with pytest.raises(procfile.BadProcessType, match=r"^Procfile:\d+: process type "):
            procfile.parse(text, RecordingLog())
    else:
        assert all(procfile.PROCESS_TYPE.match(name) and command for name, command in types.items())


@given(st.binary())
def test_any_procfile_bytes_end_in_one_line(app, data):
    one_line_or_value(procfile.read, write_app(app, Procfile=data), RecordingLog())


@given(st.text(), st.lists(st.text(min_size=1).filter(lambda s: "/" not in s), min_size=1, max_size=8),
       st.booleans())
def test_any_slugignore_parses_and_matches_any_path(text, path, is_dir):
    for pattern in source.parse_slugignore(text, RecordingLog()):
        assert pattern.matches(tuple(path), is_dir) in (True, False)


# -- config files and values: .env, --env, --max-size, SOURCE_DATE_EPOCH, --process-type, vN --------------

@given(st.binary())
@example(b"A=1\nB='open\n")
@example(b"\xff\xfe=1\n")
def test_any_env_file_gives_vars_or_one_line_naming_its_line(app, data):
    path = write_app(app, dot_env=data) / ".env"
    try:
        config.read_env_file(path)
    except SlugbuildError as exc:
        assert str(exc).startswith((f"{path}:", f"--env-file {path}")) and "\n" not in str(exc)


@given(st.lists(HOSTILE_TEXT, max_size=4))
def test_any_env_pairs_parse_or_end_in_one_line(pairs):
    one_line_or_value(config.parse_env_pairs, pairs)


@given(st.one_of(HOSTILE_TEXT, st.from_regex(r"\A\s*[0-9]{1,500}(\.[0-9]{1,500})?\s*[kKmMgGtT]?i?[bB]?\s*\Z",
                                             fullmatch=True)))
def test_any_max_size_is_a_positive_byte_count_or_one_line(text):
    size = one_line_or_value(config.parse_size, text)
    assert size is None or size > 0


@pytest.mark.parametrize(("text", "problem"), [
    ("9" * 400, "is more than 1024T, the most slugbuild takes; give a size such as 500M or 1G"),
    ("9" * 400 + "G", "is more than 1024T, the most slugbuild takes; give a size such as 500M or 1G"),
    ("1" + "0" * 20 + "T", "is more than 1024T, the most slugbuild takes; give a size such as 500M or 1G"),
    ("²", "is not a size above zero: use bytes or a number with K, M or G (500M, 1G)"),
    ("١٠M", "is not a size above zero: use bytes or a number with K, M or G (500M, 1G)"),
    ("0.0000001", "is not a size above zero: use bytes or a number with K, M or G (500M, 1G)"),
])
def test_regression_max_size_of_400_nines_or_foreign_digits(text, problem):
    with pytest.raises(SlugbuildError) as caught:
        config.parse_size(text)
    shown = repr(text if len(text) <= 40 else f"{text[:20]}...{text[-20:]}")
    assert str(caught.value) == f"--max-size {shown} {problem}"


@given(HOSTILE_TEXT.filter(lambda text: "\x00" not in text))  # no environment variable holds a NUL
@example("²")
@example("9" * 5000)
def test_any_source_date_epoch_is_seconds_or_one_line(raw):
    with mock.patch.dict(os.environ, {"SOURCE_DATE_EPOCH": raw}):
        epoch = one_line_or_value(config.source_date_epoch)
    assert epoch is None or 0 <= epoch <= config.MAX_EPOCH_S


@given(st.lists(HOSTILE_TEXT, max_size=3))
def test_any_process_type_pairs_parse_or_end_in_one_line(pairs):
    one_line_or_value(release.parse_process_types, pairs)


@given(HOSTILE_TEXT)
@example("v" + "9" * 5000)
@example("v١٢")
def test_any_rollback_version_is_a_number_or_one_line(text):
    version = one_line_or_value(release.parse_version, text)
    assert version is None or version >= 0


# -- classic buildpacks: bin/release YAML -------------------------------------------------------------------

YAML_SCALAR = st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none())
YAML_DOCS = st.recursive(YAML_SCALAR, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=10)


@given(st.one_of(st.text(), YAML_DOCS.map(lambda d: __import__("yaml").safe_dump(
    {"default_process_types": d, "config_vars": d})), st.sampled_from(
    ["[" * 2000, "- " * 2000 + "x", "a: &a [*a]", "!!python/object:os.system x", "x: !!binary ===",
     "default_process_types: {web: 2001-01-01}", "config_vars: {? [a]: b}"])))
def test_any_bin_release_output_gives_release_info_or_one_line(text):
    one_line_or_value(classic._release_info, "./bp", text, "Bp")


def test_regression_deeply_nested_bin_release_yaml():
    with pytest.raises(classic.BuildpackUnusable, match=r"^buildpack ./bp: bin/release printed unreadable"):
        classic._release_info("./bp", "[" * 2000, "Bp")


# -- `slugbuild verify`: the build report beside a slug ---------------------------------------------------

JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
JSONISH = st.recursive(JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=12)
RUNTIME = st.fixed_dictionaries({}, optional={k: JSONISH | st.text(max_size=5) for k in
                                              (*verify.RUNTIME_FIELDS, "requested", "verified")})
REPORT = st.fixed_dictionaries({}, optional={
    "runtimes": JSONISH | st.lists(RUNTIME, max_size=2), "buildpacks": JSONISH, "commit": JSONISH,
    "source_date_epoch": JSONISH | st.integers(), "stack": JSONISH})


@given(REPORT)
@example({"source_date_epoch": 1e400})
@example({"runtimes": [{"name": "node"}]})
@example({"buildpacks": "node"})
def test_any_build_report_gives_rebuild_settings_or_one_line(report):
    settings = config.BuildSettings(source_dir=Path("/nonexistent/src"), output=Path("/nonexistent/s.tgz"))
    one_line_or_value(verify.rebuild_settings, settings, report, Path("/nonexistent/rebuilt.tgz"))


def test_regression_a_hand_edited_report_is_refused_naming_its_file(tmp_path):
    slug_path = tmp_path / "slug.tgz"
    slug_path.write_bytes(b"not really a slug")
    checksum = f"SHA256:{hashlib.sha256(slug_path.read_bytes()).hexdigest()}"
    (tmp_path / "slug.tgz.json").write_text(json.dumps({"checksum": checksum, "runtimes": [{"name": 1}]}))
    with pytest.raises(verify.BadReport) as caught:
        verify.read_report(slug_path)
    assert str(caught.value) == (f"{tmp_path}/slug.tgz.json has a runtime without name, source, version, "
                                 "url, sha256 as strings, not what slugbuild writes; rebuild the slug for a "
                                 "new report")


# -- limits and headers from the environment or a mirror --------------------------------------------------

@given(size=HOSTILE_TEXT, files=HOSTILE_TEXT)
@example(size="9" * 400, files="9" * 5000)
@example(size="1G", files="²")
def test_any_unpack_limits_in_the_environment_parse_or_end_in_one_line(size, files):
    env = {unpack.MAX_SIZE_ENV: size, unpack.MAX_FILES_ENV: files}
    limits = one_line_or_value(unpack.Limits.from_env, env)
    assert limits is None or (limits.max_size_b > 0 and limits.max_files > 0)


@given(HOSTILE_TEXT)
@example("²")
@example("9" * 5000)
def test_any_content_length_or_range_from_a_mirror_is_a_number_or_ignored(text):
    assert download._number(text) is None or download._number(text) >= 0
    response = requests.Response()
    response.headers["Content-Range"] = f"bytes {text}-9/10"
    start = download._range_start(response)
    assert start is None or start == download._number(text.partition("-")[0])


# -- Python: .python-version, runtime.txt, Pipfile.lock, poetry.lock/uv.lock/pyproject.toml ---------------

@given(name=st.sampled_from([".python-version", "runtime.txt", "Pipfile.lock"]),
       text=st.one_of(HOSTILE_TEXT, VERSIONISH.map(lambda v: f"python-{v}"), JSON_VALUE.map(
           lambda v: f'{{"_meta": {{"requires": {{"python_version": {v}}}}}}}'), JSON_VALUE))
@example(name=".python-version", text="3.13." + "9" * 5000)
@example(name="Pipfile.lock", text='{"_meta": []}')
@example(name="Pipfile.lock", text="[" * 100_000)
@example(name="Pipfile.lock", text='{"a": ' + "9" * 5000 + "}")
def test_any_python_version_file_gives_a_version_or_one_line(app, name, text):
    write_app(app, **{name.replace(".", "_").replace("_python-version", "dot_python-version"): text})
    one_line_or_value(python_versions.request, app, "pipenv")


@given(name=st.sampled_from(["poetry.lock", "pyproject.toml"]), text=st.one_of(
    st.text(), st.sampled_from(["a = " + "[" * 5000, "a = " + "{b = " * 3000, "a = " + "9" * 5000])))
def test_any_poetry_lock_or_pyproject_toml_parses_or_ends_in_one_line(app, name, text):
    other = "pyproject.toml" if name == "poetry.lock" else "poetry.lock"
    write_app(app, **{name.replace(".", "_"): text, other.replace(".", "_"): ""})
    one_line_or_value(python_install.check_lockfile, app, "poetry")


@given(JSONISH)
@example({"metadata": []})
@example({"metadata": {"component": {"hashes": [{"content": 1}]}}})
def test_any_sbom_document_names_a_sha256_or_none(document):
    found = release._sbom_sha256(document)
    assert found is None or isinstance(found, str)

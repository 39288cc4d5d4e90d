"""The Go buildpack against a fake toolchain (a stub `go`) from a file:// mirror with a go.dev-style index."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from slugbuild.buildpacks.go import GoBuildpack
from slugbuild.buildpacks.go.buildpack import legacy_tool
from slugbuild.buildpacks.go.install import binary_name
from slugbuild.buildpacks.go.toolchain import host_arch

from slugbuild.buildpack import BuildContext, Detection
from slugbuild.errors import BuildFailed
from slugbuild.fetch import Fetcher
from slugbuild.log import RecordingLog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "go"
# The stub records each call with the settings that matter, lists $FAKE_GO_MAINS as the main packages,
# and `go install` writes into GOBIN one file per main package its arguments name (an import path,
# `./...`, `./dir/...` or `./dir`), and something into GOCACHE.
FAKE_GO = """#!/bin/sh
echo "go $* | GOTOOLCHAIN=$GOTOOLCHAIN GOPROXY=$GOPROXY GOFLAGS=$GOFLAGS" >> "$FAKE_GO_LOG"
built() { echo "$1"; echo built > "$GOBIN/${1##*/}"; }
case "$1" in
  list) for p in $FAKE_GO_MAINS; do echo "$p"; done ;;
  install) mkdir -p "$GOBIN" "$GOCACHE"; touch "$GOCACHE/entry"; printf 'internal/abi\nruntime\nnet/http\n'
    for a in "$@"; do for p in $FAKE_GO_MAINS; do
      case "$a" in
        ./...|"$p") built "$p" ;;
        ./*/...) d="${a#./}"; d="${d%/...}"; case "$p" in */"$d"/*) built "$p" ;; esac ;;
        ./*) case "$p" in */"${a#./}") built "$p" ;; esac ;;
      esac
    done; done ;;
esac
"""


def fake_toolchain() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = FAKE_GO.encode()
        info = tarfile.TarInfo("go/bin/go")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class GoApp:
    def __init__(self, root: Path, source: Path) -> None:
        self.root = root
        self.app_dir = root / "app"
        shutil.copytree(source, self.app_dir)
        self.mirror = root / "mirror"
        self.mirror.mkdir()
        name = f"go1.25.5.linux-{host_arch()}.tar.gz"
        (self.mirror / name).write_bytes(fake_toolchain())
        self.sha256 = hashlib.sha256((self.mirror / name).read_bytes()).hexdigest()
        entry = {"filename": name, "os": "linux", "arch": host_arch(), "version": "go1.25.5",
                 "sha256": self.sha256, "size": 1, "kind": "archive"}
        (self.mirror / "index.json").write_text(json.dumps([{"version": "go1.25.5", "stable": True,
                                                             "files": [entry]}]))
        self.calls_file = root / "calls.log"

    def context(self, config: dict[str, str] | None = None, log: RecordingLog | None = None,
                mains: str = "example.com/hello") -> BuildContext:
        log = log or RecordingLog()
        env = {"PATH": "/usr/bin:/bin", "SLUGBUILD_GO_MIRROR": self.mirror.as_uri(),
               "FAKE_GO_LOG": str(self.calls_file), "FAKE_GO_MAINS": mains}
        return BuildContext(self.app_dir, self.root / "cache" / "go", self.root / "env", env, config or {},
                            "heroku-24", Fetcher(self.root / "cache", log, retries=0), log)

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []


def build(app: GoApp, config: dict[str, str] | None = None, mains: str = "example.com/hello",
          ) -> tuple[dict[str, str], RecordingLog, BuildContext]:
    log = RecordingLog()
    ctx = app.context(config, log, mains)
    buildpack = GoBuildpack()
    buildpack.compile(ctx)
    return dict(buildpack.release(ctx).process_types), log, ctx


@pytest.fixture
def go_app(tmp_path) -> GoApp:
    return GoApp(tmp_path, EXAMPLE)


def test_one_main_package_is_installed_into_bin_and_becomes_web(go_app):
    procs, log, ctx = build(go_app)
    assert procs == {"web": "bin/hello"}
    assert (go_app.app_dir / "bin" / "hello").read_text() == "built\n"
    assert "Installing go 1.25.5 (1.25 from go.mod go directive)" in log.texts("step")
    [install] = [c for c in go_app.calls() if c.startswith("go install")]
    assert install == ("go install -v -tags heroku -trimpath -buildvcs=false example.com/hello | "
                       "GOTOOLCHAIN=local GOPROXY= GOFLAGS=-modcacherw")
    assert ctx.runtimes[0].as_json() == {
        "name": "go", "requested": "1.25", "source": "go.mod go directive", "version": "1.25.5",
        "url": f"{go_app.mirror.as_uri()}/go1.25.5.linux-{host_arch()}.tar.gz", "sha256": go_app.sha256}


def test_the_toolchain_stays_out_of_the_app(go_app):
    build(go_app)
    files = {p.relative_to(go_app.app_dir).as_posix() for p in go_app.app_dir.rglob("*") if p.is_file()}
    assert files == {"go.mod", "main.go", "bin/hello", ".profile.d/go.sh"}
    assert (go_app.app_dir / ".profile.d" / "go.sh").read_text() == 'export PATH="$PATH:$HOME/bin"\n'


def test_a_rebuild_reuses_the_toolchain_and_the_build_cache(go_app):
    _, first, _ = build(go_app)
    assert "Reusing the Go module and build caches" not in first.texts("info")
    mirror_tarball = next(go_app.mirror.glob("*.tar.gz"))
    mirror_tarball.unlink()  # a rebuild that needed the download would now fail
    _, second, _ = build(go_app)
    assert "Using cached Go 1.25.5 toolchain" in second.texts("info")
    assert "Reusing the Go module and build caches" in second.texts("info")


def test_a_toolchain_changed_in_the_cache_is_unpacked_again(go_app):
    build(go_app)
    [go] = (go_app.root / "cache" / "unpacked").glob("*/tree/go/bin/go")
    go.write_text("#!/bin/sh\nexit 3\n")  # a build that wrote into GOROOT
    _, log, _ = build(go_app)
    assert go.read_text() == FAKE_GO
    assert "Using cached Go 1.25.5 toolchain" not in log.texts("info")
    assert (f"the cache's unpacked go1.25.5.linux-{host_arch()}.tar.gz changed since it was unpacked "
            "(go/bin/go): a build wrote into it; unpacking it again") in log.texts("warn")


def test_several_main_packages_give_one_process_type_each(tmp_path):
    app = GoApp(tmp_path, FIXTURES / "go-two-commands")
    procs, _, _ = build(app, mains="example.com/tools/cmd/api example.com/tools/cmd/worker")
    assert procs == {"api": "bin/api", "worker": "bin/worker"}


def test_the_package_spec_config_var_wins_over_go_mod(tmp_path):
    app = GoApp(tmp_path, FIXTURES / "go-heroku-comments")
    procs, log, _ = build(app, {"GO_INSTALL_PACKAGE_SPEC": "./cmd/jobs", "GOVERSION": "1.25"},
                          mains="example.com/commented/cmd/jobs")
    assert procs == {"web": "bin/jobs"}
    assert [c.split(" | ")[0] for c in app.calls() if c.startswith("go install")] == [
        "go install -v -tags heroku -trimpath -buildvcs=false ./cmd/jobs"]
    assert "Using the GOVERSION config var, which overrides go.mod" in log.texts("warn")


def test_heroku_install_comment_names_the_packages(tmp_path):
    app = GoApp(tmp_path, FIXTURES / "go-heroku-comments")
    with pytest.raises(BuildFailed, match="Go 1.24 .go.mod // .heroku goVersion. has no linux-"):
        build(app)  # the comment's goVersion 1.24 is not in this mirror: it won over `go 1.25`
    procs, _, _ = build(app, {"GOVERSION": "1.25.5"},
                        mains="example.com/commented/cmd/web example.com/commented/cmd/jobs")
    assert procs == {"jobs": "bin/jobs", "web": "bin/web"}
    [install] = [c.split(" | ")[0] for c in app.calls() if c.startswith("go install")]
    assert install.endswith("-buildvcs=false ./cmd/web ./cmd/jobs")


def test_vendor_builds_with_mod_vendor_and_config_reaches_go(tmp_path):
    app = GoApp(tmp_path, FIXTURES / "go-vendored")
    build(app, {"GOPROXY": "off", "GOFLAGS": "-ldflags=-s"}, mains="example.com/vendored")
    [install] = [c for c in app.calls() if c.startswith("go install")]
    assert install == ("go install -v -tags heroku -trimpath -buildvcs=false -mod=vendor "
                       "example.com/vendored | "
                       "GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-ldflags=-s -modcacherw")


def test_no_version_in_go_mod_uses_the_default_with_a_warning(tmp_path):
    app = GoApp(tmp_path, FIXTURES / "go-no-version")
    _, log, _ = build(app, mains="example.com/noversion")
    assert "Installing go 1.25.5 (default)" in log.texts("step")
    assert log.texts("warn") == ["go.mod has no `go` directive; using the default Go 1.25. Add `go 1.25` (or "
                                 "the version you test with) to go.mod."]


def test_no_main_package_installs_dot_with_herokus_warning_and_offers_no_process_types(tmp_path):
    # heroku/heroku-buildpack-go bin/compile: "No main packages found in module", then handleDefaultPkgSpec
    app = GoApp(tmp_path, FIXTURES / "go-library-only")
    procs, log, _ = build(app, mains="")
    assert procs == {}
    [install] = [c.split(" | ")[0] for c in app.calls() if c.startswith("go install")]
    assert install.endswith("-buildvcs=false .")
    assert log.texts("warn") == [
        "No main packages found in module example.com/library; installing package '.' (the default). "
        "To install others, add `// +heroku install ./cmd/...` to go.mod"]


MOD_CMD_MAINS = "github.com/heroku/fixture/cmd/fixture github.com/heroku/fixture/cmd/other"


def test_herokus_mod_cmd_installs_and_names_every_main_package(tmp_path):
    # heroku/heroku-buildpack-go test/run.sh testModcmdDetection, fixture test/fixtures/mod-cmd
    app = GoApp(tmp_path, FIXTURES / "go-heroku-mod-cmd")
    procs, log, _ = build(app, {"GOVERSION": "1.25.5"}, mains=MOD_CMD_MAINS)
    assert procs == {"fixture": "bin/fixture", "other": "bin/other"}
    infos = log.texts("info")
    at = infos.index("Detected the following main packages to install:")
    assert infos[at + 1:at + 3] == MOD_CMD_MAINS.split()
    [install] = [c.split(" | ")[0] for c in app.calls() if c.startswith("go install")]
    assert install.endswith(f"-buildvcs=false {MOD_CMD_MAINS}")


def test_herokus_package_spec_override_installs_only_what_it_names(tmp_path):
    # heroku/heroku-buildpack-go test/run.sh testModPackageSpecOverride: bin/other is not built. Heroku's
    # setupProcfile would still write `other: bin/other`; slugbuild leaves out what was not built.
    app = GoApp(tmp_path, FIXTURES / "go-heroku-mod-cmd")
    procs, log, _ = build(app, {"GOVERSION": "1.25.5", "GO_INSTALL_PACKAGE_SPEC": "./cmd/fixture"},
                          mains=MOD_CMD_MAINS)
    assert not (app.app_dir / "bin" / "other").exists()
    assert procs == {"fixture": "bin/fixture"}
    assert any(w.startswith("Using the GO_INSTALL_PACKAGE_SPEC config var (./cmd/fixture)")
               for w in log.texts("warn"))


def test_herokus_mod_install_builds_the_comment_and_a_procfile_means_no_default_types(tmp_path):
    # heroku/heroku-buildpack-go test/run.sh testModInstall, fixture test/fixtures/mod-install (it has a
    # Procfile, so setupProcfile writes nothing and go list is not needed)
    app = GoApp(tmp_path, FIXTURES / "go-heroku-mod-install")
    mains = ("github.com/heroku/fixture/cmd/fixture1 github.com/heroku/fixture/cmd/fixture2 "
             "github.com/heroku/fixture/other")
    procs, _, _ = build(app, mains=mains)
    assert procs == {}
    assert sorted(p.name for p in (app.app_dir / "bin").iterdir()) == ["fixture1", "fixture2", "other"]
    assert [c.split(" ")[1] for c in app.calls()] == ["install"]
    [install] = [c.split(" | ")[0] for c in app.calls()]
    assert install.endswith("-buildvcs=false ./cmd/... ./other")


def test_a_procfile_with_only_a_worker_gets_no_web(go_app):
    (go_app.app_dir / "Procfile").write_text("worker: bin/hello --work\n")
    procs, _, _ = build(go_app)
    assert procs == {}
    assert (go_app.app_dir / "bin" / "hello").is_file()


def test_a_bin_file_in_the_way_fails_in_one_line(go_app):
    (go_app.app_dir / "bin").write_text("not a directory")
    with pytest.raises(BuildFailed, match="^bin is a file, but go install writes the app's programs there"):
        build(go_app)


@pytest.mark.parametrize(("fixture", "marker", "tool"), [
    ("go-legacy-dep", "Gopkg.lock", "dep"),
    ("go-legacy-glide", "glide.yaml", "glide"),
    ("go-legacy-godep", "Godeps/Godeps.json", "godep"),
    ("go-legacy-govendor", "vendor/vendor.json", "govendor"),
])
def test_legacy_tools_are_detected_only_to_fail_with_a_migration_message(fixture, marker, tool):
    message = (f"{marker}: support for {tool} has been removed; migrate the app to Go modules "
               "(`go mod init <module path>`, `go mod tidy`) and commit go.mod and go.sum")
    assert legacy_tool(FIXTURES / fixture) == (marker, tool)
    assert GoBuildpack().detect(FIXTURES / fixture) == Detection("Go", error=message)


def test_detection(tmp_path):
    assert GoBuildpack().detect(EXAMPLE) == Detection("Go")
    assert GoBuildpack().detect(tmp_path) is None


@pytest.mark.parametrize(("path", "name"), [
    ("example.com/hello", "hello"), ("example.com/tools/cmd/api", "api"), ("example.com/tool/v2", "tool"),
    ("hello", "hello"), ("example.com/v2", "example.com"), ("example.com/tool/v1", "v1"),
])
def test_binary_names_follow_go_install(path, name):
    assert binary_name(path) == name


def test_offline_go_uses_only_the_module_cache(go_app):
    ctx = go_app.context({"GOPROXY": "https://proxy.example"})
    ctx.offline = True
    GoBuildpack().compile(ctx)
    [install] = [c for c in go_app.calls() if c.startswith("go install")]
    assert install.endswith("| GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-modcacherw -mod=mod")


@pytest.mark.parametrize(("module", "mains"), [("example.com/hello", "example.com/hello"),
                                                ("hello", "hello hello/cmd/worker")])
def test_a_cold_build_shows_the_apps_packages_not_the_standard_librarys(go_app, module, mains):
    (go_app.app_dir / "go.mod").write_text(f"module {module}\n\ngo 1.25\n")
    _, log, _ = build(go_app, mains=mains)
    assert log.texts("child") == mains.split()

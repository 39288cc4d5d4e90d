"""bin/go-pre-compile and bin/go-post-compile, GO_LINKER_SYMBOL/GO_LINKER_VALUE and a bin that is no
directory, against the stub toolchain of test_go_buildpack."""

from __future__ import annotations

import pytest
from slugbuild.buildpacks.go import GoBuildpack
from slugbuild.buildpacks.go.hooks import HookFailed
from test_go_buildpack import EXAMPLE, GoApp, build

from slugbuild.errors import BuildFailed

# Each hook notes where it ran, which go it sees, and whether `go install` has written the binary yet.
HOOK = """#!/bin/sh
echo "$(basename "$0") cwd=$(pwd) go=$(command -v go) built=$(test -f bin/hello && echo yes || echo no)" \\
  >> "$HOOK_LOG"
"""
SYMBOL = {"GO_LINKER_SYMBOL": "main.version"}


@pytest.fixture
def go_app(tmp_path) -> GoApp:
    return GoApp(tmp_path, EXAMPLE)


def build_with_hook_log(app: GoApp) -> tuple[list[str], list[str]]:
    """Build with $HOOK_LOG in the build environment (Go hooks, like Heroku's, see no other config vars)."""
    ctx = app.context()
    ctx.env["HOOK_LOG"] = str(app.root / "hooks.log")
    GoBuildpack().compile(ctx)
    return (app.root / "hooks.log").read_text().splitlines(), ctx.log.texts("step")


def add_hook(app: GoApp, name: str, text: str = HOOK) -> None:
    hook = app.app_dir / "bin" / name
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(text)
    hook.chmod(0o644)  # as a checkout without the executable bit would leave it


def test_hooks_run_around_go_install_in_the_app_with_go_on_path(go_app):
    add_hook(go_app, "go-pre-compile")
    add_hook(go_app, "go-post-compile")
    ran, steps = build_with_hook_log(go_app)
    go = next(c for c in ran[0].split() if c.startswith("go=")).removeprefix("go=")
    assert go.endswith("/go/bin/go") and not go.startswith(str(go_app.app_dir))  # the cached toolchain
    assert ran == [f"go-pre-compile cwd={go_app.app_dir} go={go} built=no",
                   f"go-post-compile cwd={go_app.app_dir} go={go} built=yes"]
    assert steps.index("Running bin/go-pre-compile hook") < steps.index("Running bin/go-post-compile hook")


def test_a_hook_without_a_shebang_runs_as_sh(go_app):
    add_hook(go_app, "go-pre-compile", 'echo "plain sh" > "$HOOK_LOG"\n')
    assert build_with_hook_log(go_app)[0] == ["plain sh"]


def test_a_failing_hook_ends_the_build_before_go_install(go_app):
    add_hook(go_app, "go-pre-compile", "#!/bin/sh\necho 'generating failed'\nexit 4\n")
    with pytest.raises(HookFailed) as caught:
        build(go_app)
    assert str(caught.value) == ("bin/go-pre-compile failed with exit status 4; its output is above: fix the "
                                 "hook (or remove it) and build again")
    assert not any(call.startswith("go install") for call in go_app.calls())


def test_no_hooks_no_hook_steps(go_app):
    _, log, _ = build(go_app)
    assert not any("hook" in step for step in log.texts("step"))


def install_call(app: GoApp) -> str:
    [call] = [c for c in app.calls() if c.startswith("go install")]
    return call.split(" | ")[0]


@pytest.mark.parametrize(("config", "env", "flags"), [
    ({**SYMBOL, "GO_LINKER_VALUE": "v1.2.3"}, {}, "-ldflags -X main.version=v1.2.3"),
    (SYMBOL, {"SOURCE_VERSION": "0a1b2c"}, "-ldflags -X main.version=0a1b2c"),
    ({**SYMBOL, "GO_LINKER_VALUE": "v1.2.3"}, {"SOURCE_VERSION": "0a1b2c"},
     "-ldflags -X main.version=v1.2.3"),
    ({**SYMBOL, "GO_LINKER_VALUE": "v1 beta"}, {},
     "-ldflags -X 'main.version=v1 beta'"),
    ({"GO_LINKER_VALUE": "v1.2.3"}, {"SOURCE_VERSION": "0a1b2c"}, ""),
])
def test_linker_symbol_and_value_become_an_x_flag(go_app, config, env, flags):
    ctx = go_app.context(config)
    ctx.env.update(env)
    GoBuildpack().compile(ctx)
    expected = " ".join(filter(None, ["go install -v -tags heroku -trimpath -buildvcs=false", flags,
                                      "example.com/hello"]))
    assert install_call(go_app) == expected


def test_a_linker_symbol_with_no_value_anywhere_warns_and_builds_without_it(go_app):
    _, log, _ = build(go_app, SYMBOL)
    assert "-ldflags" not in install_call(go_app)
    assert any(w.startswith("GO_LINKER_SYMBOL is set, but there is no GO_LINKER_VALUE")
               for w in log.texts("warn"))


def test_a_value_with_both_quotes_is_refused_in_one_line(go_app):
    with pytest.raises(BuildFailed, match=r"^GO_LINKER_VALUE holds both ' and \" quotes"):
        build(go_app, {"GO_LINKER_SYMBOL": "main.v", "GO_LINKER_VALUE": "it's \"x\""})


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_bin_that_is_no_directory_fails_before_the_toolchain_is_fetched(go_app, kind):
    if kind == "file":
        (go_app.app_dir / "bin").write_text("not a directory")
    else:
        (go_app.app_dir / "bin").symlink_to("missing")
    with pytest.raises(BuildFailed) as caught:
        build(go_app)
    assert str(caught.value) == ("bin is a file, but go install writes the app's programs there; rename it "
                                 "(`git mv bin <new name>`) so bin can be a directory")
    assert go_app.calls() == []
    assert not (go_app.root / "cache" / "downloads").exists()  # nothing fetched,
    assert not (go_app.root / "cache" / "unpacked").exists()   # nothing unpacked

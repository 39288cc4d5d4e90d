"""The Go buildpack: go.mod in, binaries in bin/ out; the toolchain stays in the cache."""

from __future__ import annotations

from pathlib import Path

from slugbuild.buildpacks.go import gomod, hooks, install, inventory, toolchain
from slugbuild.buildpacks.go.versions import DEFAULT_GO, requested

from slugbuild.buildpack import BuildContext, Detection, ReleaseInfo
from slugbuild.errors import BuildFailed
from slugbuild.inventory import Inventory

# Markers of the dependency tools Go modules replaced, and the tool each one names.
LEGACY_TOOLS = (
    ("Godeps/Godeps.json", "godep"),
    ("Gopkg.lock", "dep"),
    ("Gopkg.toml", "dep"),
    ("glide.yaml", "glide"),
    ("vendor/vendor.json", "govendor"),
)
PROFILE = 'export PATH="$PATH:$HOME/bin"\n'


def legacy_tool(app_dir: Path) -> tuple[str, str] | None:
    """(marker file, tool name) of a pre-modules Go project, or None."""
    for marker, tool in LEGACY_TOOLS:
        if (app_dir / marker).is_file():
            return marker, tool
    return None


class GoBuildpack:
    """Detects go.mod; builds every main package (or the ones configured) with the requested Go."""

    name = "go"
    aliases = ("heroku/go",)

    def __init__(self) -> None:
        self._process_types: dict[str, str] = {}

    def detect(self, app_dir: Path) -> Detection | None:
        if (app_dir / "go.mod").is_file():
            return Detection("Go")
        legacy = legacy_tool(app_dir)
        if legacy:
            return Detection("Go", error=_legacy_message(*legacy))
        return None

    def compile(self, ctx: BuildContext) -> None:
        if not (ctx.app_dir / "go.mod").is_file():
            legacy = legacy_tool(ctx.app_dir)
            if legacy:
                raise BuildFailed(_legacy_message(*legacy))
            raise BuildFailed("go.mod not found; run `go mod init <module path>` and commit go.mod")
        mod = gomod.read(ctx.app_dir)
        install.check_bin_dir(ctx.app_dir)
        request = requested(ctx.config, mod)
        _warn_about(ctx, request.source)
        goroot = toolchain.install(ctx, request)
        ctx.prepend_path(goroot / "bin")
        env = install.go_env(ctx, goroot)
        hooks.run(ctx, hooks.PRE_COMPILE, env)
        self._process_types = self._build(ctx, mod, env)
        hooks.run(ctx, hooks.POST_COMPILE, env)
        ctx.write_profile("go.sh", PROFILE)

    def release(self, ctx: BuildContext) -> ReleaseInfo:
        return ReleaseInfo(process_types=dict(self._process_types), description="Go")

    def inventory(self, ctx: BuildContext) -> Inventory:
        """The modules go.mod and go.sum name, for the SBOM."""
        return inventory.read(ctx.app_dir)

    def _build(self, ctx: BuildContext, mod: gomod.GoMod, env: dict[str, str]) -> dict[str, str]:
        warm = any((ctx.cache_dir / "go-build-cache").glob("*"))
        has_procfile = (ctx.app_dir / "Procfile").is_file()
        ctx.log.step("Determining packages to install")
        spec, source = install.package_spec(ctx, mod)
        # Heroku lists the module's main packages to pick what to install and, without a Procfile,
        # to name the process types (setupProcfile); with both settled otherwise, go list is not run.
        mains = install.main_packages(ctx, env) if spec is None or not has_procfile else []
        if source == install.SPEC_CONFIG_VAR:
            ctx.log.warn(f"Using the GO_INSTALL_PACKAGE_SPEC config var ({' '.join(spec or [])}), which "
                         "overrides go.mod; unset it to build what go.mod names")
        if spec is None:
            spec = mains or ["."]
            self._log_mains(ctx, mod, mains)
        ctx.log.step(f"Running: go install -v -tags heroku {' '.join(spec)} ({source})")
        if warm:
            ctx.log.info("Reusing the Go module and build caches")
        install.install(ctx, env, spec, mod.module)
        return {} if has_procfile else default_process_types(ctx, mains)

    @staticmethod
    def _log_mains(ctx: BuildContext, mod: gomod.GoMod, mains: list[str]) -> None:
        if not mains:
            ctx.log.warn(f"No main packages found in module {mod.module}; installing package '.' (the "
                         "default). To install others, add `// +heroku install ./cmd/...` to go.mod")
            return
        ctx.log.info("Detected the following main packages to install:")
        for package in mains:
            ctx.log.info(package)


def default_process_types(ctx: BuildContext, mains: list[str]) -> dict[str, str]:
    """Heroku's setupProcfile for an app without a Procfile: `web` for the module's one main package,
    else one entry per main package named after it; entries whose program was not built are left out."""
    names = [install.binary_name(p) for p in mains]
    built = [n for n in names if (ctx.app_dir / "bin" / n).is_file()]
    procs = {"web": f"bin/{built[0]}"} if len(names) == 1 and built else {n: f"bin/{n}" for n in built}
    if procs:
        ctx.log.step("Default process types (the app has no Procfile):")
        for name, command in procs.items():
            ctx.log.info(f"{name}: {command}")
    return procs


def _legacy_message(marker: str, tool: str) -> str:
    return (f"{marker}: support for {tool} has been removed; migrate the app to Go modules "
            "(`go mod init <module path>`, `go mod tidy`) and commit go.mod and go.sum")


def _warn_about(ctx: BuildContext, source: str) -> None:
    if source == "default":
        ctx.log.warn(f"go.mod has no `go` directive; using the default Go {DEFAULT_GO}. "
                     f"Add `go {DEFAULT_GO}` (or the version you test with) to go.mod.")
    elif source == "GOVERSION config var":
        ctx.log.warn("Using the GOVERSION config var, which overrides go.mod")

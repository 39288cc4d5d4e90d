"""`go install` of the app's main packages into bin/, with the module and build caches in the cache dir."""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from slugbuild.buildpacks.go.gomod import GoMod

from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed

# Config vars the go command itself reads; everything else stays out of the build.
PASSTHROUGH = ("GOPROXY", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOSUMDB", "GOINSECURE", "CGO_ENABLED")
SPEC_CONFIG_VAR = "GO_INSTALL_PACKAGE_SPEC config var"
_MAIN_TEMPLATE = '{{if eq .Name "main"}}{{.ImportPath}}{{end}}'
_IMPORT_PATH = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-~]+)*$")
_MAJOR_SUFFIX = re.compile(r"^v(?!0)(?!1$)[0-9]+$")  # v2, v10; not v0 or v1 (as cmd/go decides)


def go_env(ctx: BuildContext, goroot: Path) -> dict[str, str]:
    """The environment every go command of the build runs with."""
    _telemetry_off(ctx.env.get("HOME"))
    cache = ctx.cache_dir
    flags = ctx.config.get("GOFLAGS", "")
    env = {
        "PATH": f"{goroot / 'bin'}{os.pathsep}{ctx.env.get('PATH', '')}",
        "GOTOOLCHAIN": "local",  # never let go.mod's toolchain line download another Go
        "GOPATH": str(cache / "go-path"),
        "GOMODCACHE": str(cache / "go-path" / "pkg" / "mod"),
        "GOCACHE": str(cache / "go-build-cache"),
        "GOBIN": str(ctx.app_dir / "bin"),
        # -modcacherw: the module cache stays deletable, so --clear-cache works.
        "GOFLAGS": f"{flags} -modcacherw".strip(),
    }
    env.update({key: ctx.config[key] for key in PASSTHROUGH if ctx.config.get(key)})
    if ctx.offline:  # only the module cache; -mod=mod lets go fill go.sum gaps from it, not the network
        env.update(GOPROXY="off", GOSUMDB="off", GOFLAGS=f"{env['GOFLAGS']} -mod=mod")
    return env


def _telemetry_off(home: str | None) -> None:
    """Go's telemetry, "local" in a fresh HOME, leaves a child process writing counters under HOME after
    go exits, which races the removal of the build's HOME. Off, in the file `go telemetry off` writes."""
    if not home:
        return
    mode = Path(home) / ".config" / "go" / "telemetry" / "mode"
    if not mode.is_file():
        mode.parent.mkdir(parents=True, exist_ok=True)
        mode.write_text("off\n")


def package_spec(ctx: BuildContext, gomod: GoMod) -> tuple[list[str] | None, str]:
    """The packages the app names to install and where that came from; None: every main package."""
    if ctx.config.get("GO_INSTALL_PACKAGE_SPEC", "").split():
        return ctx.config["GO_INSTALL_PACKAGE_SPEC"].split(), SPEC_CONFIG_VAR
    if gomod.heroku_install:
        return list(gomod.heroku_install), "go.mod // +heroku install"
    return None, "every main package"


def main_packages(ctx: BuildContext, env: dict[str, str], spec: Sequence[str] = ("./...",)) -> list[str]:
    """Import paths of the main packages `spec` names (`go list -find`: no dependencies resolved)."""
    argv = ["go", "list", "-find", "-tags", "heroku", *_mod_flags(ctx.app_dir), "-f", _MAIN_TEMPLATE, *spec]
    proc = subprocess.run(argv, cwd=ctx.app_dir, env={**ctx.env, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildFailed(f"`{' '.join(argv)}` failed: {last}")
    return sorted({line.strip() for line in proc.stdout.splitlines() if line.strip()})


def binary_name(import_path: str) -> str:
    """The file `go install` writes: the last path element, skipping a major-version suffix (`/v2`)."""
    parts = import_path.rstrip("/").split("/")
    if len(parts) > 1 and _MAJOR_SUFFIX.match(parts[-1]):
        return parts[-2]
    return posixpath.basename(import_path.rstrip("/"))


def check_bin_dir(app_dir: Path) -> None:
    """bin must be a directory (or absent): go install writes the app's programs there."""
    bin_dir = app_dir / "bin"
    if (bin_dir.exists() or bin_dir.is_symlink()) and not bin_dir.is_dir():
        raise BuildFailed("bin is a file, but go install writes the app's programs there; rename it "
                          "(`git mv bin <new name>`) so bin can be a directory")


def linker_flags(ctx: BuildContext) -> list[str]:
    """`-ldflags "-X symbol=value"` from GO_LINKER_SYMBOL and GO_LINKER_VALUE (default SOURCE_VERSION)."""
    symbol = ctx.config.get("GO_LINKER_SYMBOL", "").strip()
    if not symbol:
        return []
    value = ctx.config.get("GO_LINKER_VALUE") or ctx.env.get("SOURCE_VERSION", "")
    source = "GO_LINKER_VALUE" if ctx.config.get("GO_LINKER_VALUE") else "SOURCE_VERSION"
    if not value:
        ctx.log.warn("GO_LINKER_SYMBOL is set, but there is no GO_LINKER_VALUE and no SOURCE_VERSION (the "
                     "source is not a git checkout); building without -X: set GO_LINKER_VALUE")
        return []
    ctx.log.info(f"Setting {symbol} to {value!r} (from {source}) with -ldflags -X")
    return ["-ldflags", f"-X {_quoted(f'{symbol}={value}', source)}"]


def _quoted(pair: str, source: str) -> str:
    # The linker splits -ldflags on blanks and honours '...' and "..." quotes, as a shell would.
    if not any(c.isspace() or c in "'\"" for c in pair):
        return pair
    for quote in ("'", '"'):
        if quote not in pair:
            return f"{quote}{pair}{quote}"
    raise BuildFailed(f"{source} holds both ' and \" quotes, which -ldflags -X cannot carry; "
                      "drop one kind of quote")


def install(ctx: BuildContext, env: dict[str, str], spec: Sequence[str], module: str = "") -> None:
    """`go install -tags heroku -trimpath -buildvcs=false [-ldflags -X ...]` into bin/; `-v` names each
    package compiled, of which the standard library's (some 200 on a cold cache) are not shown."""
    check_bin_dir(ctx.app_dir)
    ctx.run(["go", "install", "-v", "-tags", "heroku", "-trimpath", "-buildvcs=false",
             *_mod_flags(ctx.app_dir), *linker_flags(ctx), *spec], env=env,
            hide=lambda line: is_standard_package(line, module))


def is_standard_package(line: str, module: str) -> bool:
    """`line` names a standard-library package: an import path whose first element has no dot (`net/http`,
    `internal/abi`), other than the app's own module when its path has none either."""
    if not _IMPORT_PATH.match(line) or "." in line.split("/")[0]:
        return False
    return not (module and (line == module or line.startswith(module + "/")))


def _mod_flags(app_dir: Path) -> list[str]:
    return ["-mod=vendor"] if (app_dir / "vendor").is_dir() else []

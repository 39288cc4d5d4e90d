"""Installing Node.js into the app: resolve from the index, download verified, unpack, write .profile.d."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import urllib.parse
from pathlib import Path

from slugbuild.buildpacks.node import versions
from slugbuild.buildpacks.node.versions import Resolution

from slugbuild.buildpack import BuildContext, Runtime, write_profile_script
from slugbuild.errors import BuildFailed

UPSTREAM = "https://nodejs.org/dist"
MIRROR_VAR = "SLUGBUILD_NODE_MIRROR"
NODE_HOME = Path(".heroku") / "node"
PROFILE = """\
export PATH="$HOME/.heroku/node/bin:$HOME/.heroku/yarn/bin:$PATH:$HOME/bin:$HOME/node_modules/.bin"
export NODE_HOME="$HOME/.heroku/node"
export NODE_ENV=${NODE_ENV:-production}
"""


class MissingFromMirror(BuildFailed):
    """engines.node matches nothing the mirror holds (upstream may well have it)."""

    def __init__(self, requested: str | None, base: str, suggestion: str) -> None:
        asked = requested or "the newest LTS"
        major = re.match(r"^[\s^~=v>]*(\d+)", requested or "")
        node = major.group(1) if major else shlex.quote(requested or "lts")
        super().__init__(f"engines.node {asked!r} in package.json matches no Node.js release in the mirror "
                         f"{base} ({MIRROR_VAR}); add it with `slugbuild mirror {_mirror_dir(base)} --node "
                         f"{node}`, or use a range the mirror has, such as \"{suggestion}\"")


def _mirror_dir(base: str) -> str:
    """The DIR `slugbuild mirror DIR` filled to make `base` (its node/ subdirectory), when it is local."""
    parsed = urllib.parse.urlsplit(base)
    path = Path(urllib.parse.unquote(parsed.path))
    return shlex.quote(str(path.parent)) if parsed.scheme == "file" and path.name == "node" else "DIR"


def mirror_base(ctx: BuildContext) -> str:
    """Where releases come from: SLUGBUILD_NODE_MIRROR (http(s):// or file://), else upstream."""
    base = ctx.env.get(MIRROR_VAR) or ctx.config.get(MIRROR_VAR) or UPSTREAM
    return base.rstrip("/")


def index(ctx: BuildContext, base: str) -> versions.NodeIndex:
    url = f"{base}/index.json"
    return versions.NodeIndex.parse(ctx.fetcher.fetch_text(url, label="index.json"), url)


def check_node_home(app_dir: Path) -> None:
    """Heroku refuses an app where .heroku or .heroku/node is a file: the runtime could not go there."""
    for path in (app_dir / ".heroku", app_dir / NODE_HOME):
        if path.is_file() or path.is_symlink():
            raise BuildFailed(f"{path.relative_to(app_dir)} is a file, but the Node.js buildpack installs "
                              "node there; remove it from the app")


def pinned(ctx: BuildContext) -> Resolution | None:
    """The release a rebuild must use (`slugbuild verify`), as a resolution, else None."""
    pin = ctx.pinned("node")
    return Resolution(pin.requested, pin.source, pin.version) if pin else None


def install(ctx: BuildContext, resolution: Resolution, base: str) -> Path:
    """Download the resolved release (sha256 from its SHASUMS256.txt) into .heroku/node; return that dir.
    The caller has already run check_node_home, before any download."""
    version = resolution.version
    name = versions.tarball_name(version)
    if pin := ctx.pinned("node"):
        url, sha256 = pin.url, pin.sha256
    else:
        sums_url = f"{base}/v{version}/SHASUMS256.txt"
        sha256 = versions.sha256_for(ctx.fetcher.fetch_text(sums_url, label="SHASUMS256.txt"), name, sums_url)
        url = f"{base}/v{version}/{name}"
    node_home = ctx.app_dir / NODE_HOME
    if node_home.exists():
        shutil.rmtree(node_home)
    tree = ctx.fetcher.install(url, sha256, node_home, strip_components=1, label=name)
    ctx.record_runtime(Runtime("node", resolution.requested, resolution.source, version, url,
                               tree.sha256, tree.verified))
    ctx.prepend_path(node_home / "bin")
    ctx.export("NODE_HOME", str(node_home))
    return node_home


def bundled_npm_version(node_home: Path) -> str | None:
    """The npm version shipped inside the node tarball, read from its package.json (no process started)."""
    manifest = node_home / "lib" / "node_modules" / "npm" / "package.json"
    try:
        version = json.loads(manifest.read_text()).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def write_profile(app_dir: Path) -> None:
    """.profile.d/nodejs.sh as Heroku writes it: node first on PATH, NODE_HOME, NODE_ENV by default."""
    write_profile_script(app_dir, "nodejs.sh", PROFILE)

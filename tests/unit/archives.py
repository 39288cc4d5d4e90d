"""Crafted tar archives for the unpacking tests, and a snapshot that shows every byte written anywhere."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def tarball(tmp_path: Path, *members: tarfile.TarInfo, data: bytes = b"hi\n") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


# A member as (name, kind, detail): kind "f" (detail: bytes), "d", "l" (symlink to detail), "h" (hard link
# to the member named detail).
Spec = tuple[str, str, "bytes | str"]
_TYPES = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}


def crafted(path: Path, specs: list[Spec], prefix: str = "") -> Path:
    """A .tgz at `path` holding `specs` in order, every name (and hard link target) under `prefix`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, detail in specs:
            info = tarfile.TarInfo(prefix + name)
            info.type, info.mode, info.mtime = _TYPES[kind], 0o755 if kind == "d" else 0o644, 1_000_000
            if kind == "f":
                data = detail if isinstance(detail, bytes) else detail.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind in ("l", "h"):
                info.linkname = str(detail) if kind == "l" else prefix + str(detail)
            tar.addfile(info)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


@dataclass(frozen=True)
class Attack:
    """An ordering of members; `refusal` is the end of the error, or None when it unpacks and `expect`
    maps paths (relative to the target, under p/) to their bytes, or to "-> target" for a symlink."""

    name: str
    specs: list[Spec]
    refusal: str | None = None
    expect: dict[str, bytes | str] | None = None


# Each escaping link below is inside by its text (p/t/../../pwned is pwned) but leads two levels above the
# target once p/t -> .. exists; the test layouts put that place where a stray byte would be seen.
SMALL_FILES: list[Spec] = [(f"p/m{i:03d}", "f", f"m{i}\n".encode()) for i in range(200)]
ATTACKS = [
    Attack("duplicate files: the last wins", [("p/a", "f", b"one"), ("p/a", "f", b"two")],
           expect={"p/a": b"two"}),
    Attack("duplicate directories", [("p/", "d", ""), ("p/", "d", ""), ("p/f", "f", b"f")],
           expect={"p/f": b"f"}),
    Attack("file then symlink of the same name", [("p/b", "f", b"b"), ("p/a", "f", b"a"), ("p/a", "l", "b")],
           expect={"p/a": "-> b", "p/b": b"b"}),
    Attack("file then symlink of the same name, later made to lead outside",
           [("p/a", "f", b"a"), ("p/a", "l", "t/../../pwned"), ("p/t", "l", "..")],
           refusal="member 'p/a' links outside the target through other links"),
    Attack("pending small files, one then replaced by a link that later leads outside",
           [*SMALL_FILES, ("p/m150", "l", "t/../../pwned"), ("p/t", "l", "..")],
           refusal="member 'p/m150' links outside the target through other links"),
    Attack("pending small files, one replaced by a link that later leads outside, then by a file",
           [*SMALL_FILES, ("p/m150", "l", "t/../../pwned"), ("p/t", "l", ".."), ("p/m150", "f", b"late")],
           expect={"p/m150": b"late", "p/m149": b"m149\n", "p/t": "-> .."}),
    Attack("symlink then a member beneath it", [("p/l", "l", "."), ("p/l/f", "f", b"x")],
           refusal="member 'p/l/f' lies beneath 'p/l', a symlink: writes never follow links"),
    Attack("symlinks then a member beneath them that leads outside",
           [("p/up", "l", ".."), ("p/up/up2", "l", ".."), ("p/up/up2/pwned", "f", b"x")],
           refusal="member 'p/up/up2' lies beneath 'p/up', a symlink: writes never follow links"),
    Attack("directory replaced by a link", [("p/d/", "d", ""), ("p/d/f", "f", b"f"), ("p/d", "l", "..")],
           refusal="member 'p/d' would replace a directory of the same name"),
    Attack("implicit directory replaced by a link, then written through",
           [("p/d/f", "f", b"f"), ("p/d", "l", "."), ("p/d/g", "f", b"g")],
           refusal="member 'p/d' would replace a directory of the same name"),
    Attack("directory then file of the same name", [("p/a/", "d", ""), ("p/a", "f", b"a")],
           refusal="member 'p/a' would replace a directory of the same name"),
    Attack("file then directory of the same name",
           [("p/a", "f", b"a"), ("p/a/", "d", ""), ("p/a/b", "f", b"b")], expect={"p/a/b": b"b"}),
    Attack("file then a member beneath it", [("p/a", "f", b"a"), ("p/a/b", "f", b"b")],
           refusal="member 'p/a/b' lies beneath 'p/a', a file"),
    Attack("hard link to a member later replaced",
           [("p/f", "f", b"orig"), ("p/h", "h", "p/f"), ("p/f", "f", b"new")],
           expect={"p/f": b"new", "p/h": b"orig"}),
    Attack("hard link later written to", [("p/f", "f", b"orig"), ("p/h", "h", "p/f"), ("p/h", "f", b"new")],
           expect={"p/f": b"orig", "p/h": b"new"}),
    Attack("hard link to a symlink that leads outside",
           [("p/s", "l", "t/../../pwned"), ("p/t", "l", ".."), ("p/h", "h", "p/s"), ("p/h", "f", b"x")],
           refusal="member 'p/h' is a hard link to 'p/s', which is not a file unpacked before it"),
    Attack("hard link to a member that comes later", [("p/h", "h", "p/f"), ("p/f", "f", b"f")],
           refusal="member 'p/h' is a hard link to 'p/f', which is not a file unpacked before it"),
    Attack("symlink defined before the link that makes it lead outside",
           [("p/a", "l", "t/../../pwned"), ("p/t", "l", "..")],
           refusal="member 'p/a' links outside the target through other links"),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` (links not followed) with what it holds."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                state[rel] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                state[rel] = "dir"
            else:
                state[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return state


def written_outside(before: dict[str, str], after: dict[str, str], allowed: list[str]) -> list[str]:
    """Paths new or changed since `before` that match none of the `allowed` patterns (fnmatch)."""
    changed = [p for p, v in after.items() if before.get(p) != v]
    return sorted(p for p in changed if not any(fnmatch.fnmatch(p, pattern) for pattern in allowed))


def check_unpacked(root: Path, attack: Attack) -> None:
    """The attack's expected files are at `root`, and every symlink there resolves inside it."""
    assert attack.expect is not None
    for rel, want in attack.expect.items():
        path = root / rel
        if isinstance(want, str):
            assert path.is_symlink() and os.readlink(path) == want.removeprefix("-> "), rel
        else:
            assert not path.is_symlink() and path.read_bytes() == want, rel
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            real = os.path.realpath(os.path.join(dirpath, name))
            assert real == real_root or real.startswith(real_root + os.sep), os.path.join(dirpath, name)

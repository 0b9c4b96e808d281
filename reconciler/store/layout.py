"""Lay outputs out for people: `out/<name>.mp4`, mirroring the wanted set exactly.

Each wanted file is a hard link to its blob where the filesystem allows, else a copy; either way it
is made under a temp name in the target directory and renamed into place, so a reader never sees a
half-written video. A file whose content differs from the wanted blob is replaced. `*.mp4` files
that nothing wants any more are removed, and then the directories that this left empty. Nothing
outside the out directory is written or removed, and no symlink inside it is ever followed: a path
that would pass through one is reported and skipped.
"""

from __future__ import annotations

import enum
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import OutputNameError, StoreError
from reconciler.store.objects import hash_file

_TEMP_SUFFIX = ".layout-tmp"


class LayoutAction(enum.Enum):
    """What happened to one file under out/."""

    LINKED = "linked"  # a new file, hard-linked to its blob
    COPIED = "copied"  # a new file, copied from its blob (no hard links across filesystems)
    REPLACED = "replaced"  # a file with other content was replaced by the wanted blob
    REMOVED = "removed"  # an .mp4 that no spec wants any more was removed
    UNCHANGED = "unchanged"  # the file already has the wanted content


@dataclass(frozen=True)
class LayoutChange:
    action: LayoutAction
    path: Path
    digest: str | None

    def __str__(self) -> str:
        return f"{self.action.value} {self.path}"


@dataclass(frozen=True)
class LayoutReport:
    """Every file layout looked at, and the wanted names it could not lay out (one line each)."""

    changes: tuple[LayoutChange, ...]
    problems: tuple[str, ...]

    def paths(self, *actions: LayoutAction) -> tuple[Path, ...]:
        return tuple(change.path for change in self.changes if change.action in actions)


def output_path(out_dir: Path, name: str) -> Path:
    """`out_dir/<name>.mp4`, refusing a name that is empty, absolute, or climbs out with `..`."""
    parts = name.split("/")
    if not name or "\0" in name or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise OutputNameError(
            f"output name {name!r} is not a relative path of plain names separated by '/'; rename the spec"
        )
    return out_dir.joinpath(*parts[:-1], parts[-1] + ".mp4")


def layout(out_dir: Path, wanted: Mapping[str, str], *, blob_path: Callable[[str], Path]) -> LayoutReport:
    """Make out_dir hold exactly `wanted` (name -> blob digest) as `<name>.mp4` files."""
    targets = {output_path(out_dir, name): digest for name, digest in sorted(wanted.items())}
    changes: list[LayoutChange] = []
    problems: list[str] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, digest in targets.items():
            problem = _safe_parent(out_dir, path)
            if problem is None and not blob_path(digest).is_file():
                problem = f"{path}: blob {digest} is not in the store"
            if problem is not None:
                problems.append(problem)
                continue
            changes.append(_place(path, digest, blob_path(digest)))
        changes += _remove_unwanted(out_dir, set(targets))
    except OSError as exc:
        raise StoreError(f"could not lay out videos in {out_dir} ({exc}); check its permissions") from exc
    return LayoutReport(tuple(changes), tuple(problems))


def place(out_dir: Path, name: str, digest: str, *, blob_path: Callable[[str], Path]) -> LayoutChange:
    """Put one `<name>.mp4` in place, leaving every other file alone; raises StoreError."""
    path = output_path(out_dir, name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        problem = _safe_parent(out_dir, path)
        if problem is None and not blob_path(digest).is_file():
            problem = f"{path}: blob {digest} is not in the store"
        if problem is not None:
            raise StoreError(f"could not lay out {name}: {problem}")
        return _place(path, digest, blob_path(digest))
    except OSError as exc:
        raise StoreError(f"could not lay out {path} ({exc}); check the permissions of {out_dir}") from exc


def _safe_parent(out_dir: Path, path: Path) -> str | None:
    """Create the directories between out_dir and path; a problem line if one is a symlink or a file."""
    current = out_dir
    for part in path.relative_to(out_dir).parts[:-1]:
        current = current / part
        try:
            current.mkdir()
            continue
        except FileExistsError:
            mode = current.lstat().st_mode  # there already (or made just now by a concurrent run): check it
        if stat.S_ISLNK(mode):
            return f"{path}: {current} is a symlink; layout does not follow symlinks"
        if not stat.S_ISDIR(mode):
            return f"{path}: {current} is a file, not a directory"
    try:
        if stat.S_ISDIR(path.lstat().st_mode):
            return f"{path}: a directory is in the way"
    except FileNotFoundError:
        pass
    return None


def _same_content(path: Path, digest: str, blob: Path) -> bool:
    try:
        here, there = path.lstat(), blob.stat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(here.st_mode):
        return False
    if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
        return True
    return here.st_size == there.st_size and hash_file(path)[0] == digest


def _place(path: Path, digest: str, blob: Path) -> LayoutChange:
    if _same_content(path, digest, blob):
        return LayoutChange(LayoutAction.UNCHANGED, path, digest)
    existed = os.path.lexists(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
    try:
        os.link(blob, temp)
        action = LayoutAction.LINKED
    except OSError:
        shutil.copyfile(blob, temp)
        with temp.open("rb+") as f:
            os.fsync(f.fileno())
        action = LayoutAction.COPIED
    try:
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    return LayoutChange(LayoutAction.REPLACED if existed else action, path, digest)


def _remove_unwanted(out_dir: Path, wanted: Set[Path]) -> list[LayoutChange]:
    removed: list[LayoutChange] = []
    emptied: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(out_dir, topdown=False, followlinks=False):
        here = Path(dirpath)
        for name in filenames:
            path = here / name
            ours = name.endswith(".mp4") or (name.startswith(".") and name.endswith(_TEMP_SUFFIX))
            if ours and path not in wanted:
                path.unlink()
                emptied.add(here)
                if name.endswith(".mp4"):
                    removed.append(LayoutChange(LayoutAction.REMOVED, path, None))
        for name in dirnames:
            sub = here / name
            if sub in emptied and not sub.is_symlink() and not any(sub.iterdir()):
                sub.rmdir()
                emptied.add(here)
    return removed

"""Lay outputs out for people: `out/<name>.mp4`, mirroring the specs from what is stored.

    mirror(out_dir, names, stored=..., lost=..., blobs=...) -> Mirror    apply, watch and `layout` all call it

Each wanted file is a hard link to its blob where the filesystem allows, else a copy; either way it
is made under a temp name in the target directory and renamed into place, so a reader never sees a
half-written video.

out/ only ever loses files the reconciler placed, and "placed" is judged from the store itself: a
file is ours when its bytes are a blob the store holds (a hard link to it, or a copy with the same
sha256), or when it is a symlink into the store's objects/. Removing or replacing such a file can
never lose a byte, since the store still has it. Anything else is left alone and named in the
report, also when it sits where a spec's file should go: a user's own `wedding.mp4`, a symlink
elsewhere, or an old video whose blob `gc` has removed since (out/ may then hold its last copy). A
file is only hashed when it is a hard link or has the size of a stored output, so a folder of
unrelated videos costs a stat each. (A manifest of placed files was the other choice; it goes stale
when a file is replaced by hand and needs locking between concurrent runs; the content test needs
neither.)

`*.mp4` files that no spec wants any more are removed, and then the directories this left empty.
When out/ itself is a symlink it is followed, and the report says so; no symlink inside it is ever
followed: a path that would pass through one is reported and skipped.
"""

from __future__ import annotations

import enum
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import OutputNameError, StoreError
from reconciler.records import Output
from reconciler.store.objects import hash_file

_TEMP_SUFFIX = ".layout-tmp"
_TEMP_RE = re.compile(r"\..+\.[0-9a-f]{12}" + re.escape(_TEMP_SUFFIX))


class LayoutAction(enum.Enum):
    """What happened to one file under out/."""

    LINKED = "linked"  # a new file, hard-linked to its blob
    COPIED = "copied"  # a new file, copied from its blob (no hard links across filesystems)
    REPLACED = "replaced"  # a file the reconciler placed, with other content, was replaced by the wanted blob
    REMOVED = "removed"  # an .mp4 the reconciler placed that no spec wants any more was removed
    UNCHANGED = "unchanged"  # the file already has the wanted content
    KEPT = "left alone"  # a file the reconciler did not place: never replaced or removed


IN_PLACE = frozenset({LayoutAction.LINKED, LayoutAction.COPIED, LayoutAction.REPLACED, LayoutAction.UNCHANGED})


@dataclass(frozen=True)
class LayoutChange:
    action: LayoutAction
    path: Path
    digest: str | None
    why: str = ""  # for KEPT: why the file is not the reconciler's

    def __str__(self) -> str:
        text = f"{self.action.value} {self.path}"
        return f"{text} ({self.why})" if self.why else text


@dataclass(frozen=True)
class LayoutReport:
    """Every file layout looked at, the wanted names it could not lay out, and notes (one line each)."""

    changes: tuple[LayoutChange, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def paths(self, *actions: LayoutAction) -> tuple[Path, ...]:
        return tuple(change.path for change in self.changes if change.action in actions)


@dataclass(frozen=True)
class Blobs:
    """What layout asks of the store: where a blob is, and the facts that say a file's bytes are one."""

    path: Callable[[str], Path]  # digest -> its file under objects/
    objects: Path  # the store's objects directory
    sizes: Callable[[], Set[int]]  # the sizes of stored outputs (asked at most once per layout)


@dataclass(frozen=True)
class Mirror:
    """out/ made to mirror the specs: the layout, and for each spec without its file, why."""

    out_dir: Path
    report: LayoutReport
    wanted: int  # spec names that should have a file
    laid_out: int  # of them, those whose file is in place now
    missing: tuple[str, ...]  # names with nothing stored yet
    lost: tuple[tuple[str, str], ...]  # (name, digest): recorded as stored, but the blob is gone from objects/

    @property
    def complete(self) -> bool:
        return self.laid_out == self.wanted

    def attention(self) -> list[str]:
        """The lines a person should read after a run: a followed symlink, files left alone, problems."""
        kept = [str(change) for change in self.report.changes if change.action is LayoutAction.KEPT]
        return [*self.report.notes, *kept, *self.report.problems]

    def lines(self) -> list[str]:
        """Everything, one line each, ending with the count of specs laid out."""
        changed = [str(c) for c in self.report.changes if c.action is not LayoutAction.UNCHANGED]
        problems = [f"problem: {problem}" for problem in self.report.problems]
        missing = [f"missing {name} (not stored yet: reconciler apply)" for name in self.missing]
        lost = [
            f"missing {name} (its video {digest} is gone from the store: reconciler apply fetches it again)"
            for name, digest in self.lost
        ]
        total = f"{self.laid_out} of {self.wanted} specs laid out under {self.out_dir}/"
        return [*self.report.notes, *changed, *problems, *missing, *lost, total]


def output_path(out_dir: Path, name: str) -> Path:
    """`out_dir/<name>.mp4`, refusing a name that is empty, absolute, or climbs out with `..`."""
    parts = name.split("/")
    if not name or "\0" in name or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise OutputNameError(
            f"output name {name!r} is not a relative path of plain names separated by '/'; rename the spec"
        )
    return out_dir.joinpath(*parts[:-1], parts[-1] + ".mp4")


def mirror(
    out_dir: Path,
    names: Mapping[str, str],
    *,
    stored: Mapping[str, Output],
    lost: Mapping[str, Output],
    blobs: Blobs,
) -> Mirror:
    """Lay out every name (spec name -> key) whose key is stored; say why each of the others is not."""
    wanted = {name: stored[key].digest for name, key in names.items() if key in stored}
    report = layout(out_dir, wanted, blobs=blobs)
    in_place = set(report.paths(*IN_PLACE))
    placed = sum(1 for name in wanted if output_path(out_dir, name) in in_place)
    gone = tuple((name, lost[key].digest) for name, key in sorted(names.items()) if key in lost)
    gone_names = {name for name, _ in gone}
    missing = tuple(sorted(set(names) - set(wanted) - gone_names))
    return Mirror(out_dir, report, len(names), placed, missing, gone)


def layout(out_dir: Path, wanted: Mapping[str, str], *, blobs: Blobs) -> LayoutReport:
    """Make out_dir hold `wanted` (name -> blob digest) as `<name>.mp4` files, and none of ours besides."""
    targets = {output_path(out_dir, name): digest for name, digest in sorted(wanted.items())}
    judge = _Judge(blobs)
    changes: list[LayoutChange] = []
    problems: list[str] = []
    try:
        notes = _followed(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, digest in targets.items():
            problem = _safe_parent(out_dir, path)
            if problem is None and not blobs.path(digest).is_file():
                problem = f"{path}: blob {digest} is not in the store"
            if problem is not None:
                problems.append(problem)
                continue
            changes.append(_place(path, digest, blobs.path(digest), judge))
        changes += _remove_unwanted(out_dir, set(targets), judge)
    except OSError as exc:
        raise StoreError(f"could not lay out videos in {out_dir} ({exc}); check its permissions") from exc
    return LayoutReport(tuple(changes), tuple(problems), notes)


def place(out_dir: Path, name: str, digest: str, *, blobs: Blobs) -> LayoutChange:
    """Put one `<name>.mp4` in place, leaving every other file alone; raises StoreError.

    A file the reconciler did not place already there is left alone (KEPT); the mirror at the end
    of the run reports it.
    """
    path = output_path(out_dir, name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        problem = _safe_parent(out_dir, path)
        if problem is None and not blobs.path(digest).is_file():
            problem = f"{path}: blob {digest} is not in the store"
        if problem is not None:
            raise StoreError(f"could not lay out {name}: {problem}")
        return _place(path, digest, blobs.path(digest), _Judge(blobs))
    except OSError as exc:
        raise StoreError(f"could not lay out {path} ({exc}); check the permissions of {out_dir}") from exc


class _Judge:
    """Whether the reconciler placed a file (see the module docstring), asking the store's sizes once."""

    def __init__(self, blobs: Blobs) -> None:
        self._blobs = blobs
        self._sizes: Set[int] | None = None

    def why_not_ours(self, path: Path) -> str | None:
        """None for a file the reconciler placed (or one already gone); else why it must be left alone."""
        try:
            here = path.lstat()
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(here.st_mode):
            if Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self._blobs.objects)):
                return None
            return f"a symlink to {os.readlink(path)}, which the reconciler never makes"
        if not stat.S_ISREG(here.st_mode):
            return "not a regular file"
        not_ours = "not placed by the reconciler: its bytes are no video in the store (yours, or a last copy)"
        # A hard link may be one to a blob: hash it. A lone file is a copy of one only if it has a stored size.
        if here.st_nlink < 2 and here.st_size not in self._stored_sizes():
            return not_ours
        try:
            digest, _ = hash_file(path)
        except OSError as exc:
            return f"could not be read to check it ({exc.strerror or exc})"
        return None if self._blobs.path(digest).is_file() else not_ours

    def _stored_sizes(self) -> Set[int]:
        if self._sizes is None:
            self._sizes = self._blobs.sizes()
        return self._sizes


def _followed(out_dir: Path) -> tuple[str, ...]:
    """A note when out_dir is itself a symlink: it is followed, and a person should know where to."""
    if not out_dir.is_symlink():
        return ()
    return (
        f"{out_dir} is a symlink to {os.path.realpath(out_dir)}: laying out there"
        " (only files the reconciler placed are ever replaced or removed)",
    )


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


def _place(path: Path, digest: str, blob: Path, judge: _Judge) -> LayoutChange:
    if _same_content(path, digest, blob):
        return LayoutChange(LayoutAction.UNCHANGED, path, digest)
    existed = os.path.lexists(path)
    if existed and (why := judge.why_not_ours(path)) is not None:
        return LayoutChange(LayoutAction.KEPT, path, None, f"{why}; a spec's video goes there: move it away")
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


def _remove_unwanted(out_dir: Path, wanted: Set[Path], judge: _Judge) -> list[LayoutChange]:
    changes: list[LayoutChange] = []
    emptied: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(out_dir, topdown=False, followlinks=False):
        here = Path(dirpath)
        for name in filenames:
            path = here / name
            if path in wanted:
                continue
            if _TEMP_RE.fullmatch(name) and not path.is_symlink():
                path.unlink()  # a crashed layout's temp file: a link to or a partial copy of a blob
                emptied.add(here)
            elif name.endswith(".mp4"):
                why = judge.why_not_ours(path)
                if why is not None:
                    changes.append(LayoutChange(LayoutAction.KEPT, path, None, why))
                    continue
                path.unlink(missing_ok=True)
                emptied.add(here)
                changes.append(LayoutChange(LayoutAction.REMOVED, path, None))
        for name in dirnames:
            sub = here / name
            if sub in emptied and not sub.is_symlink() and not any(sub.iterdir()):
                sub.rmdir()
                emptied.add(here)
    return changes

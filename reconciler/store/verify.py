"""`verify`: re-hash every blob, check every output row against its blob, and repair what is wrong.

Repair never deletes a paid byte: a blob whose content does not match its name goes to
`quarantine/` for a person to look at, and the output rows that pointed at it (or at a missing or
wrongly sized blob) are dropped so the next apply fetches them again. Blobs that no output refers to
are reported as orphans and left for `gc`. Hashing runs outside any transaction, so a concurrent
apply is never blocked; rows are only dropped if they still point at the blob found bad. The count
and bytes the store keeps of each namespace's outputs (plan's orphan line) are recounted too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from reconciler.records import BlobInfo
from reconciler.store.db import Database
from reconciler.store.objects import Objects, hash_file
from reconciler.store.outputs import all_outputs, recount


class ProblemKind(enum.Enum):
    """What verify found wrong; every kind is repaired as it is reported."""

    CORRUPT_BLOB = "corrupt"  # the blob's bytes do not hash to its name: quarantined, its outputs dropped
    MISSING_BLOB = "missing"  # an output points at a blob that is not there: the output is dropped
    WRONG_SIZE = "wrong-size"  # an output records another size than its blob has: the output is dropped
    STRAY_FILE = "stray"  # a file under objects/ whose name is not a digest: quarantined
    WRONG_TOTALS = "totals"  # the kept count or bytes of a namespace's outputs was off: recounted


@dataclass(frozen=True)
class Problem:
    """One thing verify found and repaired; `str()` is its one-line report."""

    kind: ProblemKind
    path: Path | None
    digest: str | None
    keys: tuple[str, ...]
    action: str

    def __str__(self) -> str:
        subject = self.digest or str(self.path)
        keys = f" (outputs {', '.join(self.keys)})" if self.keys else ""
        return f"{self.kind.value}: {subject}{keys}: {self.action}"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of one verify: counts, the problems repaired, and the orphan blobs left for gc."""

    blobs_checked: int
    bytes_checked: int
    outputs_checked: int
    problems: tuple[Problem, ...]
    orphans: tuple[BlobInfo, ...]

    @property
    def clean(self) -> bool:
        """True when nothing was wrong (orphans are not a problem)."""
        return not self.problems


def verify(db: Database, objects: Objects, *, now: float) -> VerifyReport:
    problems: list[Problem] = []
    good: dict[str, int] = {}
    corrupt: dict[str, Path] = {}
    checked_bytes = 0
    for digest, path in objects.walk():
        if digest is None:
            moved = objects.quarantine(path, now=now)
            problems.append(Problem(ProblemKind.STRAY_FILE, path, None, (), f"moved to {moved}"))
            continue
        actual, size = hash_file(path)
        checked_bytes += size
        if actual == digest:
            good[digest] = size
        else:
            corrupt[digest] = objects.quarantine(path, now=now)

    outputs = all_outputs(db)
    drop: list[tuple[str, str]] = []
    by_corrupt: dict[str, list[str]] = {}
    for output in outputs:
        if output.digest in corrupt:
            by_corrupt.setdefault(output.digest, []).append(output.key)
            drop.append((output.key, output.digest))
            continue
        if output.digest not in good and objects.has(output.digest):
            # Written by a concurrent apply after the walk above passed its directory.
            actual, size = hash_file(objects.path(output.digest))
            if actual == output.digest:
                good[output.digest] = size
        if output.digest not in good:
            problems.append(Problem(ProblemKind.MISSING_BLOB, None, output.digest, (output.key,), "output dropped"))
            drop.append((output.key, output.digest))
        elif good[output.digest] != output.size:
            action = f"output dropped (row says {output.size} bytes, blob has {good[output.digest]})"
            problems.append(Problem(ProblemKind.WRONG_SIZE, None, output.digest, (output.key,), action))
            drop.append((output.key, output.digest))
    for digest, moved in corrupt.items():
        keys = tuple(sorted(by_corrupt.get(digest, ())))
        action = f"moved to {moved}" + ("; outputs dropped" if keys else "")
        problems.append(Problem(ProblemKind.CORRUPT_BLOB, objects.path(digest), digest, keys, action))

    with db.write() as tx:
        for key, digest in drop:
            tx.execute("DELETE FROM outputs WHERE key = ? AND digest = ?", (key, digest))
        for namespace, ((count, size), (true_count, true_size)) in sorted(recount(tx).items()):
            action = f"recounted ({count} outputs of {size:,} bytes kept; {true_count} of {true_size:,} stored)"
            problems.append(Problem(ProblemKind.WRONG_TOTALS, db.path, None, (), f"{namespace}: {action}"))
    dropped = set(drop)
    referenced = {o.digest for o in outputs if (o.key, o.digest) not in dropped}
    orphans = tuple(
        BlobInfo(digest, size, objects.path(digest))
        for digest, size in sorted(good.items())
        if digest not in referenced
    )
    return VerifyReport(
        blobs_checked=len(good) + len(corrupt),
        bytes_checked=checked_bytes,
        outputs_checked=len(outputs),
        problems=tuple(problems),
        orphans=orphans,
    )

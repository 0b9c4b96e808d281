"""`gc`: forget outputs no current spec needs and delete the blobs nothing refers to any more.

The roots are the keys of every current spec. A key with an open attempt (claimed, submitted or
completed) is kept whatever the roots say: its job may be paid and running. Unreferenced blobs are
deleted only while no live process holds an open attempt, because an apply writes a blob a moment
before it records the output pointing at it; otherwise they are reported as deferred. The whole
collection runs under the write lock, so no claim or output can slip in between the decision and
the deletion. With `dry_run` nothing changes and the report says what would go.
"""

from __future__ import annotations

import enum
from collections.abc import Set
from dataclasses import dataclass

from reconciler.records import ATTEMPT_COLUMNS, OUTPUT_COLUMNS, Output
from reconciler.store.attempts import Rows
from reconciler.store.db import Database, Transaction
from reconciler.store.objects import Objects
from reconciler.store.owner import Alive


class RemovalKind(enum.Enum):
    """What gc removes."""

    OUTPUT = "output"  # an output row whose key no current spec wants
    ATTEMPT = "attempt"  # a finished attempt row on a key no current spec wants
    BLOB = "blob"  # a blob no remaining output refers to


@dataclass(frozen=True)
class Removal:
    """One removed (or, in a dry run, removable) item; `size` is the bytes it frees on disk."""

    kind: RemovalKind
    name: str
    size: int

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name}" + (f" ({self.size} bytes)" if self.kind is RemovalKind.BLOB else "")


@dataclass(frozen=True)
class GcReport:
    """What gc removed (or would remove), and the blobs it left because an apply is running."""

    dry_run: bool
    removed: tuple[Removal, ...]
    deferred: tuple[Removal, ...]

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.removed)


def gc(db: Database, objects: Objects, roots: Set[str], *, alive: Alive, dry_run: bool) -> GcReport:
    transaction = db.read() if dry_run else db.write()
    with transaction as tx:
        return _collect(tx, objects, roots, alive=alive, dry_run=dry_run)


def _collect(tx: Transaction, objects: Objects, roots: Set[str], *, alive: Alive, dry_run: bool) -> GcReport:
    convert = Rows(alive)
    open_attempts = [
        convert.attempt(row)
        for row in tx.rows(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE state IN ('claimed', 'submitted', 'completed')"
        )
    ]
    keep = set(roots) | {attempt.key for attempt in open_attempts}
    apply_running = any(attempt.owner_alive for attempt in open_attempts)

    outputs = [Output.from_row(row) for row in tx.rows(f"SELECT {OUTPUT_COLUMNS} FROM outputs ORDER BY key")]
    gone_outputs = [o for o in outputs if o.key not in keep]
    gone_attempts = [
        (attempt_id, key) for attempt_id, key in tx.rows("SELECT id, key FROM attempts ORDER BY id") if key not in keep
    ]
    referenced = {o.digest for o in outputs if o.key in keep}

    removed = [Removal(RemovalKind.OUTPUT, o.key, 0) for o in gone_outputs]
    removed += [Removal(RemovalKind.ATTEMPT, f"{attempt_id} ({key})", 0) for attempt_id, key in gone_attempts]
    if not dry_run:
        for o in gone_outputs:
            tx.execute("DELETE FROM outputs WHERE key = ?", (o.key,))
        for attempt_id, _ in gone_attempts:
            tx.execute("DELETE FROM attempts WHERE id = ?", (attempt_id,))

    deferred = []
    for digest, path in objects.walk():
        if digest is None or digest in referenced:
            continue
        item = Removal(RemovalKind.BLOB, digest, path.stat().st_size)
        if apply_running:
            deferred.append(item)
            continue
        if not dry_run:
            objects.remove(digest)
        removed.append(item)
    return GcReport(dry_run=dry_run, removed=tuple(removed), deferred=tuple(deferred))

"""The store: what was paid for and kept, on this machine or shared by every machine.

    store.py      the local store as the rest sees it: one root, opened once (StoreView to read, Store to write)
    objects.py    content-addressed blobs, written atomically, never changed
    db.py, schema.py, outputs.py, attempts.py, receipts.py
                  SQLite (the only sqlite3 importer): outputs, the write-ahead attempts, receipts to rebuild from
    owner.py      who holds a claim, and whether that process still lives
    verify.py, gc.py, layout.py
                  re-hash and repair; forget what no spec needs; out/<name>.mp4
    location.py, connect.py
                  where a --store points, and opening it (a directory, or a bucket with that directory as cache)
    remote.py, listing.py, claims.py, lease.py, sync.py, s3.py
                  the shared store: writes with conditional PUTs, bulk reads, claim records, lease
                  renewal, push/pull, and the S3 edge (the only boto3 importer)

Open it with `Store.open(root)` to write, or `Store.open_readonly(root)` to look (plan). Every
error it raises is a `reconciler.errors.StoreError`.

The names below load on first use: importing one small module of the package (`store.location`,
to read a --store option) does not import SQLite and every store module with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.exports import exports

if TYPE_CHECKING:
    from reconciler.clock import SystemClock
    from reconciler.records import (
        OPEN_STATES,
        Attempt,
        AttemptState,
        BlobInfo,
        Clock,
        FailureReason,
        Observation,
        Orphans,
        Output,
        Owner,
        is_digest,
    )
    from reconciler.store.gc import GcReport, Removal, RemovalKind
    from reconciler.store.layout import LayoutAction, LayoutChange, LayoutReport, Mirror, output_path
    from reconciler.store.objects import BlobWriter
    from reconciler.store.owner import current_owner, is_alive
    from reconciler.store.schema import SCHEMA_VERSION
    from reconciler.store.store import Store, StoreView
    from reconciler.store.verify import Problem, ProblemKind, VerifyReport

_HOMES = {
    "reconciler.clock": ("SystemClock",),
    "reconciler.records": (
        "OPEN_STATES",
        "Attempt",
        "AttemptState",
        "BlobInfo",
        "Clock",
        "FailureReason",
        "Observation",
        "Orphans",
        "Output",
        "Owner",
        "is_digest",
    ),
    "reconciler.store.gc": ("GcReport", "Removal", "RemovalKind"),
    "reconciler.store.layout": ("LayoutAction", "LayoutChange", "LayoutReport", "Mirror", "output_path"),
    "reconciler.store.objects": ("BlobWriter",),
    "reconciler.store.owner": ("current_owner", "is_alive"),
    "reconciler.store.schema": ("SCHEMA_VERSION",),
    "reconciler.store.store": ("Store", "StoreView"),
    "reconciler.store.verify": ("Problem", "ProblemKind", "VerifyReport"),
}

__all__ = [
    "OPEN_STATES",
    "SCHEMA_VERSION",
    "Attempt",
    "AttemptState",
    "BlobInfo",
    "BlobWriter",
    "Clock",
    "FailureReason",
    "GcReport",
    "LayoutAction",
    "LayoutChange",
    "LayoutReport",
    "Mirror",
    "Observation",
    "Orphans",
    "Output",
    "Owner",
    "Problem",
    "ProblemKind",
    "Removal",
    "RemovalKind",
    "Store",
    "StoreView",
    "SystemClock",
    "VerifyReport",
    "current_owner",
    "is_alive",
    "is_digest",
    "output_path",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above, and so know each one's type
    __getattr__ = exports(__name__, _HOMES)

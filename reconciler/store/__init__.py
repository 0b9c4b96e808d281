"""The local store: content-addressed blobs, the SQLite state of outputs and attempts, verify, gc, out/.

Open it with `Store.open(root)` to write, or `Store.open_readonly(root)` to look (plan). Every
error it raises is a `reconciler.errors.StoreError`.
"""

from __future__ import annotations

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

"""The last plan made against a store directory, shown again while nothing it was made from has changed.

    kept = LastPlan(store_root, Asked(...))         what is asked: options, and the spec files' digests
    kept.recall(open_view) -> (warnings, plan)      or None: something it was made from has changed
    kept.keep(view, token, specs, plan, observed)   after a new plan (kept only if nothing else can change it)

A warm `plan` of 10,000 stored specs spent most of its time making again what it made last time:
10,000 entries decoded from the parse cache, 10,000 keys looked up among the store's outputs, the
diff. Each namespace's last plan is kept in `<store>/cache/plan-<namespace>.marshal` with what it
was made from, and given back only while all of that is still so:

- what was asked (`Asked`): the namespace, targets, excludes, concurrency, --retry-failed, the
  latency scale, how many orphans to list, the settings that change loading, and the versions of
  this file's format, of the plan's encoding, of the reconciler and of the store's schema;
- the specs: the digest of every spec file, in order (`spec.digests`: by its stat when the parse
  cache knows it settled, else read and hashed). The same digests load the same specs: that is the
  parse cache's own promise, and the spec language and catalog versions are in every digest;
- the store's rows: the token of its last change, read before anything else (schema version 3:
  every write of an output or an attempt, by any reconciler, replaces it with a random one);
- the store's blobs: the ones the plan found stored are looked for again (`StoreView.any_gone`, which
  the store's presence cache makes a stat of each blob directory), so a video deleted by hand
  shows at once.

A plan is kept only when nothing else can change it: no attempt open anywhere in the store (a
job's action depends on whether the run that owns it is still alive, which no write records), no
action but create, noop and failed, no paid job to fetch, no spec naming local files (their bytes
are hashed on every load, not by the spec file's digest), and a store that is a directory (a bucket
changes without its local cache knowing: `change_token` is None there). A missing, damaged or
foreign file is a miss, and one that cannot be written is no error: it is a cache.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final, NamedTuple

import reconciler
from reconciler.atomic import replacing
from reconciler.errors import Location
from reconciler.plan import encoding
from reconciler.plan.diff import ActionKind, Plan
from reconciler.records import Observation
from reconciler.spec import SpecSet, SpecWarning
from reconciler.store.schema import SCHEMA_VERSION
from reconciler.store.store import StoreView, blobs_asked

MAGIC: Final = b"RLP\x00v001"  # 8 bytes, then the CRC-32 of the rest (4 bytes, little-endian), then the marshal
FORMAT: Final = f"reconciler-last-plan/1/{encoding.VERSION}/{reconciler.__version__}/{SCHEMA_VERSION}"
# The largest file read: the plan of a million specs with every orphan listed is well under it.
MAX_FILE_BYTES: Final = 1 << 30
# Actions whose plan depends on nothing but the specs and the store's rows and blobs.
STEADY: Final = frozenset({ActionKind.CREATE, ActionKind.NOOP, ActionKind.FAILED})


class Asked(NamedTuple):
    """What a plan was asked for, and the spec files it was made from."""

    namespace: str
    targets: tuple[str, ...]
    excludes: tuple[str, ...]
    concurrency: int
    retry_failed: bool
    latency_scale: float | None
    orphan_limit: int | None
    allow_outside_files: bool
    files: tuple[str, ...]  # each spec file's digest, in the order loaded (`spec.digests`)


Shown = tuple[tuple[SpecWarning, ...], Plan]  # what `plan` shows: the specs' warnings, and the plan


class LastPlan:
    """The last plan of one namespace in one store directory, for one question."""

    def __init__(self, store_root: Path, asked: Asked) -> None:
        self.path = store_root / "cache" / f"plan-{asked.namespace}.marshal"
        self.asked = asked

    def recall(self, open_view: Callable[[], AbstractContextManager[StoreView]]) -> Shown | None:
        """The plan kept for this question if nothing it was made from has changed; None otherwise.

        The store is opened (`open_view`) only when the file answers this very question.
        """
        kept = self._read()
        if kept is None:
            return None
        with open_view() as view:
            if (token := view.change_token()) is None or token != kept["token"]:
                return None
            if view.any_gone(kept["blobs"]):
                return None
        try:
            warnings = tuple(
                SpecWarning(Location(path, line, col), message) for path, line, col, message in kept["warnings"]
            )
            return warnings, encoding.decode(kept["plan"])
        except Exception:  # a file of the right format that does not decode is damaged: a miss
            return None

    def keep(
        self,
        view: StoreView,
        token: bytes | None,
        specs: SpecSet,
        plan: Plan,
        observed: Observation,
        *,
        read: tuple[str, ...],
    ) -> None:
        """Keep `plan` (made from `specs` and from `view` when its token was `token`) if nothing else can change it.

        `observed` is what it was made from: the blobs it found stored are looked for again, and a
        plan with an output whose blob was gone is not kept (the blob put back would change it,
        and nothing looks for it). `read` are the digests of the spec files as they were loaded: a
        file saved between the question's digests and the load makes a plan of other specs than
        the question names, which is not kept either.
        """
        if (
            token is None
            or observed.lost
            or read != self.asked.files
            or plan.paid_jobs
            or not all(action.kind in STEADY for action in plan.actions)
            or any(entry.images for entry in specs.entries)
            or view.open_attempts()
        ):
            self.forget()
            return
        document = {
            "format": FORMAT,
            "asked": tuple(self.asked),
            "token": token,
            "blobs": blobs_asked(observed.stored),
            "warnings": [(*w.where, w.message) for w in specs.warnings],
            "plan": encoding.encode(plan),
        }
        with contextlib.suppress(OSError, ValueError):  # ValueError: a value marshal cannot keep
            data = marshal.dumps(document)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(self.path) as temp:
                temp.write_bytes(MAGIC + zlib.crc32(data).to_bytes(4, "little") + data)

    def forget(self) -> None:
        """Drop the kept plan: a plan that may not be kept makes the last one no answer either."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _read(self) -> dict[str, Any] | None:
        """The kept document if it is of this format and answers this question; None otherwise."""
        try:
            # Non-blocking: a FIFO put where the file was is passed over, never waited on.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            with os.fdopen(fd, "rb", closefd=False) as file:
                data = file.read()
            head, body = data[: len(MAGIC) + 4], memoryview(data)[len(MAGIC) + 4 :]
            # A file damaged after it was written (a byte changed anywhere) is a miss, never a stale plan.
            if head[: len(MAGIC)] != MAGIC or int.from_bytes(head[len(MAGIC) :], "little") != zlib.crc32(body):
                return None
            kept = marshal.loads(body)
        except Exception:  # a damaged or foreign file is only a slower run, never an error
            return None
        finally:
            os.close(fd)
        if not (
            isinstance(kept, dict)
            and kept.get("format") == FORMAT
            and kept.get("asked") == tuple(self.asked)
            and isinstance(kept.get("token"), bytes)
            and isinstance(kept.get("blobs"), list)
            and all(isinstance(digest, str) for digest in kept["blobs"])
        ):
            return None
        return kept

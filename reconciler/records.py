"""The values the store hands out: outputs, attempts, blob facts, and the closed sets they use.

They live outside `reconciler.store` because they are pure: `plan` diffs them without importing
the store (and sqlite3) at all.

Everything here is frozen and free of I/O, so `plan` can take these values as its observation of
the store and diff them purely. Rows are turned into these values in exactly one place each
(`Output.from_row`, `Attempt.from_row`), next to the column lists they read.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar, cast

T = TypeVar("T")

DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    """True for "sha256:" followed by 64 lowercase hex digits (the form of keys and blob digests)."""
    return DIGEST_RE.fullmatch(value) is not None


def maker(cls: type[T]) -> Callable[[Iterable[Any]], T]:
    """Make instances of the NamedTuple `cls` from one iterable in its field order, with no Python call.

    For the loops that make one value per spec (100,000 in a big plan): a NamedTuple's own
    constructor, or `_make`, is a Python function; this is `tuple.__new__` bound to the class.
    """
    return cast("Callable[[Iterable[Any]], T]", functools.partial(tuple.__new__, cls))


class Clock(Protocol):
    """Where the store reads wall-clock time (seconds since the epoch) for its timestamps."""

    def now(self) -> float: ...


class AttemptState(enum.Enum):
    """Where one paid submit stands. CLAIMED, SUBMITTED and COMPLETED are open; the rest are final."""

    CLAIMED = "claimed"  # intent and exact body recorded; submit not known to be sent (dead owner: in doubt)
    SUBMITTED = "submitted"  # the API gave a request id: the job is in flight and paid for
    COMPLETED = "completed"  # the API says the job is done; the output may still be downloading
    STORED = "stored"  # the output is in the store; nothing more to do
    FAILED = "failed"  # the API refused or failed the job; see reason and error
    EXPIRED = "expired"  # the job was done but its result is gone from the API
    RELEASED = "released"  # the owner gave the claim back before sending anything; nothing was paid
    SUPERSEDED = "superseded"  # the owner died with this open; a newer attempt took it over

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = frozenset({AttemptState.CLAIMED, AttemptState.SUBMITTED, AttemptState.COMPLETED})


# A key whose jobs failed (not content blocks) this many times in a row is shown failed for good:
# something about the request keeps failing, and buying it again and again is paying unasked.
FAILURES_IN_A_ROW = 3


class FailureReason(enum.Enum):
    """Why an attempt failed, which decides whether trying again can help."""

    PERMANENT = "permanent"  # the request itself is wrong or refused (invalid, content-blocked): retrying repeats it
    TEMPORARY = "temporary"  # the backend failed this time (overload, timeout, 5xx): a new attempt may succeed


class BlobInfo(NamedTuple):
    """An object in the store: its digest ("sha256:<hex>"), size in bytes and path on disk."""

    digest: str
    size: int
    path: Path


@dataclass(frozen=True)
class Owner:
    """The process holding an attempt: host name, boot id, pid and the pid's start time (clock ticks)."""

    host: str
    boot: str
    pid: int
    started: int

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


OUTPUT_COLUMNS = "key, digest, size, model, request_id, cost_usd, namespace, name_hint, created"


class Output(NamedTuple):
    """A paid result kept in the store: the key it answers and the blob that holds it.

    Immutable, and a NamedTuple rather than a frozen dataclass: plan reads one per stored spec
    (100,000 in a big project), and a tuple is made five times faster.
    """

    key: str
    digest: str
    size: int
    model: str
    request_id: str | None
    cost_usd: float | None
    namespace: str
    name_hint: str | None
    created: float

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Output:
        return cls._make(row)


ATTEMPT_COLUMNS = (
    "id, key, namespace, model, state, request_json, request_id, owner_host, owner_boot, owner_pid,"
    " owner_started, claimed_at, submitted_at, completed_at, updated_at, error, reason, supersedes, in_doubt"
)


@dataclass(frozen=True)
class Attempt:
    """One paid submit of one key, as recorded before and after it was sent.

    `request_json` is the exact body to send (canonical JSON); resend those bytes, never a re-rendering.
    `in_doubt` is true when this attempt took over a dead owner's claim whose submit may or may not
    have reached the API: look the request up in the account's history before submitting again.
    `owner_alive` is observed when the row is read (an owner on another host counts as alive).
    """

    id: int
    key: str
    namespace: str
    model: str
    state: AttemptState
    request_json: str
    request_id: str | None
    owner: Owner
    claimed_at: float
    submitted_at: float | None
    completed_at: float | None
    updated_at: float
    error: str | None
    reason: FailureReason | None
    supersedes: int | None
    in_doubt: bool
    owner_alive: bool
    # How many of the key's attempts, up to this one, FAILED in a row (read with the latest attempt only).
    failures_in_a_row: int = 0

    @property
    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.request_json)
        return body

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    @property
    def failed_for_good(self) -> bool:
        """What plan shows failed without --retry-failed: a permanent reason, or too many failures in a row."""
        return self.state is AttemptState.FAILED and (
            self.reason is FailureReason.PERMANENT or self.failures_in_a_row >= FAILURES_IN_A_ROW
        )

    @classmethod
    def from_row(cls, row: Sequence[Any], *, owner: Owner, owner_alive: bool) -> Attempt:
        # Positional and without keyword lookups: plan converts thousands of these per run.
        reason = row[16]
        return cls(
            row[0], row[1], row[2], row[3], _STATES[row[4]], row[5], row[6], owner, row[11], row[12], row[13],
            row[14], row[15], None if reason is None else FailureReason(reason), row[17], bool(row[18]), owner_alive,
            row[19] if len(row) > 19 else 0,
        )  # fmt: skip


_STATES = {state.value: state for state in AttemptState}


@dataclass(frozen=True)
class Orphans:  # a dataclass: a NamedTuple's `count` would shadow tuple.count
    """Stored outputs that no current spec names: plan lists them, gc removes them. Empty by default."""

    count: int = 0
    size: int = 0  # bytes of their outputs (a blob two orphans share counts twice)
    listed: tuple[Output, ...] = ()  # the first of them by key, as many as were asked for


class Observation(NamedTuple):
    """What the store holds for a set of keys, read in one snapshot: plan's view of the world."""

    # key -> the digest of its blob, for the keys stored (an output recorded, its blob there). Only
    # that: plan needs no more of a stored output, and 100,000 whole rows cost three times as much.
    stored: Mapping[str, str]
    attempts: Mapping[str, Attempt]  # key -> its latest attempt, for the keys that have any
    # key -> the digest of an output whose blob is gone from objects/ (deleted by hand): not stored
    lost: Mapping[str, str] = MappingProxyType({})
    # The outputs no root names (when asked with roots: every spec's key in both namespaces).
    orphans: Orphans = Orphans()

"""The write-ahead log of paid submits: claims, their takeover from dead owners, and state moves.

A claim is taken in one `BEGIN IMMEDIATE` transaction before anything is sent, so two processes on
one store never both submit a key. If the open attempt on a key belongs to a dead process, the claim
takes it over: the old row is marked SUPERSEDED and kept, the new row points at it (`supersedes`),
inherits its request id when it had one (so the caller resumes instead of paying again), and is
marked `in_doubt` when the old one died between claiming and hearing back from the API. A key whose
last attempt was STORED but whose output is gone again (verify dropped it) is claimed as COMPLETED
with that request id, so the result is downloaded again rather than paid for again. How a claim
begins is decided by `takeover`, a pure function of the attempts before it; `claim` reads and writes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from reconciler.errors import AttemptStateError, KeyFailedError
from reconciler.records import ATTEMPT_COLUMNS, OPEN_STATES, Attempt, AttemptState, FailureReason, Owner
from reconciler.store.db import Database, Row, Transaction, as_set, json_list, qualified, scans
from reconciler.store.owner import Alive

_S = AttemptState
_OPEN_SQL = "('claimed', 'submitted', 'completed')"

# Which states an attempt may move to, from which. Final states never move again.
ALLOWED_FROM: dict[AttemptState, frozenset[AttemptState]] = {
    _S.SUBMITTED: frozenset({_S.CLAIMED}),
    _S.COMPLETED: frozenset({_S.CLAIMED, _S.SUBMITTED, _S.COMPLETED}),
    _S.FAILED: OPEN_STATES,
    _S.EXPIRED: frozenset({_S.SUBMITTED, _S.COMPLETED}),
    _S.STORED: OPEN_STATES,
    _S.RELEASED: frozenset({_S.CLAIMED}),
}

LATENCY_SAMPLES = 50


class Rows:
    """Turns attempt rows into values, asking about each distinct owner's liveness once."""

    def __init__(self, alive: Alive) -> None:
        self._alive = alive
        self._seen: dict[tuple[Any, ...], tuple[Owner, bool]] = {}

    def attempt(self, row: Row) -> Attempt:
        ident = row[7:11]
        known = self._seen.get(ident)
        if known is None:
            owner = Owner(*ident)
            known = self._seen[ident] = (owner, self._alive(owner))
        return Attempt.from_row(row, owner=known[0], owner_alive=known[1])


class Start(NamedTuple):
    """How a new claim on a key begins, decided from the attempts before it (see `takeover`)."""

    state: AttemptState
    request_id: str | None = None
    submitted_at: float | None = None
    completed_at: float | None = None
    supersedes: int | None = None  # the attempt this one continues
    in_doubt: bool = False  # a dead owner may have sent a submit nobody heard back from
    superseded: tuple[int, ...] = ()  # dead owners' open attempts, to be marked SUPERSEDED


def takeover(held: Sequence[Attempt], latest: Attempt | None) -> Start | None:
    """How a claim on a key begins, from its open attempts (`held`, oldest first); None while a live owner holds it.

    Dead owners' open attempts are superseded and the new attempt continues the last of them: it
    inherits the newest request id among them (the job is resumed, never paid again), and is in
    doubt when none had one (the dead owner may have sent its submit). With nothing open, `latest`
    (the key's newest attempt) matters: a STORED one whose output was dropped since (verify found it
    damaged) is fetched again by its request id rather than paid for again. Pure.
    """
    if any(attempt.owner_alive for attempt in held):
        return None
    if not held:
        if latest is not None and latest.state is _S.STORED and latest.request_id is not None:
            return Start(_S.COMPLETED, latest.request_id, latest.submitted_at, latest.completed_at, latest.id)
        return Start(_S.CLAIMED)
    carried: Attempt | None = None
    for old in held:
        if old.request_id is not None:
            carried = old
    superseded = tuple(old.id for old in held)
    if carried is None:
        return Start(_S.CLAIMED, supersedes=held[-1].id, in_doubt=True, superseded=superseded)
    return Start(
        carried.state, carried.request_id, carried.submitted_at, carried.completed_at, held[-1].id,
        superseded=superseded,
    )  # fmt: skip


def claim(
    db: Database,
    *,
    key: str,
    namespace: str,
    model: str,
    request_json: str,
    owner: Owner,
    alive: Alive,
    now: float,
    retry_failed: bool = False,
) -> Attempt | None:
    """A new open attempt owned by `owner`, or None if the key is stored or held by a live owner.

    A key whose latest attempt failed for good is refused (KeyFailedError) unless `retry_failed`:
    plan showed it failed, so a run claiming it planned before another run on this store failed it
    (it waited on that run's claim), and buying it now is what nobody asked for.
    """
    with db.write() as tx:
        if tx.one("SELECT 1 FROM outputs WHERE key = ?", (key,)) is not None:
            return None
        held = tx.rows(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE key = ? AND state IN {_OPEN_SQL} ORDER BY id",
            (key,),
        )
        rows = Rows(alive)
        previous = [rows.attempt(row) for row in held]
        latest = None
        if not previous:
            last = tx.one(
                f"SELECT {qualified(ATTEMPT_COLUMNS, 'a')}, {_FAILURES_IN_A_ROW} FROM attempts AS a"
                " WHERE a.key = ? ORDER BY a.id DESC LIMIT 1",
                (key,),
            )
            latest = rows.attempt(last) if last is not None else None
            if latest is not None and latest.failed_for_good and not retry_failed:
                raise KeyFailedError(
                    f"{key} was failed for good by another run on this store ({latest.owner}: "
                    f"{latest.error or 'no error given'}) after this run planned it; nothing was bought"
                    " (--retry-failed to buy it again)"
                )
        start = takeover(previous, latest)
        if start is None:
            return None
        for old_id in start.superseded:
            tx.execute("UPDATE attempts SET state = 'superseded', updated_at = ? WHERE id = ?", (now, old_id))
        attempt_id = tx.insert(
            "INSERT INTO attempts (key, namespace, model, state, request_json, request_id, owner_host,"
            " owner_boot, owner_pid, owner_started, claimed_at, submitted_at, completed_at, updated_at,"
            " supersedes, in_doubt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, namespace, model, start.state.value, request_json, start.request_id, owner.host, owner.boot,
             owner.pid, owner.started, now, start.submitted_at, start.completed_at, now, start.supersedes,
             int(start.in_doubt)),
        )  # fmt: skip
        return _get(tx, attempt_id, alive)


def _get(tx: Transaction, attempt_id: int, alive: Alive) -> Attempt:
    row = tx.one(f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = ?", (attempt_id,))
    if row is None:
        raise AttemptStateError(f"there is no attempt {attempt_id} in this store")
    return Rows(alive).attempt(row)


def move(tx: Transaction, attempt_id: int, state: AttemptState, *, alive: Alive, now: float) -> Attempt:
    """Check that attempt `attempt_id` may move to `state` and stamp updated_at; the attempt before."""
    attempt = _get(tx, attempt_id, alive)
    if attempt.state is _S.SUPERSEDED:
        newer = tx.one("SELECT id FROM attempts WHERE supersedes = ?", (attempt_id,))
        by = f"attempt {newer[0]}" if newer else "a newer attempt"
        raise AttemptStateError(
            f"attempt {attempt_id} on {attempt.key} was taken over by {by} because its owner looked dead;"
            " stop working on it"
        )
    if attempt.state not in ALLOWED_FROM[state]:
        raise AttemptStateError(
            f"attempt {attempt_id} on {attempt.key} is {attempt.state.value} and cannot become {state.value}"
        )
    tx.execute("UPDATE attempts SET state = ?, updated_at = ? WHERE id = ?", (state.value, now, attempt_id))
    return attempt


def record_submitted(db: Database, attempt_id: int, request_id: str, *, alive: Alive, now: float) -> Attempt:
    with db.write() as tx:
        move(tx, attempt_id, _S.SUBMITTED, alive=alive, now=now)
        tx.execute(
            "UPDATE attempts SET request_id = ?, submitted_at = ?, in_doubt = 0 WHERE id = ?",
            (request_id, now, attempt_id),
        )
        return _get(tx, attempt_id, alive)


def record_state(
    db: Database,
    attempt_id: int,
    state: AttemptState,
    *,
    alive: Alive,
    now: float,
    error: str | None = None,
    reason: FailureReason | None = None,
    completed_at: float | None = None,
) -> Attempt:
    """Move an attempt; `completed_at` (COMPLETED only) is when the job finished by the server's own
    timing, which may correct the moment we first saw it done (COMPLETED may be recorded again)."""
    if state in (_S.SUBMITTED, _S.STORED, _S.CLAIMED, _S.SUPERSEDED):
        raise AttemptStateError(f"record_state cannot set {state.value}: use claim, record_submitted or record_output")
    if state is _S.FAILED and reason is None:
        raise AttemptStateError("a failed attempt needs a reason (permanent or temporary)")
    with db.write() as tx:
        before = move(tx, attempt_id, state, alive=alive, now=now)
        if state is _S.COMPLETED and (before.completed_at is None or completed_at is not None):
            finished = now if completed_at is None else min(now, completed_at)
            tx.execute("UPDATE attempts SET completed_at = ? WHERE id = ?", (finished, attempt_id))
        if error is not None or reason is not None:
            tx.execute(
                "UPDATE attempts SET error = ?, reason = ? WHERE id = ?",
                (error, reason.value if reason else None, attempt_id),
            )
        return _get(tx, attempt_id, alive)


def abandon(db: Database, attempt_id: int, *, alive: Alive, now: float) -> Attempt:
    """Leave a CLAIMED attempt in doubt for whoever comes next, as if its owner had died.

    For a submit whose outcome the request history could not settle: the claim must not stay held
    by a process that has given up on it (a long-running watch would block every later run).
    """
    with db.write() as tx:
        current = _get(tx, attempt_id, alive)
        if current.state is not _S.CLAIMED:
            raise AttemptStateError(f"attempt {attempt_id} on {current.key} is {current.state.value}, not claimed")
        tx.execute(
            "UPDATE attempts SET in_doubt = 1, owner_pid = 0, owner_started = -1, updated_at = ? WHERE id = ?",
            (now, attempt_id),
        )
        return _get(tx, attempt_id, alive)


def request_ids(db: Database, key: str) -> set[str]:
    """Every request id ever recorded for `key` (so a history search never adopts an old job)."""
    rows = db.rows("SELECT DISTINCT request_id FROM attempts WHERE key = ? AND request_id IS NOT NULL", (key,))
    return {row[0] for row in rows}


def attempt(db: Database, attempt_id: int, *, alive: Alive) -> Attempt:
    with db.read() as tx:
        return _get(tx, attempt_id, alive)


# For a FAILED latest attempt: the key's failed attempts since its last one that got anywhere else
# (claims given back unsent and takeovers do not break a run of failures). Walks the (key, id) index.
_FAILURES_IN_A_ROW = (
    "CASE WHEN a.state = 'failed' THEN (SELECT count(*) FROM attempts AS f WHERE f.key = a.key"
    " AND f.state = 'failed' AND f.id > coalesce((SELECT max(g.id) FROM attempts AS g WHERE g.key = a.key"
    " AND g.state NOT IN ('failed', 'released', 'superseded')), 0)) ELSE 0 END"
)


def latest_for(db: Database | Transaction, keys: Collection[str], *, alive: Alive) -> dict[str, Attempt]:
    """The newest attempt of each key that has one (with its run of failures), in one query.

    Indexed, or for many keys one pass over the newest attempt of every key, kept when asked for.
    """
    convert = Rows(alive)
    if scans(db, "attempts", len(keys)):
        wanted = as_set(keys)
        rows = db.rows(
            f"SELECT {qualified(ATTEMPT_COLUMNS, 'a')}, {_FAILURES_IN_A_ROW} FROM attempts AS a"
            " WHERE a.id IN (SELECT max(id) FROM attempts GROUP BY key)"
        )
        return {row[1]: convert.attempt(row) for row in rows if row[1] in wanted}
    rows = db.rows(
        f"SELECT {qualified(ATTEMPT_COLUMNS, 'a')}, {_FAILURES_IN_A_ROW} FROM json_each(?) AS w"
        " JOIN attempts AS a ON a.id = (SELECT max(id) FROM attempts WHERE key = w.value)",
        (json_list(keys),),
    )
    return {row[1]: convert.attempt(row) for row in rows}


def open_attempts(db: Database, *, alive: Alive) -> list[Attempt]:
    rows = db.rows(f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE state IN {_OPEN_SQL} ORDER BY id")
    convert = Rows(alive)
    return [convert.attempt(row) for row in rows]


def all_attempts(db: Database, *, alive: Alive) -> list[Attempt]:
    """Every attempt ever recorded, oldest first (spend reads what was paid for, and when)."""
    rows = db.rows(f"SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY id")
    convert = Rows(alive)
    return [convert.attempt(row) for row in rows]


def observed_latency(db: Database, model: str, namespace: str | None = None) -> float | None:
    """Median seconds from submit to completion over the model's recent jobs, None without any.

    With `namespace`, only jobs of that backend count: the fake's jobs are far faster than the API's.
    """
    durations = latency_samples(db, model, namespace, limit=LATENCY_SAMPLES)
    import statistics  # a few ms of start-up that only a store with finished jobs pays

    return statistics.median(durations) if durations else None


def latency_samples(db: Database, model: str, namespace: str | None = None, *, limit: int) -> list[float]:
    """Seconds from submit to completion of the model's `limit` most recent jobs, newest first.

    A job taken over or fetched again appears in several attempts with the same times; each request
    id counts once.
    """
    rows = db.rows(
        "SELECT request_id, completed_at - submitted_at FROM attempts WHERE model = ? AND completed_at IS NOT NULL"
        " AND submitted_at IS NOT NULL AND (? IS NULL OR namespace = ?) ORDER BY id DESC LIMIT ?",
        (model, namespace, namespace, 4 * limit),
    )
    by_job: dict[object, float] = {}
    for index, (request_id, seconds) in enumerate(rows):
        if seconds >= 0:
            by_job.setdefault(request_id if request_id is not None else -index - 1, seconds)
    return list(by_job.values())[:limit]

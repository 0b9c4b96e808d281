"""The store as the rest of the reconciler sees it: one root directory, opened once per run.

    <root>/objects/sha256/ab/cdef...   immutable blobs, named by the sha256 of their bytes
    <root>/tmp/                        blobs being written (and strays of crashed writers)
    <root>/quarantine/                 blobs verify found corrupt, kept for a person to inspect
    <root>/receipts/ab/cdef....json    what identifies each stored blob (store.receipts), one per key
    <root>/state.sqlite                outputs, attempts and uploads (WAL)

state.sqlite can be rebuilt from the receipts: opening a store whose database is gone restores its
outputs, and a damaged (or 0-byte) database is refused with what an apply would cost without
`verify --rebuild`, never taken for a new, empty store.

`StoreView` is the read side `plan` uses: it never creates anything and never blocks an apply
(`Store.open_readonly` of a root that does not exist yet is an empty view). `Store` adds the writes.
The work is done by one module per idea (objects, attempts, outputs, verify, gc, layout); these
classes hold the connection, the root and the clock, and pass them on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.catalog.identity import canonical_json
from reconciler.clock import SystemClock
from reconciler.errors import StoreDamagedError, StoreError, StoreVersionError
from reconciler.records import (
    Attempt,
    AttemptState,
    Clock,
    FailureReason,
    Observation,
    Orphans,
    Output,
    Owner,
)
from reconciler.store import attempts, outputs
from reconciler.store.db import BUSY_TIMEOUT_S, Database, scans
from reconciler.store.objects import BlobWriter, Objects
from reconciler.store.owner import Identity, this_process
from reconciler.store.receipts import Receipts, Restored, restore, worth
from reconciler.store.schema import SCHEMA_VERSION, check_schema, migrate

# Blobs asked about at once from which listing their directories may pay (see `_split`).
LIST_FROM = 2_000

if TYPE_CHECKING:
    # Maintenance and layout load with the method that runs them: plan only reads.
    from reconciler.store.gc import GcReport
    from reconciler.store.layout import Blobs, LayoutChange, LayoutReport, Mirror
    from reconciler.store.verify import VerifyReport

T = TypeVar("T")
V = TypeVar("V")

STATE_FILE = "state.sqlite"


def blobs_asked(blobs: Mapping[str, str]) -> list[str]:
    """The blobs of `blobs` (key -> digest) as the store asks whether they are there: once each, in key
    order, which is how `presence` remembers a question."""
    return list(dict.fromkeys(blobs.values()))


class StoreView:
    """Read-only access to a store; every lookup is one query whatever the number of keys."""

    def __init__(self, root: Path, db: Database | None, *, clock: Clock, identity: Identity) -> None:
        self.root = root
        self._conn = db  # None: the store does not exist yet, and every lookup finds nothing
        self._closed = False
        self._identity = identity
        self._alive = identity.alive
        self._objects = Objects(root, identity)
        self._receipts = Receipts(self._objects)
        self._clock = clock

    def close(self) -> None:
        if self._conn is not None and not self._closed:
            self._conn.close()
        self._closed = True

    @property
    def _db(self) -> Database | None:
        # A closed store must fail loudly: answering "nothing stored" would invite paying twice.
        if self._closed:
            raise StoreError(f"the store at {self.root} was already closed; open it again")
        return self._conn

    def __enter__(self) -> StoreView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_blob(self, digest: str) -> bool:
        return self._objects.has(digest)

    def blob_path(self, digest: str) -> Path:
        return self._objects.path(digest)

    def outputs_for(self, keys: Collection[str]) -> dict[str, Output]:
        """The outputs of `keys` whose blob is in objects/: one whose blob is gone is not stored (lost_outputs)."""
        return self._split({} if (db := self._db) is None else outputs.outputs_for(db, keys))[0]

    def lost_outputs(self, keys: Collection[str]) -> dict[str, Output]:
        """The outputs of `keys` recorded as stored whose blob is gone from objects/ (deleted by hand)."""
        return self._split({} if (db := self._db) is None else outputs.outputs_for(db, keys))[1]

    def observe(
        self,
        keys: Collection[str],
        *,
        roots: Mapping[str, Collection[str]] | None = None,
        orphan_limit: int | None = 10,
    ) -> Observation:
        """Which of `keys` are stored (and their blobs) and their latest attempts, from one snapshot.

        With `roots` (namespace -> the keys its specs have), also the orphans (outputs no root names;
        the first `orphan_limit` listed), from the same snapshot and, for a big plan, from the same one
        read of the outputs.
        """
        db = self._db
        if db is None:
            return Observation(stored={}, attempts={})
        with db.read() as tx:
            found, stray = outputs.survey(tx, keys, roots, limit=orphan_limit) if roots is not None else (
                outputs.digests_for(tx, keys), Orphans()
            )  # fmt: skip
            latest = attempts.latest_for(tx, keys, alive=self._alive)
        stored, lost = _without(found, self._gone(found))
        return Observation(stored=stored, attempts=latest, lost=lost, orphans=stray)

    def change_token(self) -> bytes | None:
        """The token of the last change of the outputs or attempts (schema.py, version 3); None with no store.

        A plan made from what this store held when the token was T is still the plan while it is T:
        no write to either table leaves it as it was.
        """
        if (db := self._db) is None:
            return None
        row = db.one("SELECT token FROM last_change")
        return None if row is None else bytes(row[0])

    def any_gone(self, digests: Sequence[str]) -> bool:
        """Whether a blob of `digests` is gone from objects/ (asked as `observe` asks, its answer is remembered:
        `blobs_asked`)."""
        return len(self._present(digests)) != len(set(digests))

    def _split(self, found: Mapping[str, Output]) -> tuple[dict[str, Output], dict[str, Output]]:
        """(outputs whose blob is there, outputs whose blob is gone)."""
        return _without(found, self._gone({key: output.digest for key, output in found.items()}))

    def _gone(self, blobs: Mapping[str, str]) -> set[str]:
        """The keys of `blobs` (key -> digest) whose blob is gone: the files, not the rows, say what is stored."""
        digests = blobs_asked(blobs)
        there = self._present(digests)
        if len(there) == len(digests):
            return set()  # the usual case, without a second pass over 100,000 keys
        return {key for key, digest in blobs.items() if digest not in there}

    def _present(self, digests: Sequence[str]) -> set[str]:
        def listing() -> bool:  # asked only if the files are looked at: counting the outputs is a walk of an index
            # Listing the blob directories pays when asked about many, and a good share of those there.
            return len(digests) >= LIST_FROM and (db := self._db) is not None and scans(db, "outputs", len(digests))

        return self._objects.present(digests, listing=listing)

    def orphans(self, roots: Mapping[str, Collection[str]], *, limit: int | None = 100) -> Orphans:
        """Outputs that no root names (`roots`: namespace -> keys): count, bytes, and the first `limit`."""
        return Orphans(0, 0, ()) if (db := self._db) is None else outputs.orphans(db, roots, limit=limit)

    def all_outputs(self) -> list[Output]:
        return [] if (db := self._db) is None else outputs.all_outputs(db)

    def attempts_for(self, keys: Collection[str]) -> dict[str, Attempt]:
        """The latest attempt of each key that has one."""
        return {} if (db := self._db) is None else attempts.latest_for(db, keys, alive=self._alive)

    def open_attempts(self) -> list[Attempt]:
        return [] if (db := self._db) is None else attempts.open_attempts(db, alive=self._alive)

    def all_attempts(self) -> list[Attempt]:
        """Every attempt, oldest first, whatever its state."""
        return [] if (db := self._db) is None else attempts.all_attempts(db, alive=self._alive)

    def attempt(self, attempt_id: int) -> Attempt:
        return attempts.attempt(self._require_db(), attempt_id, alive=self._alive)

    def observed_latency(self, model: str, namespace: str | None = None) -> float | None:
        """Median seconds from submit to completion of the model's recent jobs (on one backend)."""
        return None if (db := self._db) is None else attempts.observed_latency(db, model, namespace)

    def latency_samples(self, model: str, namespace: str, *, limit: int) -> list[float]:
        """Seconds from submit to completion of the model's most recent jobs on one backend, newest first."""
        return [] if (db := self._db) is None else attempts.latency_samples(db, model, namespace, limit=limit)

    def request_ids(self, key: str) -> set[str]:
        """Every request id ever recorded for `key`."""
        return set() if (db := self._db) is None else attempts.request_ids(db, key)

    def uploaded_url(self, namespace: str, image_sha256: str) -> str | None:
        return None if (db := self._db) is None else outputs.uploaded_url(db, namespace, image_sha256)

    def _require_db(self) -> Database:
        db = self._db
        if db is None:
            raise StoreError(f"the store at {self.root} does not exist yet; run apply first")
        return db


class Store(StoreView):
    """A store opened for writing; `Store.open` creates its layout and brings its schema up to date."""

    # Whether claim and record writes wait on a network (a bucket): the engine then hands them to
    # `offload` (a worker thread), so the event loop keeps polling and downloading the other jobs meanwhile.
    writes_over_network = False

    def offload(self, call: Callable[[], T]) -> Awaitable[T]:
        """Run a blocking write off the event loop (asked only of a store whose writes go over a network)."""
        import asyncio  # only apply and watch write; plan and validate never load the event loop

        return asyncio.to_thread(call)

    def __init__(
        self, root: Path, db: Database, *, clock: Clock, identity: Identity, removed_temp: tuple[Path, ...]
    ) -> None:
        super().__init__(root, db, clock=clock, identity=identity)
        self.removed_temp_files = removed_temp
        self.restored: Restored | None = None  # what opening restored from the receipts, if the database was new

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        clock: Clock | None = None,
        identity: Identity | None = None,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> Store:
        """Open (creating if needed) the store at `root`; writes wait up to busy_timeout_s for another run.

        `identity` is who holds the claims taken through this store (default: this process).
        """
        clock = clock or SystemClock()
        identity = identity or this_process()
        objects = Objects(root, identity)
        try:
            objects.create_layout()
        except OSError as exc:
            raise StoreError(f"cannot create the store at {root} ({exc}); check the path and permissions") from exc
        path = root / STATE_FILE
        gone = not path.exists()
        _refuse_empty(path, objects)
        try:
            db = Database.open(path, readonly=False, busy_s=busy_timeout_s)
        except (StoreDamagedError, StoreVersionError) as exc:
            _raise_as_damage(exc, objects)
            raise
        try:
            try:
                migrate(db)
            except (StoreDamagedError, StoreVersionError) as exc:
                _raise_as_damage(exc, objects)
                raise
            removed = tuple(objects.clean_temp(now=clock.now()))
            store = cls(root, db, clock=clock, identity=identity, removed_temp=removed)
            if gone:
                # The database is new: if it was lost, its outputs come back from the receipts.
                store.restored = store.rebuild()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, root: Path, *, clock: Clock | None = None, identity: Identity | None = None) -> StoreView:
        """A view for plan; an empty one, creating nothing, when the store does not exist yet."""
        clock = clock or SystemClock()
        identity = identity or this_process()
        path = root / STATE_FILE
        objects = Objects(root, identity)
        if not path.is_file():
            if Receipts(objects).any():  # the database was lost: rebuild it once from the receipts, then read
                cls.open(root, clock=clock, identity=identity).close()
                return cls.open_readonly(root, clock=clock, identity=identity)
            return StoreView(root, None, clock=clock, identity=identity)
        _refuse_empty(path, objects)
        try:
            db = Database.open(path, readonly=True)
        except (StoreDamagedError, StoreVersionError) as exc:
            _raise_as_damage(exc, objects)
            raise
        try:
            with db.read() as tx:
                version = check_schema(db, tx)
        except (StoreDamagedError, StoreVersionError) as exc:
            db.close()
            _raise_as_damage(exc, objects)
            raise
        except BaseException:
            db.close()
            raise
        if version == SCHEMA_VERSION:
            return StoreView(root, db, clock=clock, identity=identity)
        db.close()
        if version == 0:  # created a moment ago by a concurrent open that has not committed its schema
            return StoreView(root, None, clock=clock, identity=identity)
        cls.open(root, clock=clock, identity=identity).close()  # an older schema: upgrade it once, then read
        return cls.open_readonly(root, clock=clock, identity=identity)

    @property
    def _writable(self) -> Database:
        return self._require_db()

    def __enter__(self) -> Store:
        return self

    # Blobs

    def blob_writer(self, *, max_bytes: int | None = None, expected_size: int | None = None) -> BlobWriter:
        """An incremental writer: `write` chunks as they arrive, then `commit()`; see BlobWriter."""
        return self._objects.writer(max_bytes=max_bytes, expected_size=expected_size)

    # Outputs and uploads

    def record_output(
        self,
        key: str,
        *,
        digest: str,
        size: int,
        model: str,
        request_id: str | None,
        cost_usd: float | None,
        namespace: str,
        name_hint: str | None = None,
        attempt_id: int | None = None,
    ) -> Output:
        """Record that `key` is answered by blob `digest`; with attempt_id, that attempt becomes STORED.

        Its receipt is written first: a crash between the two leaves a receipt a rebuild can use
        (or ignore, if the blob is not there), never a row without one.
        """
        self._receipts.write(
            Output(key, digest, size, model, request_id, cost_usd, namespace, name_hint, self._clock.now())
        )
        return outputs.record_output(
            self._writable, self._objects, key, digest=digest, size=size, model=model, request_id=request_id,
            cost_usd=cost_usd, namespace=namespace, name_hint=name_hint, attempt_id=attempt_id,
            alive=self._alive, now=self._clock.now(),
        )  # fmt: skip

    def remember_upload(self, namespace: str, image_sha256: str, url: str) -> None:
        outputs.remember_upload(self._writable, namespace, image_sha256, url, now=self._clock.now())

    # Attempts

    def claim(
        self,
        key: str,
        *,
        namespace: str,
        model: str,
        request_body: Mapping[str, Any],
        owner: Owner | None = None,
        retry_failed: bool = False,
    ) -> Attempt | None:
        """Claim `key` before submitting it; None when it is already stored or a live owner holds it.

        The attempt returned is yours. State CLAIMED: submit `attempt.request_json`, unless
        `attempt.in_doubt`, in which case first look the request up in the account's history.
        State SUBMITTED: a dead owner's paid job was taken over; poll it by `attempt.request_id`.
        State COMPLETED: the API already made the result (a dead owner's job, or a stored output
        that verify dropped); download it by request id, and mark it EXPIRED if the API lost it.
        `attempt.supersedes` names the earlier attempt this one continues. `owner` defaults to
        this process; tests pass another to play a dead or remote run. `retry_failed` (the run was
        given --retry-failed) lets the claim start a key whose latest attempt failed for good (and a
        shared store clear another machine's failure record of it); without it such a claim raises
        KeyFailedError: another run failed the key after this one planned it.
        """
        body = canonical_json(dict(request_body))
        # An output whose blob was deleted is no output: forget it, so the claim below fetches it again.
        outputs.drop_lost(self._writable, self._objects, key)
        return attempts.claim(
            self._writable, key=key, namespace=namespace, model=model, request_json=body,
            owner=owner or self._identity.me, alive=self._alive, now=self._clock.now(), retry_failed=retry_failed,
        )  # fmt: skip

    def record_submitted(self, attempt_id: int, request_id: str) -> Attempt:
        return attempts.record_submitted(
            self._writable, attempt_id, request_id, alive=self._alive, now=self._clock.now()
        )

    def record_state(
        self,
        attempt_id: int,
        state: AttemptState,
        *,
        error: str | None = None,
        reason: FailureReason | None = None,
        completed_at: float | None = None,
    ) -> Attempt:
        """Move an attempt to COMPLETED (`completed_at`: when it finished, if known), FAILED or EXPIRED."""
        return attempts.record_state(
            self._writable, attempt_id, state, alive=self._alive, now=self._clock.now(), error=error, reason=reason,
            completed_at=completed_at,
        )  # fmt: skip

    def abandon(self, attempt_id: int) -> Attempt:
        """Leave a CLAIMED attempt whose submit may have been sent in doubt, for the next run to settle."""
        return attempts.abandon(self._writable, attempt_id, alive=self._alive, now=self._clock.now())

    def release(self, attempt_id: int) -> Attempt:
        """Give back a claim whose submit was never sent (Ctrl-C, budget stop); nothing was paid."""
        return attempts.record_state(
            self._writable, attempt_id, AttemptState.RELEASED, alive=self._alive, now=self._clock.now()
        )

    # Maintenance and layout

    def verify(self) -> VerifyReport:
        from reconciler.store.verify import verify

        report = verify(self._writable, self._objects, now=self._clock.now())
        # Outputs recorded before receipts existed (or whose receipt was lost) get one now.
        for output in self.all_outputs():
            if not self._receipts.path(output.key).is_file():
                self._receipts.write(output)
        return report

    def gc(self, roots: Set[str], *, dry_run: bool = False) -> GcReport:
        from reconciler.store.gc import RemovalKind, gc

        report = gc(self._writable, self._objects, roots, alive=self._alive, dry_run=dry_run)
        if not dry_run:
            for removal in report.removed:
                if removal.kind is RemovalKind.OUTPUT:
                    self._receipts.remove(removal.name)
        return report

    def rebuild(self) -> Restored:
        """Put back the output of every receipt whose blob is here and whose key has no output row."""
        return restore(self._writable, self._objects, self._receipts)

    @classmethod
    def rebuild_at(cls, root: Path, *, clock: Clock | None = None) -> tuple[Store, Path | None]:
        """Open the store at `root` for `verify --rebuild`: a damaged database is moved aside (kept,
        never deleted) and a new one is rebuilt from the receipts. The store, and where the old one went."""
        clock = clock or SystemClock()
        try:
            store = cls.open(root, clock=clock)
        except StoreDamagedError:
            moved = _move_aside(root / STATE_FILE, now=clock.now())
            return cls.open(root, clock=clock), moved
        store.restored = store.rebuild()
        return store, None

    def mirror(self, out_dir: Path, names: Mapping[str, str]) -> Mirror:
        """Make `out_dir` mirror `names` (spec name -> key) from what is stored; see store.layout."""
        found = outputs.outputs_for(self._writable, set(names.values()))
        present, lost = self._split(found)
        from reconciler.store.layout import mirror

        return mirror(out_dir, names, stored=present, lost=lost, blobs=self._blobs())

    def layout(self, out_dir: Path, wanted: Mapping[str, str]) -> LayoutReport:
        """Make `out_dir` hold `wanted` (name -> blob digest) as `<name>.mp4` files, and none of ours besides."""
        from reconciler.store.layout import layout

        return layout(out_dir, wanted, blobs=self._blobs())

    def place(self, out_dir: Path, name: str, digest: str) -> LayoutChange:
        """Put one `<name>.mp4` in place as soon as its video is stored (layout removes strays later)."""
        from reconciler.store.layout import place

        return place(out_dir, name, digest, blobs=self._blobs())

    def _blobs(self) -> Blobs:
        from reconciler.store.layout import Blobs

        db = self._writable
        return Blobs(path=self._objects.path, objects=self._objects.objects, sizes=lambda: outputs.sizes(db))


def _refuse_empty(path: Path, objects: Objects) -> None:
    """A 0-byte state.sqlite in a store that holds videos is damage: SQLite would take it for a new store."""
    try:
        empty = path.stat().st_size == 0
    except FileNotFoundError:
        return
    if empty and (Receipts(objects).any() or next(iter(objects.walk()), None) is not None):
        raise _damaged(StoreDamagedError(f"{path} is empty (0 bytes)"), objects)


def _raise_as_damage(error: StoreError, objects: Objects) -> None:
    """Raise `error` said plainly as damage (chained to it), when it is; return when it is not."""
    damaged = _damaged(error, objects)
    if damaged is not error:
        raise damaged from error


def _damaged(error: StoreError, objects: Objects) -> StoreError:
    """`error`, said plainly as damage with what it would cost, when the store holds receipts or blobs."""
    receipts = Receipts(objects)
    if isinstance(error, StoreVersionError) and "not a reconciler store" not in str(error):
        return error  # a newer schema: not damage
    if not receipts.any() and next(iter(objects.walk()), None) is None:
        return error
    count, cost = worth(receipts, objects)
    return StoreDamagedError(
        f"{error}. The store's database is damaged. Run `reconciler verify --rebuild`: it keeps the damaged"
        f" file aside and restores the {count} stored video{'s' if count != 1 else ''} from their receipts at"
        f" no cost; an apply without it would pay about ${cost:.2f} to make them again."
    )


def _move_aside(path: Path, *, now: float) -> Path:
    target = path.with_name(f"{path.name}.damaged-{int(now)}")
    try:
        for suffix in ("", "-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
    except OSError as exc:
        raise StoreError(f"could not move {path} aside to {target} ({exc}); move it by hand and run again") from exc
    return target


def _without(found: Mapping[str, V], gone: Set[str]) -> tuple[dict[str, V], dict[str, V]]:
    """(`found` but the keys `gone`, `found`'s keys `gone`)."""
    if not gone:
        return dict(found), {}
    return {key: v for key, v in found.items() if key not in gone}, {key: found[key] for key in gone}

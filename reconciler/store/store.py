"""The store as the rest of the reconciler sees it: one root directory, opened once per run.

    <root>/objects/sha256/ab/cdef...   immutable blobs, named by the sha256 of their bytes
    <root>/tmp/                        blobs being written (and strays of crashed writers)
    <root>/quarantine/                 blobs verify found corrupt, kept for a person to inspect
    <root>/state.sqlite                outputs, attempts and uploads (WAL)

`StoreView` is the read side `plan` uses: it never creates anything and never blocks an apply
(`Store.open_readonly` of a root that does not exist yet is an empty view). `Store` adds the writes.
The work is done by one module per idea (objects, attempts, outputs, verify, gc, layout); these
classes hold the connection, the root and the clock, and pass them on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Set
from pathlib import Path
from typing import Any

from reconciler.catalog.identity import canonical_json
from reconciler.clock import SystemClock
from reconciler.errors import StoreError
from reconciler.records import (
    Attempt,
    AttemptState,
    BlobInfo,
    Clock,
    FailureReason,
    Observation,
    Orphans,
    Output,
    Owner,
)
from reconciler.store import attempts, outputs
from reconciler.store.db import BUSY_TIMEOUT_S, Database
from reconciler.store.gc import GcReport, gc
from reconciler.store.layout import LayoutChange, LayoutReport, layout, place
from reconciler.store.objects import BlobWriter, Objects, Readable
from reconciler.store.owner import Identity, this_process
from reconciler.store.schema import SCHEMA_VERSION, check_version, migrate, read_version
from reconciler.store.verify import VerifyReport, verify

STATE_FILE = "state.sqlite"


class StoreView:
    """Read-only access to a store; every lookup is one query whatever the number of keys."""

    def __init__(self, root: Path, db: Database | None, *, clock: Clock, identity: Identity) -> None:
        self.root = root
        self._conn = db  # None: the store does not exist yet, and every lookup finds nothing
        self._closed = False
        self._identity = identity
        self._alive = identity.alive
        self._objects = Objects(root, identity)
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
        return {} if (db := self._db) is None else outputs.outputs_for(db, keys)

    def observe(self, keys: Collection[str]) -> Observation:
        """Outputs and latest attempts of `keys` from one snapshot, so the two always agree."""
        db = self._db
        if db is None:
            return Observation(outputs={}, attempts={})
        with db.read() as tx:
            return Observation(
                outputs=outputs.outputs_for(tx, keys), attempts=attempts.latest_for(tx, keys, alive=self._alive)
            )

    def orphans(self, keys: Collection[str], *, limit: int | None = 100) -> Orphans:
        """Outputs that no key in `keys` names (count, bytes, and the first `limit`), without reading the rest."""
        return Orphans(0, 0, ()) if (db := self._db) is None else outputs.orphans(db, keys, limit=limit)

    def all_outputs(self) -> list[Output]:
        return [] if (db := self._db) is None else outputs.all_outputs(db)

    def attempts_for(self, keys: Collection[str]) -> dict[str, Attempt]:
        """The latest attempt of each key that has one."""
        return {} if (db := self._db) is None else attempts.latest_for(db, keys, alive=self._alive)

    def open_attempts(self) -> list[Attempt]:
        return [] if (db := self._db) is None else attempts.open_attempts(db, alive=self._alive)

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

    def __init__(
        self, root: Path, db: Database, *, clock: Clock, identity: Identity, removed_temp: tuple[Path, ...]
    ) -> None:
        super().__init__(root, db, clock=clock, identity=identity)
        self.removed_temp_files = removed_temp

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
        db = Database.open(root / STATE_FILE, readonly=False, busy_s=busy_timeout_s)
        try:
            migrate(db)
            removed = tuple(objects.clean_temp(now=clock.now()))
        except BaseException:
            db.close()
            raise
        return cls(root, db, clock=clock, identity=identity, removed_temp=removed)

    @classmethod
    def open_readonly(cls, root: Path, *, clock: Clock | None = None, identity: Identity | None = None) -> StoreView:
        """A view for plan; an empty one, creating nothing, when the store does not exist yet."""
        clock = clock or SystemClock()
        identity = identity or this_process()
        path = root / STATE_FILE
        if not path.is_file():
            return StoreView(root, None, clock=clock, identity=identity)
        db = Database.open(path, readonly=True)
        try:
            with db.read() as tx:
                app, version = read_version(tx)
            check_version(db, app, version)
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

    def put_stream(
        self, source: Iterable[bytes] | Readable, *, max_bytes: int | None = None, expected_size: int | None = None
    ) -> BlobInfo:
        return self._objects.put_stream(source, max_bytes=max_bytes, expected_size=expected_size)

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
        """Record that `key` is answered by blob `digest`; with attempt_id, that attempt becomes STORED."""
        return outputs.record_output(
            self._writable, self._objects, key, digest=digest, size=size, model=model, request_id=request_id,
            cost_usd=cost_usd, namespace=namespace, name_hint=name_hint, attempt_id=attempt_id,
            alive=self._alive, now=self._clock.now(),
        )  # fmt: skip

    def drop_output(self, key: str) -> bool:
        return outputs.drop_output(self._writable, key)

    def remember_upload(self, namespace: str, image_sha256: str, url: str) -> None:
        outputs.remember_upload(self._writable, namespace, image_sha256, url, now=self._clock.now())

    # Attempts

    def claim(
        self, key: str, *, namespace: str, model: str, request_body: Mapping[str, Any], owner: Owner | None = None
    ) -> Attempt | None:
        """Claim `key` before submitting it; None when it is already stored or a live owner holds it.

        The attempt returned is yours. State CLAIMED: submit `attempt.request_json`, unless
        `attempt.in_doubt`, in which case first look the request up in the account's history.
        State SUBMITTED: a dead owner's paid job was taken over; poll it by `attempt.request_id`.
        State COMPLETED: the API already made the result (a dead owner's job, or a stored output
        that verify dropped); download it by request id, and mark it EXPIRED if the API lost it.
        `attempt.supersedes` names the earlier attempt this one continues. `owner` defaults to
        this process; tests pass another to play a dead or remote run.
        """
        body = canonical_json(dict(request_body))
        return attempts.claim(
            self._writable, key=key, namespace=namespace, model=model, request_json=body,
            owner=owner or self._identity.me, alive=self._alive, now=self._clock.now(),
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
        return verify(self._writable, self._objects, now=self._clock.now())

    def gc(self, roots: Set[str], *, dry_run: bool = False) -> GcReport:
        return gc(self._writable, self._objects, roots, alive=self._alive, dry_run=dry_run)

    def layout(self, out_dir: Path, wanted: Mapping[str, str]) -> LayoutReport:
        """Make `out_dir` hold exactly `wanted` (name -> blob digest) as `<name>.mp4` files."""
        return layout(out_dir, wanted, blob_path=self._objects.path)

    def place(self, out_dir: Path, name: str, digest: str) -> LayoutChange:
        """Put one `<name>.mp4` in place as soon as its video is stored (layout removes strays later)."""
        return place(out_dir, name, digest, blob_path=self._objects.path)

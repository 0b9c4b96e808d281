"""A store shared by every machine: a bucket on an S3-compatible service, with the local store as its cache.

`RemoteStore` is a `Store` (the local `.reconciler/` cache, SQLite and blobs) whose claims and
outputs are also made in the bucket, so the engine reconciles against it through the very
interface it uses locally:

    claim           local claim (same-machine runs), then the bucket's claim object: created with
                    If-None-Match: *, or taken over with If-Match when its lease expired (or its
                    owner is a dead process on this host). A taken-over claim carries its request id
                    (the engine polls it) or, without one, puts the attempt in doubt (the engine asks
                    the request history before paying). Once held, the bucket is asked whether the
                    key was stored meanwhile, so a claim never races a finished output.
    record_submitted  the request id goes into the claim (If-Match; on a lost race, into whoever
                    holds it now: a claim with a request id is never dropped)
    record_output   blob first (If-None-Match: *), then the output record, then the claim goes
    record_state    a key that failed for good (a permanent reason, or the third failure in a row)
                    leaves a failure record before its claim goes, so plan on every machine shows
                    it failed; only a claim given --retry-failed deletes it (If-Match): any other
                    claim that finds it (written after its run planned) raises KeyFailedError
    release/abandon nothing was sent: the claim is deleted / left expired for the next holder

A lease thread (an injected Renewer) renews the claims this store holds; a process that dies
stops renewing, and after the lease (plus the clock skew allowed between machines) anyone may take
over. Outputs found in the bucket are fetched into the local cache (streamed, hash-checked) before
they are used, so `out/` is always laid out from verified local files.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from reconciler.errors import KeyFailedError, StoreError
from reconciler.records import (
    Attempt,
    AttemptState,
    Clock,
    FailureReason,
    Observation,
    Output,
)
from reconciler.store import outputs
from reconciler.store.claims import (
    Claim,
    Failure,
    ListedOutput,
    blob_name,
    claim_name,
    failure_name,
    output_name,
    record_bytes,
    record_from_bytes,
)
from reconciler.store.layout import Mirror
from reconciler.store.lease import LeaseThread, Offload, Renewer
from reconciler.store.listing import Lookup, of_key, with_listed
from reconciler.store.location import Remote
from reconciler.store.owner import Identity
from reconciler.store.store import Store

if TYPE_CHECKING:
    # boto3 is slow to import: loaded only when a bucket is first reached.
    from reconciler.store.s3 import Bucket, Listed

T = TypeVar("T")

LEASE_S = 60.0
# Wall clocks of two machines disagree: a lease counts as expired only this long after its end.
MAX_GRACE_S = 30.0


@dataclass(frozen=True)
class _Held:
    claim: Claim
    etag: str


def probe(bucket: Bucket) -> None:
    """Refuse a server that ignores If-None-Match: two create-if-absent writes of one name must not both win."""
    name = f"probe/{secrets.token_hex(8)}"
    first = bucket.put(name, b"probe", if_none_match=True)
    second = bucket.put(name, b"probe again", if_none_match=True)
    bucket.delete(name)
    if first is None or second is not None:
        raise StoreError(
            f"the S3 service holding {bucket.url} ignores conditional writes (If-None-Match: *), so two"
            " machines could claim and pay for one video; use a service that supports them"
            " (AWS S3, MinIO, Cloudflare R2, ...)"
        )


class RemoteStore(Store):
    """The local store as a cache of a bucket; see the module docstring for what each write does there."""

    bucket: Bucket
    writes_over_network = True

    @classmethod
    def open_remote(
        cls,
        root: Path,
        remote: Remote,
        *,
        clock: Clock | None = None,
        identity: Identity | None = None,
        lease_s: float = LEASE_S,
        bucket: Bucket | None = None,
        renew: bool = True,
        renewer: Renewer | None = None,
        offload: Offload | None = None,
    ) -> RemoteStore:
        """Open the cache at `root` and the bucket; raises StoreError for a server without conditional writes.

        Leases are renewed by `renewer` (a LeaseThread by default; none with `renew=False`), and the
        engine's writes run through `offload` (asyncio.to_thread by default): the simulation, on one
        loop and a clock of its own, injects ones it drives.
        """
        from reconciler.store.s3 import Bucket

        bucket = bucket or Bucket(remote.bucket, remote.prefix)
        probe(bucket)
        store = cast(RemoteStore, cls.open(root, clock=clock, identity=identity))
        store._attach(bucket, lease_s, renewer=(renewer or LeaseThread()) if renew else None, offload=offload)
        return store

    def _attach(self, bucket: Bucket, lease_s: float, *, renewer: Renewer | None, offload: Offload | None) -> None:
        self.bucket = bucket
        self.lease_s = lease_s
        self.grace_s = min(MAX_GRACE_S, lease_s / 4)
        self._run = secrets.token_hex(8)
        self._held: dict[str, _Held] = {}
        self._lock = threading.RLock()
        self._lookup = Lookup(lambda: self.bucket)
        self._offload = offload
        self._renewer = renewer
        if renewer is not None:
            renewer.start(lease_s / 3, self._renew_quietly)

    def offload(self, call: Callable[[], T]) -> Awaitable[T]:
        return super().offload(call) if self._offload is None else self._offload(call)

    def close(self) -> None:
        renewer = getattr(self, "_renewer", None)
        if renewer is not None:
            renewer.stop()
            self._renewer = None
        super().close()

    def __enter__(self) -> RemoteStore:
        return self

    def clock_now(self) -> float:
        return self._clock.now()

    # ---- leases

    def _renew_quietly(self) -> None:
        # A round that fails is tried again the next; a lease that lapses meanwhile is taken over safely.
        with contextlib.suppress(StoreError):
            self.renew()

    def renew(self) -> None:
        """Push the lease of every claim this store holds forward (the lease thread calls this)."""
        # A claim younger than a sixth of its lease is left alone (most jobs end before their first
        # renewal, and each renewal is a request): the next round, a third of a lease later, still
        # finds it with half its lease left.
        fresh_until = self._clock.now() + self.lease_s * 5 / 6
        with self._lock:
            keys = [key for key, held in self._held.items() if held.claim.lease_until <= fresh_until]
        for key in keys:
            self._update(key, lambda claim: claim.renewed(self._clock.now(), self.lease_s), must=False)

    def _ours(self, claim: Claim) -> bool:
        return claim.run == self._run

    def _update(self, key: str, change: Callable[[Claim], Claim], *, must: bool) -> Claim | None:
        """Compare-and-swap `change` into the key's claim; with `must`, into whoever holds it now."""
        name = claim_name(key)
        with self._lock:
            held = self._held.get(key)
            if held is None and not must:
                return None
            current, etag = (held.claim, held.etag) if held is not None else (None, None)
            for _ in range(8):
                if current is None or etag is None:
                    got = self.bucket.get(name)
                    if got is None:
                        self._held.pop(key, None)
                        return None
                    current, etag = Claim.from_bytes(got[0]), got[1]
                    if not must and not self._ours(current):
                        self._held.pop(key, None)  # taken over: our lease lapsed
                        return None
                new = change(current)
                tag = self.bucket.put(name, new.to_bytes(), if_match=etag)
                if tag is not None:
                    if self._ours(new):
                        self._held[key] = _Held(new, tag)
                    return new
                current = etag = None
        raise StoreError(f"the claim on {key} in {self.bucket.url} kept changing under us; try again")

    # ---- outputs: the local cache first, then the bucket

    def mirror(self, out_dir: Path, names: Mapping[str, str]) -> Mirror:
        """Lay out `out_dir` from the local cache, after fetching what only the bucket holds."""
        self.outputs_for(set(names.values()))
        return super().mirror(out_dir, names)

    def local_outputs_for(self, keys: Collection[str]) -> dict[str, Output]:
        """What the local cache holds, without asking the bucket."""
        return super().outputs_for(keys)

    def outputs_for(self, keys: Collection[str]) -> dict[str, Output]:
        found = super().outputs_for(keys)
        for key, listed in self._lookup.find([key for key in keys if key not in found]).items():
            found[key] = self.fetch(listed)
        return found

    def observe(
        self,
        keys: Collection[str],
        *,
        roots: Mapping[str, Collection[str]] | None = None,
        orphan_limit: int | None = 10,
    ) -> Observation:
        return with_listed(
            super().observe(keys, roots=roots, orphan_limit=orphan_limit), self._lookup, lambda: self.bucket, keys,
            now=self._clock.now(), grace_s=self.grace_s, alive=self._alive,
        )  # fmt: skip

    def fetch(self, listed: ListedOutput) -> Output:
        """Bring a remote output into the local cache: its blob (streamed, hash-checked), then its record."""
        got = self.bucket.get(listed.name)
        if got is None:
            raise StoreError(f"the output record {listed.name} vanished from {self.bucket.url}")
        record = record_from_bytes(got[0])
        if not self.has_blob(record.digest):
            self.fetch_blob(record.digest, record.size)
        return outputs.record_output(
            self._writable, self._objects, record.key, digest=record.digest, size=record.size, model=record.model,
            request_id=record.request_id, cost_usd=record.cost_usd, namespace=record.namespace,
            name_hint=record.name_hint, attempt_id=None, alive=self._alive, now=record.created,
        )  # fmt: skip

    def fetch_blob(self, digest: str, size: int) -> None:
        # Bounded by the record: a bucket streaming more than it said is cut off, never written on.
        with self.blob_writer(max_bytes=size, expected_size=size) as writer:
            if not self.bucket.download(blob_name(digest), writer.write):
                raise StoreError(f"blob {digest} is missing from {self.bucket.url}; its output record is dangling")
            blob = writer.commit()
        if blob.digest != digest:
            raise StoreError(f"blob {digest} in {self.bucket.url} is corrupt (its bytes hash to {blob.digest})")

    def push_output(self, output: Output) -> bool:
        """Blob first, then the record (both create-if-absent); True when the record is new."""
        self.bucket.put_file(blob_name(output.digest), self.blob_path(output.digest))
        name = output_name(output.key, output.digest, output.size)
        created = self.bucket.put(name, record_bytes(output), if_none_match=True)
        self._lookup.add(ListedOutput(output.key, output.digest, output.size, name))
        return created is not None

    # ---- claims

    def claim(
        self,
        key: str,
        *,
        namespace: str,
        model: str,
        request_body: Mapping[str, Any],
        owner: Any = None,
        retry_failed: bool = False,
    ) -> Attempt | None:
        local = super().claim(key, namespace=namespace, model=model, request_body=request_body, owner=owner)
        if local is None:
            return None
        try:
            return self._claim_remote(local, retry_failed=retry_failed)
        except StoreError:
            self._let_go(local)  # the bucket could not be asked: nothing may be submitted on this claim
            raise

    def _claim_remote(self, local: Attempt, *, retry_failed: bool) -> Attempt | None:
        key, namespace, model = local.key, local.namespace, local.model
        now = self._clock.now()
        name = claim_name(key)
        mine = Claim(
            key, namespace, model, local.request_json, self._identity.me, self._run, now, now + self.lease_s,
            request_id=local.request_id, submitted_at=local.submitted_at,
            request_ids=(local.request_id,) if local.request_id else (),
        )  # fmt: skip
        taken_over: Claim | None = None
        with self._lock:
            etag = self.bucket.put(name, mine.to_bytes(), if_none_match=True)
            if etag is None:
                got = self.bucket.get(name)
                if got is None:  # finished and removed between the two requests: look again next round
                    self._let_go(local)
                    return None
                current = Claim.from_bytes(got[0])
                if not (current.expired(now, grace_s=self.grace_s) or not self._alive(current.owner)):
                    self._let_go(local)
                    return None
                taken_over = current.taken_by(self._identity.me, self._run, now, self.lease_s)
                if local.request_id and local.request_id not in taken_over.request_ids:
                    taken_over = taken_over.with_request(local.request_id, now)
                etag = self.bucket.put(name, taken_over.to_bytes(), if_match=got[1])
                if etag is None:  # another machine took it over first
                    self._let_go(local)
                    return None
                mine = taken_over
            self._held[key] = _Held(mine, etag)
        # Held now: was the key stored while we were getting here? Then there is nothing to pay.
        listed, failed = of_key(self.bucket, key)
        if listed is not None:
            self._drop_claim(key)
            self.fetch(listed)
            self._let_go(local)
            return None
        if failed is not None and not retry_failed and mine.request_id is None:
            # Another machine failed the key for good after this run planned it (plan would show it
            # failed now): nothing is bought, and its record stays for every machine's plan. (A
            # claim taken over with a request id goes on: polling a paid job buys nothing.)
            self._drop_claim(key)
            raise self._failed_elsewhere(key, failed)
        if failed is not None and retry_failed:
            # Asked to buy it again (--retry-failed): the key is no longer failed for good anywhere.
            self.bucket.delete(failed.name, if_match=failed.etag)  # a newer failure record stays
            self._lookup.failed.pop(key, None)
        if mine.request_id is not None and local.request_id is None:
            local = super().record_submitted(local.id, mine.request_id)
            if mine.completed:
                local = super().record_state(local.id, AttemptState.COMPLETED)
        elif taken_over is not None and mine.request_id is None and local.state is AttemptState.CLAIMED:
            local = self._in_doubt(local, mine)
        return local

    def _failed_elsewhere(self, key: str, failed: Listed) -> KeyFailedError:
        got = self.bucket.get(failed.name)
        failure = Failure.from_bytes(got[0]) if got is not None else None
        why = f" by {failure.owner}: {failure.error or 'no error given'}" if failure is not None else ""
        return KeyFailedError(
            f"{key} was failed for good{why}, after this run planned it; nothing was bought"
            " (--retry-failed to buy it again)"
        )

    def _in_doubt(self, local: Attempt, claim: Claim) -> Attempt:
        """The previous holder died between its intent and a request id: settle it through the history."""
        with self._writable.write() as tx:
            tx.execute(
                "UPDATE attempts SET in_doubt = 1, claimed_at = ?, request_json = ? WHERE id = ?",
                (min(local.claimed_at, claim.claimed_at), claim.request_json, local.id),
            )
        return self.attempt(local.id)

    def _let_go(self, local: Attempt) -> None:
        """Give back the local half of a claim the bucket refused."""
        if local.state is AttemptState.CLAIMED and not local.in_doubt:
            super().release(local.id)
            return
        # It carries a request id or a doubt: leave it for the next claim here to take over, as a dead one's.
        with self._writable.write() as tx:
            tx.execute("UPDATE attempts SET owner_pid = 0, owner_started = -1 WHERE id = ?", (local.id,))

    def _drop_claim(self, key: str) -> None:
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None:
                self.bucket.delete(claim_name(key), if_match=held.etag)

    def request_ids(self, key: str) -> set[str]:
        ids = super().request_ids(key)
        with self._lock:
            held = self._held.get(key)
        return ids | set(held.claim.request_ids) if held is not None else ids

    def record_submitted(self, attempt_id: int, request_id: str) -> Attempt:
        attempt = super().record_submitted(attempt_id, request_id)
        self._update(attempt.key, lambda claim: claim.with_request(request_id, self._clock.now()), must=True)
        return attempt

    def record_state(
        self,
        attempt_id: int,
        state: AttemptState,
        *,
        error: str | None = None,
        reason: FailureReason | None = None,
        completed_at: float | None = None,
    ) -> Attempt:
        attempt = super().record_state(attempt_id, state, error=error, reason=reason, completed_at=completed_at)
        if state is AttemptState.FAILED:
            latest = super().attempts_for([attempt.key]).get(attempt.key)
            if latest is not None and latest.id == attempt.id and latest.failed_for_good:
                # Written before the claim goes, so another machine always finds one or the other.
                from reconciler.store.s3 import Listed

                name = failure_name(attempt.key)
                if (etag := self.bucket.put(name, Failure.of(latest).to_bytes())) is not None:
                    self._lookup.failed[attempt.key] = Listed(name, 0, etag, self._clock.now())
        if state in (AttemptState.FAILED, AttemptState.EXPIRED):
            # Settled: the job failed or its result is gone; the next claim starts afresh.
            self._drop_claim(attempt.key)
        return attempt

    def release(self, attempt_id: int) -> Attempt:
        attempt = super().release(attempt_id)
        self._drop_claim(attempt.key)
        return attempt

    def abandon(self, attempt_id: int) -> Attempt:
        attempt = super().abandon(attempt_id)
        # Left expired at once, without a request id: the next holder settles it through the history.
        self._update(attempt.key, lambda claim: claim.renewed(0.0, 0.0), must=False)
        with self._lock:
            self._held.pop(attempt.key, None)
        return attempt

    def record_output(self, key: str, **fields: Any) -> Output:
        output = super().record_output(key, **fields)
        self.push_output(output)
        self._drop_claim(key)
        return output

    def remote_claims(self) -> Iterable[Claim]:
        from reconciler.store.claims import CLAIMS

        for item in self.bucket.list(CLAIMS):
            got = self.bucket.get(item.name)
            if got is not None:
                yield Claim.from_bytes(got[0])

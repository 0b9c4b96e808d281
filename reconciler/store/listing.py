"""What plan reads of a bucket: output records, failure records and claims, in bulk listings.

Plan against a shared store is read-only and never asks one request per spec:

    outputs/sha256/       the names of the output records say key, digest and size: asked only
                          about the keys the local cache lacks; one page (1,000) first, and a bigger
                          bucket as 16 listings by the key's first hex digit, side by side
    outputs/...failed.json  failure records sit beside them, so the same listings find them; the
                          few of the keys plan wants are read (a key failed for good elsewhere)
    claims/sha256/        listed once when a key plan wants is neither stored nor settled; the
                          claims of those keys are read, so another machine's job in flight shows
                          pending (or in doubt, its lease lapsed before a request id), not create

`RemoteView` is that read side for `plan` (and `spend`: its `all_outputs` reads the records the
cache lacks); `RemoteStore` (remote.py) reads through the same lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from reconciler.records import Attempt, Observation, Output
from reconciler.store.claims import (
    CLAIMS,
    OUTPUTS,
    Claim,
    Failure,
    ListedOutput,
    key_of_claim,
    key_of_failure,
    output_prefix,
    parse_output_name,
    record_from_bytes,
)
from reconciler.store.owner import Alive
from reconciler.store.store import StoreView

if TYPE_CHECKING:
    # boto3 is slow to import: loaded only when a bucket is first reached.
    from reconciler.store.s3 import Bucket, Listed


def listed_outputs(bucket: Bucket) -> dict[str, ListedOutput]:
    """Every output record in the bucket, by key, from the listing alone (see every_record)."""
    return _parsed(every_record(bucket))


def every_record(bucket: Bucket) -> list[Listed]:
    """Every output and failure record: one page when the bucket holds no more, else listed by prefix."""
    page, more = bucket.list_page(OUTPUTS)
    return list(page) if more is None else list_by_prefix(bucket, OUTPUTS)


def list_by_prefix(bucket: Bucket, under: str) -> list[Listed]:
    """Every object under `under` (whose names go on with a hex digit), as 16 listings READERS at a time.

    One listing of a big bucket is a page after another, each waiting for the last one's token; the
    16 listings of `under` + 0..f page on their own, side by side.
    """
    budget = bucket.budget()  # the 16 together read no more than one listing may (s3.MAX_LISTED_OBJECTS)
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="reconciler-list") as pool:
        parts = list(pool.map(lambda digit: list(bucket.list(under + digit, budget=budget)), "0123456789abcdef"))
    return [item for part in parts for item in part]


def _listed_as_output(listed: ListedOutput) -> Output:
    # What plan needs (that the key is stored, and its blob); the record is read when it is fetched.
    return Output(listed.key, listed.digest, listed.size, "", None, None, "", None, 0.0)


# When the bucket holds more output records than one listing page, up to this many keys missing
# from the local cache are looked up one listing of their own each; more list every record.
FEW_MISSING = 16


# How many requests a shared store's reader has in flight at once (S3 serves each in a few ms, one
# after another is the slow part): record reads for spend, listings by prefix for plan. The S3
# client keeps as many connections (s3.py).
READERS = 16


def read_records(bucket: Bucket, listed: Iterable[ListedOutput]) -> list[Output]:
    """The output records `listed` names, read READERS at a time; one that vanished meanwhile is left out."""
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="reconciler-read") as pool:
        bodies = list(pool.map(lambda item: bucket.get(item.name), listed))
    return [record_from_bytes(got[0]) for got in bodies if got is not None]


def of_key(bucket: Bucket, key: str) -> tuple[ListedOutput | None, Listed | None]:
    """The key's output record and failure record in the bucket, from one listing of its own prefix."""
    items = list(bucket.list(output_prefix(key)))
    return _parsed(items).get(key), _failures_in(items).get(key)


def _parsed(items: Iterable[Listed]) -> dict[str, ListedOutput]:
    return {listed.key: listed for item in items if (listed := parse_output_name(item.name)) is not None}


def _failures_in(items: Iterable[Listed]) -> dict[str, Listed]:
    return {key: item for item in items if (key := key_of_failure(item.name)) is not None}


class Lookup:
    """Which keys the bucket has stored, asked only about the keys the local cache lacks.

    An output record is never withdrawn or changed, so a key the local cache holds (blob present,
    hash-checked when it was fetched or made) needs no request at all, and a key found in the
    bucket stays found for as long as this store is open. The first question reads one listing
    page: for a bucket of up to 1,000 outputs that is all of them, in one request.
    """

    def __init__(self, bucket: Callable[[], Bucket]) -> None:
        self._bucket = bucket
        self._everything: dict[str, ListedOutput] | None = None
        self._found: dict[str, ListedOutput] = {}
        self._absent: set[str] = set()
        self._first_page = False
        # Failure records seen in the same listings (they sit beside the outputs): known for every
        # key `find` was asked about and found no output of.
        self.failed: dict[str, Listed] = {}

    def everything(self) -> dict[str, ListedOutput]:
        if self._everything is None:
            # After the first page (find), only a bucket of more than one page gets here: list it by prefix.
            items = list_by_prefix(self._bucket(), OUTPUTS) if self._first_page else every_record(self._bucket())
            self._everything = _parsed(items)
            self._found.update(self._everything)
            self.failed = _failures_in(items)
        return self._everything

    def find(self, missing: Collection[str]) -> dict[str, ListedOutput]:
        """The bucket's records of `missing` (keys the local cache lacks), by key."""
        unknown = [key for key in missing if key not in self._found and key not in self._absent]
        if unknown and self._everything is None and not self._first_page:
            self._first_page = True
            page, more = self._bucket().list_page(OUTPUTS)
            self._found.update(_parsed(page))
            self.failed.update(_failures_in(page))
            if more is None:
                self._everything = dict(self._found)
            unknown = [key for key in unknown if key not in self._found]
        if unknown and self._everything is None:
            if len(unknown) > FEW_MISSING:
                self.everything()
            else:
                for key in unknown:
                    listed, failed = of_key(self._bucket(), key)
                    if failed is not None:
                        self.failed[key] = failed
                    if listed is not None:
                        self._found[key] = listed
                    else:
                        # Absent now; apply asks again under its claim before it pays (_claim_remote).
                        self._absent.add(key)
        return {key: self._found[key] for key in missing if key in self._found}

    def add(self, listed: ListedOutput) -> None:
        self._found[listed.key] = listed
        self._absent.discard(listed.key)
        if self._everything is not None:
            self._everything[listed.key] = listed


def _failures_of(bucket: Bucket, listed: Mapping[str, Listed], keys: Collection[str]) -> dict[str, Attempt]:
    """The failed attempts the bucket's failure records hold for `keys` (a request each that has one)."""
    found: dict[str, Attempt] = {}
    for key in keys:
        if (item := listed.get(key)) is not None and (got := bucket.get(item.name)) is not None:
            found[key] = Failure.from_bytes(got[0]).as_attempt()
    return found


def _unsettled(latest: Attempt | None) -> bool:
    return latest is None or not (latest.is_open or latest.failed_for_good)


def in_flight(bucket: Bucket, keys: Collection[str], *, now: float, grace_s: float, alive: Alive) -> dict[str, Attempt]:
    """The claims the bucket holds on `keys`, as open attempts: one listing of every claim, a read of each of these.

    A claim whose lease ran out (its owner stopped renewing) before it recorded a request id reads
    as a dead owner's, so plan shows it in doubt, as apply will settle it.
    """
    wanted = set(keys)
    found: dict[str, Attempt] = {}
    for item in [item for item in bucket.list(CLAIMS) if key_of_claim(item.name) in wanted]:
        if (got := bucket.get(item.name)) is not None:  # None: finished since the listing
            claim = Claim.from_bytes(got[0])
            live = not claim.expired(now, grace_s=grace_s) and alive(claim.owner)
            found[claim.key] = claim.as_attempt(owner_alive=live)
    return found


def with_listed(
    local: Observation,
    lookup: Lookup,
    bucket: Callable[[], Bucket],
    keys: Collection[str],
    *,
    now: float,
    grace_s: float,
    alive: Alive,
) -> Observation:
    """The local observation, with the outputs, failures for good and claims only the bucket holds added.

    The bucket is asked about the keys the local cache has no output of only; the listings that
    answer that also show their failure records, read for the keys neither in flight nor failed
    for good here. The keys still unsettled then (nothing stored, failed or in flight anywhere
    we looked) are looked for among the claims: another machine may be buying them right now.
    """
    found = lookup.find([key for key in keys if key not in local.stored])
    merged = dict(local.stored) | {key: listed.digest for key, listed in found.items()}
    unsettled = [key for key in keys if key not in merged and _unsettled(local.attempts.get(key))]
    failed = _failures_of(bucket(), lookup.failed, unsettled) if lookup.failed else {}
    unclaimed = [key for key in unsettled if key not in failed]
    claimed = in_flight(bucket(), unclaimed, now=now, grace_s=grace_s, alive=alive) if unclaimed else {}
    if not found and not failed and not claimed:
        return local
    lost = {key: digest for key, digest in local.lost.items() if key not in found}
    return local._replace(stored=merged, attempts=dict(local.attempts) | failed | claimed, lost=lost)


class RemoteView(StoreView):
    """The read side against a bucket, for plan: the local cache, and the bucket for what it lacks.

    The S3 client (and boto3) is made only when a key is missing from the local cache.
    """

    def __init__(self, local: StoreView, bucket: Callable[[], Bucket]) -> None:
        super().__init__(local.root, local._conn, clock=local._clock, identity=local._identity)
        self._make_bucket = bucket
        self._bucket: Bucket | None = None
        self._lookup = Lookup(lambda: self.bucket)

    @property
    def bucket(self) -> Bucket:
        if self._bucket is None:
            self._bucket = self._make_bucket()
        return self._bucket

    def change_token(self) -> bytes | None:
        """None: the bucket changes without the local cache knowing, so no plan is shown again from memory."""
        return None

    def listed(self) -> dict[str, ListedOutput]:
        return self._lookup.everything()

    def all_outputs(self) -> list[Output]:
        """Every output of the shared store: the local cache's rows, and the bucket's records of the rest.

        A record the cache lacks is read (a request each, a few at once): spend needs its request id
        and cost, which its name does not say.
        """
        local = super().all_outputs()
        have = {output.key for output in local}
        missing = [listed for key, listed in self._lookup.everything().items() if key not in have]
        return local + read_records(self.bucket, missing)

    def outputs_for(self, keys: Collection[str]) -> dict[str, Output]:
        found = super().outputs_for(keys)
        listed = self._lookup.find([key for key in keys if key not in found])
        return found | {key: _listed_as_output(item) for key, item in listed.items()}

    def observe(
        self,
        keys: Collection[str],
        *,
        roots: Mapping[str, Collection[str]] | None = None,
        orphan_limit: int | None = 10,
    ) -> Observation:
        # No grace here: a lapsed lease shows in doubt (its cost counted as possible) a little early.
        return with_listed(
            super().observe(keys, roots=roots, orphan_limit=orphan_limit), self._lookup, lambda: self.bucket, keys,
            now=self._clock.now(), grace_s=0.0, alive=self._alive,
        )  # fmt: skip

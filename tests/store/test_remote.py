"""The remote store against a real S3 API server (moto over HTTP): claims, leases, takeover, outputs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import KeyFailedError, StoreError
from reconciler.records import AttemptState, FailureReason, Output, Owner
from reconciler.store.claims import (
    Claim,
    claim_name,
    failure_name,
    output_name,
    parse_output_name,
    record_bytes,
)
from reconciler.store.location import Remote
from reconciler.store.owner import Identity
from reconciler.store.remote import RemoteStore
from tests.conftest import S3Server, put_blob
from tests.store.conftest import FakeClock

KEY = "sha256:" + "ab" * 32
BODY = {"prompt": "a cat", "seed": 1}
LEASE_S = 60.0


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def machine(name: str) -> Identity:
    """Another machine: its processes are alive as far as this host can tell, so only the lease counts."""
    return Identity(Owner(name, "boot", 1, 1), lambda owner: True)


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def open_remote(tmp_path: Path, bucket: str, clock: FakeClock) -> Iterator[Any]:
    opened: list[RemoteStore] = []

    def _open(name: str) -> RemoteStore:
        store = RemoteStore.open_remote(
            tmp_path / name / ".reconciler", Remote(bucket, "team"), clock=clock, identity=machine(name),
            lease_s=LEASE_S, renew=False,
        )  # fmt: skip
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


def claim(store: RemoteStore, *, retry_failed: bool = False) -> Any:
    return store.claim(KEY, namespace="mock", model="wan-2.2-t2v-fast", request_body=BODY, retry_failed=retry_failed)


def stored_claim(s3: S3Server, bucket: str) -> Claim:
    body = s3.client().get_object(Bucket=bucket, Key=f"team/{claim_name(KEY)}")["Body"].read()
    return Claim.from_bytes(body)


def test_opening_a_server_that_ignores_conditional_writes_is_refused(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    s3.honour_conditions = False
    with pytest.raises(StoreError, match="ignores conditional writes"):
        RemoteStore.open_remote(tmp_path / ".reconciler", Remote(bucket, "team"), renew=False)
    assert not (tmp_path / ".reconciler").exists()
    assert s3.names(bucket) == []  # the probe cleaned up after itself


def test_opening_a_bucket_that_does_not_exist_is_a_clear_store_error(s3: S3Server, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"s3://no-such-bucket-here/team.*NoSuchBucket"):
        RemoteStore.open_remote(tmp_path / ".reconciler", Remote("no-such-bucket-here", "team"), renew=False)


def test_a_claim_in_the_bucket_keeps_another_machine_from_claiming_the_key(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    mine = claim(first)
    assert mine is not None
    assert mine.state is AttemptState.CLAIMED
    assert claim(second) is None
    assert stored_claim(s3, bucket).owner.host == "a"
    # The loser gave its local half back: nothing is left claimed in its cache.
    assert second.open_attempts() == []


def test_an_expired_claim_with_a_request_id_is_taken_over_with_it_and_never_in_doubt(
    open_remote: Any, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    held = claim(first)
    first.record_submitted(held.id, "req-1")
    clock.advance(LEASE_S - 1)
    assert claim(second) is None  # the lease still runs
    clock.advance(LEASE_S)
    taken = claim(second)
    assert taken is not None
    assert taken.state is AttemptState.SUBMITTED
    assert taken.request_id == "req-1"
    assert not taken.in_doubt
    assert stored_claim(s3, bucket).owner.host == "b"
    assert stored_claim(s3, bucket).request_id == "req-1"


def test_an_expired_claim_without_a_request_id_is_taken_over_in_doubt_from_its_intent(
    open_remote: Any, clock: FakeClock
) -> None:
    first, second = open_remote("a"), open_remote("b")
    held = claim(first)
    intended = held.claimed_at
    clock.advance(3 * LEASE_S)
    taken = claim(second)
    assert taken is not None
    assert taken.state is AttemptState.CLAIMED
    assert taken.in_doubt
    assert taken.claimed_at == intended  # the history is searched from the first holder's intent


def test_a_request_id_recorded_after_the_lease_lapsed_still_reaches_the_claim(
    open_remote: Any, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    held = claim(first)
    clock.advance(3 * LEASE_S)
    assert claim(second) is not None  # b took it over, in doubt
    first.record_submitted(held.id, "req-late")  # a's submit answered after all
    assert stored_claim(s3, bucket).request_id == "req-late"
    assert stored_claim(s3, bucket).owner.host == "b"


def test_a_renewed_lease_is_never_taken_over(open_remote: Any, clock: FakeClock) -> None:
    first, second = open_remote("a"), open_remote("b")
    claim(first)
    for _ in range(5):
        clock.advance(LEASE_S / 2)
        first.renew()
        assert claim(second) is None


def test_renewing_leaves_a_claim_younger_than_a_sixth_of_its_lease_unwritten(
    open_remote: Any, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    first = open_remote("a")
    claim(first)
    taken = stored_claim(s3, bucket)
    served = len(s3.requests)
    clock.advance(LEASE_S / 10)
    first.renew()
    assert s3.requests[served:] == []
    clock.advance(LEASE_S / 10)
    first.renew()
    assert [method for method, _ in s3.requests[served:]] == ["PUT"]
    assert stored_claim(s3, bucket).lease_until == pytest.approx(taken.lease_until + LEASE_S / 5)


def test_an_output_is_written_blob_first_and_another_cache_fetches_it_verified(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    held = claim(first)
    first.record_submitted(held.id, "req-1")
    blob = put_blob(first, [b"video bytes " * 1000])
    first.record_output(
        KEY, digest=blob.digest, size=blob.size, model="wan-2.2-t2v-fast", request_id="req-1", cost_usd=0.1,
        namespace="mock", attempt_id=held.id,
    )  # fmt: skip
    names = s3.names(bucket, "team/")
    records = [parse_output_name(n.removeprefix("team/")) for n in names if "/outputs/" in n]
    assert [(r.key, r.digest, r.size) for r in records if r] == [(KEY, blob.digest, blob.size)]
    assert not any("/claims/" in n for n in names)  # the claim went once the output was recorded
    fetched = second.outputs_for([KEY])[KEY]
    assert (fetched.digest, fetched.request_id) == (blob.digest, "req-1")
    assert second.blob_path(blob.digest).read_bytes() == b"video bytes " * 1000
    assert claim(second) is None  # stored: nothing to claim


def stored_then_swapped(first: RemoteStore, s3: S3Server, bucket: str, body: bytes) -> Any:
    """`first` stores b"good bytes" as KEY's video; then the bucket's copy of that blob is `body`. The blob."""
    held = claim(first)
    blob = put_blob(first, [b"good bytes"])
    first.record_output(
        KEY, digest=blob.digest, size=blob.size, model="m", request_id=None, cost_usd=None, namespace="mock",
        attempt_id=held.id,
    )  # fmt: skip
    hexdigest = blob.digest.removeprefix("sha256:")
    s3.client().put_object(Bucket=bucket, Key=f"team/objects/sha256/{hexdigest[:2]}/{hexdigest[2:]}", Body=body)
    return blob


def test_a_corrupt_remote_blob_is_never_taken_into_the_cache(open_remote: Any, s3: S3Server, bucket: str) -> None:
    first, second = open_remote("a"), open_remote("b")
    blob = stored_then_swapped(first, s3, bucket, b"evil bytes")
    with pytest.raises(StoreError, match="corrupt"):
        second.outputs_for([KEY])
    assert not second.has_blob(blob.digest)


def test_a_remote_blob_longer_than_its_record_says_is_cut_off_not_written_on(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    blob = stored_then_swapped(first, s3, bucket, b"good bytes" * 100_000)
    with pytest.raises(StoreError, match="past the limit of 10 bytes"):
        second.outputs_for([KEY])
    assert not second.has_blob(blob.digest)
    assert list((second.root / "tmp").glob("*")) == []  # nothing of it kept


def test_a_claim_object_reconciler_did_not_write_is_a_store_error_not_a_crash(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    s3.client().put_object(Bucket=bucket, Key=f"team/{claim_name(KEY)}", Body=b"not json")
    store = open_remote("a")
    with pytest.raises(StoreError, match="not one reconciler wrote"):
        claim(store)
    assert store.open_attempts() == []  # the local half was given back: nothing can be submitted on it


def test_a_few_keys_missing_from_the_local_cache_of_a_big_bucket_are_looked_up_one_listing_each(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    client = s3.client()
    digest = "sha256:" + "cd" * 32
    stored = [f"sha256:{n:064x}" for n in range(1001)]  # more than one listing page
    for key in stored:
        record = Output(key, digest, 5, "wan-2.2-t2v-fast", "req", 0.1, "mock", None, 0.0)
        client.put_object(Bucket=bucket, Key=f"team/{output_name(key, digest, 5)}", Body=record_bytes(record))
    view = open_remote("a")
    served = len(s3.requests)
    # One on the first page (of 1,000), one past it, one never stored.
    wanted = [stored[0], stored[1000], "sha256:" + "ef" * 32]
    observed = view.observe(wanted)
    assert sorted(observed.stored) == sorted(wanted[:2])
    asked = [path for _, path in s3.requests[served:]]
    # The first page, one small listing per key it did not hold, then the claims (is the last in flight?).
    assert len(asked) == 4
    assert all("list-type=2" in path for path in asked)


def test_a_permanent_failure_is_seen_by_another_machine_and_a_temporary_one_is_not(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    attempt = claim(first)
    assert attempt is not None
    first.record_submitted(attempt.id, "req-1")
    first.record_state(attempt.id, AttemptState.FAILED, error="blocked", reason=FailureReason.TEMPORARY)
    assert KEY not in second.observe([KEY]).attempts  # below the limit: worth another try anywhere
    again = claim(second)
    assert again is not None
    second.record_submitted(again.id, "req-2")
    second.record_state(again.id, AttemptState.FAILED, error="blocked by policy", reason=FailureReason.PERMANENT)
    seen = open_remote("c").observe([KEY]).attempts[KEY]
    assert (seen.state, seen.reason, seen.error, seen.request_id) == (
        AttemptState.FAILED, FailureReason.PERMANENT, "blocked by policy", "req-2",
    )  # fmt: skip
    assert not any(parse_output_name(name) for name in s3.names(bucket, "team/outputs/"))
    assert claim(first, retry_failed=True) is not None  # a claim (plan chose it: --retry-failed) clears the record
    assert s3.names(bucket, "team/outputs/") == []


def test_a_failure_record_reconciler_did_not_write_is_a_store_error_not_a_crash(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    s3.client().put_object(Bucket=bucket, Key=f"team/{failure_name(KEY)}", Body=b"{}")
    with pytest.raises(StoreError, match="not one reconciler wrote"):
        open_remote("a").observe([KEY])


def test_a_claim_that_finds_a_failure_record_written_after_its_plan_is_refused_and_leaves_it(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    first, second = open_remote("a"), open_remote("b")
    attempt = claim(first)
    assert attempt is not None
    assert claim(second) is None  # b planned the key and waits on a's claim
    first.record_submitted(attempt.id, "req-1")
    first.record_state(attempt.id, AttemptState.FAILED, error="blocked by policy", reason=FailureReason.PERMANENT)
    with pytest.raises(KeyFailedError, match=r"blocked by policy.*--retry-failed"):
        claim(second)
    assert s3.names(bucket, "team/outputs/") == [f"team/{failure_name(KEY)}"]
    assert s3.names(bucket, "team/claims/") == []
    assert second.open_attempts() == []  # nothing may be submitted on it


def test_many_keys_missing_from_the_local_cache_of_a_big_bucket_are_listed_by_prefix_side_by_side(
    open_remote: Any, s3: S3Server, bucket: str
) -> None:
    client = s3.client()
    digest = "sha256:" + "cd" * 32
    # 20 records past the first listing page (of 1,000): more than FEW_MISSING to look up one by one.
    stored = [sha256(str(n).encode()) for n in range(1020)]
    for key in stored:
        record = Output(key, digest, 5, "wan-2.2-t2v-fast", "req", 0.1, "mock", None, 0.0)
        client.put_object(Bucket=bucket, Key=f"team/{output_name(key, digest, 5)}", Body=record_bytes(record))
    view = open_remote("a")
    served = len(s3.requests)
    observed = view.observe([*stored, "sha256:" + "ef" * 32])  # the cache lacks them all; one was never stored
    assert sorted(observed.stored) == sorted(stored)
    prefixes = sorted(path.split("prefix=")[1].split("&")[0] for _, path in s3.requests[served:] if "prefix=" in path)
    by_digit = [f"team%2Foutputs%2Fsha256%2F{digit}" for digit in "0123456789abcdef"]
    assert [p for p in prefixes if p in by_digit] == by_digit  # each first digit listed on its own

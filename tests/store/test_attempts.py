"""Attempts are the write-ahead log of paid submits: one live claim per key, dead owners taken over."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import AttemptStateError, KeyFailedError
from reconciler.store import AttemptState, FailureReason, Owner, Store, current_owner, is_alive
from reconciler.store.owner import start_ticks

BODY = {"prompt": "a lighthouse in fog", "seed": 7}


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest()


def claim(store: Store, k: str, owner: Owner | None = None):
    return store.claim(k, namespace="fake", model="wan2.7-t2v", request_body=BODY, owner=owner)


def test_a_claim_records_the_exact_request_body_before_anything_is_sent(store: Store) -> None:
    attempt = claim(store, key(1))
    assert attempt is not None
    assert attempt.state is AttemptState.CLAIMED
    assert attempt.request_body == BODY
    assert attempt.request_json == json.dumps(BODY, sort_keys=True, separators=(",", ":"))
    assert not attempt.in_doubt
    assert attempt.owner_alive
    assert store.attempts_for([key(1)]) == {key(1): attempt}


def test_a_key_held_by_a_live_owner_cannot_be_claimed_again(store: Store) -> None:
    assert claim(store, key(1)) is not None
    assert claim(store, key(1)) is None


def test_a_key_that_is_already_stored_cannot_be_claimed(store: Store, record: Callable[..., str]) -> None:
    record(key(1), b"video")
    assert claim(store, key(1)) is None


def test_an_attempt_walks_from_claimed_to_stored(store: Store, record: Callable[..., str], clock) -> None:
    attempt = claim(store, key(1))
    clock.advance(1)
    submitted = store.record_submitted(attempt.id, "req-1")
    assert (submitted.state, submitted.request_id) == (AttemptState.SUBMITTED, "req-1")
    assert submitted.submitted_at == clock.now()
    clock.advance(90)
    completed = store.record_state(attempt.id, AttemptState.COMPLETED)
    assert completed.completed_at == clock.now()
    record(key(1), b"video", attempt_id=attempt.id)
    assert store.attempts_for([key(1)])[key(1)].state is AttemptState.STORED
    assert store.open_attempts() == []


def test_a_failed_attempt_keeps_its_error_and_reason(store: Store) -> None:
    attempt = claim(store, key(1))
    store.record_submitted(attempt.id, "req-1")
    failed = store.record_state(
        attempt.id, AttemptState.FAILED, error="422: prompt blocked", reason=FailureReason.PERMANENT
    )
    assert (failed.state, failed.error, failed.reason) == (
        AttemptState.FAILED,
        "422: prompt blocked",
        FailureReason.PERMANENT,
    )
    with pytest.raises(KeyFailedError, match="--retry-failed"):
        claim(store, key(1))  # failed for good: only a run asked to retry it may buy it again
    again = store.claim(key(1), namespace="fake", model="wan2.7-t2v", request_body=BODY, retry_failed=True)
    assert again is not None, "a failed key may be claimed again when the caller asks to retry it"


def test_a_run_that_planned_a_key_before_another_run_failed_it_for_good_is_refused_its_claim(
    store: Store, root: Path, clock
) -> None:
    # Run B planned `create` while run A held the key; A's job then failed for good (a content
    # block), and B, done waiting, claims: buying the same refusal again is what nobody asked for.
    first = claim(store, key(1))
    store.record_submitted(first.id, "req-1")
    store.record_state(first.id, AttemptState.FAILED, error="422: blocked", reason=FailureReason.PERMANENT)
    with Store.open(root, clock=clock) as other_run, pytest.raises(KeyFailedError) as refused:
        other_run.claim(key(1), namespace="fake", model="wan2.7-t2v", request_body=BODY)
    assert "422: blocked" in str(refused.value)
    assert [a.state for a in store.open_attempts()] == []


def test_three_failures_in_a_row_refuse_a_claim_but_two_do_not(store: Store) -> None:
    for n in range(3):
        attempt = claim(store, key(1))
        assert attempt is not None, f"the key may be tried again after {n} temporary failures"
        store.record_submitted(attempt.id, f"req-{n}")
        store.record_state(attempt.id, AttemptState.FAILED, error="500: worker lost", reason=FailureReason.TEMPORARY)
    with pytest.raises(KeyFailedError, match="500: worker lost"):
        claim(store, key(1))


def test_a_failure_without_a_reason_is_refused(store: Store) -> None:
    attempt = claim(store, key(1))
    with pytest.raises(AttemptStateError, match="reason"):
        store.record_state(attempt.id, AttemptState.FAILED, error="boom")


def test_a_finished_attempt_never_moves_again(store: Store) -> None:
    attempt = claim(store, key(1))
    store.record_submitted(attempt.id, "req-1")
    store.record_state(attempt.id, AttemptState.EXPIRED)
    with pytest.raises(AttemptStateError, match="expired and cannot become completed"):
        store.record_state(attempt.id, AttemptState.COMPLETED)
    with pytest.raises(AttemptStateError, match="cannot become submitted"):
        store.record_submitted(attempt.id, "req-2")


def test_a_released_claim_frees_the_key_and_a_sent_one_cannot_be_released(store: Store) -> None:
    first = claim(store, key(1))
    assert store.release(first.id).state is AttemptState.RELEASED
    second = claim(store, key(1))
    assert second is not None
    store.record_submitted(second.id, "req-2")
    with pytest.raises(AttemptStateError):
        store.release(second.id)


def test_an_unknown_attempt_id_is_a_store_error(store: Store) -> None:
    with pytest.raises(AttemptStateError, match="no attempt 42"):
        store.record_submitted(42, "req")


def test_a_claim_left_by_a_dead_owner_is_taken_over_and_marked_in_doubt(store: Store, dead_owner: Owner) -> None:
    old = claim(store, key(1), owner=dead_owner)
    assert not is_alive(dead_owner)
    new = claim(store, key(1))
    assert new is not None
    assert new.supersedes == old.id
    assert new.in_doubt, "the dead owner may have sent the submit: look it up before paying again"
    assert new.state is AttemptState.CLAIMED
    assert store.attempt(old.id).state is AttemptState.SUPERSEDED
    assert store.attempts_for([key(1)])[key(1)].id == new.id
    submitted = store.record_submitted(new.id, "found-in-history")
    assert not submitted.in_doubt


def test_a_dead_owners_submitted_job_is_inherited_not_paid_again(store: Store, dead_owner: Owner) -> None:
    old = claim(store, key(1), owner=dead_owner)
    store.record_submitted(old.id, "req-paid")
    new = claim(store, key(1))
    assert (new.state, new.request_id, new.in_doubt) == (AttemptState.SUBMITTED, "req-paid", False)
    assert new.submitted_at == store.attempt(old.id).submitted_at


def test_a_taken_over_attempt_refuses_further_updates(store: Store, dead_owner: Owner) -> None:
    old = claim(store, key(1), owner=dead_owner)
    new = claim(store, key(1))
    with pytest.raises(AttemptStateError, match=f"taken over by attempt {new.id}"):
        store.record_submitted(old.id, "late")


def test_an_owner_on_another_host_is_never_taken_over(store: Store, dead_owner: Owner) -> None:
    elsewhere = Owner(host="another-host", boot="x", pid=1, started=1)
    assert claim(store, key(1), owner=elsewhere) is not None
    assert claim(store, key(1)) is None


def test_observed_latency_is_the_median_of_recent_submit_to_completion_times(store: Store, clock) -> None:
    assert store.observed_latency("wan2.7-t2v") is None
    for n, seconds in enumerate([60, 300, 90]):
        attempt = claim(store, key(n))
        store.record_submitted(attempt.id, f"req-{n}")
        clock.advance(seconds)
        store.record_state(attempt.id, AttemptState.COMPLETED)
    assert store.observed_latency("wan2.7-t2v") == 90
    assert store.observed_latency("wan2.1-t2v") is None


def test_uploaded_images_are_remembered_per_namespace(store: Store) -> None:
    store.remember_upload("fake", "ab" * 32, "https://fake/upload/1.png")
    assert store.uploaded_url("fake", "ab" * 32) == "https://fake/upload/1.png"
    assert store.uploaded_url("segmind", "ab" * 32) is None


CLAIMER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from reconciler.store import Store
    root, go, done, key = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    store = Store.open(root)
    while not go.exists():
        time.sleep(0.005)
    attempt = store.claim(key, namespace="fake", model="m", request_body={"p": 1})
    print("won" if attempt else "lost", flush=True)
    while not done.exists():  # stay alive so the winner's claim stays live
        time.sleep(0.01)
    store.close()
    """
)


@pytest.mark.slow
def test_exactly_one_of_several_processes_racing_for_a_key_wins(root: Path, tmp_path: Path, clock) -> None:
    Store.open(root, clock=clock).close()
    go, done = tmp_path / "go", tmp_path / "done"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(root), str(go), str(done), key(1)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    time.sleep(0.5)
    go.touch()
    try:
        results = [racer.stdout.readline().strip() for racer in racers]
    finally:
        done.touch()
        for racer in racers:
            racer.wait(timeout=60)
            racer.stdout.close()
    assert sorted(results) == ["lost", "lost", "lost", "won"]
    with Store.open_readonly(root) as view:
        assert len(view.open_attempts()) == 1


@pytest.mark.slow
def test_a_claim_of_a_process_that_died_is_taken_over_by_the_next_run(root: Path, clock) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from reconciler.store import Store
        store = Store.open(Path({str(root)!r}))
        attempt = store.claim({key(1)!r}, namespace="fake", model="m", request_body={{"p": 1}})
        store.record_submitted(attempt.id, "req-before-crash")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False, timeout=60).returncode == -9
    with Store.open(root, clock=clock) as store:
        (orphaned,) = store.open_attempts()
        assert not orphaned.owner_alive
        new = claim(store, key(1))
        assert new is not None
        assert (new.state, new.request_id, new.supersedes) == (AttemptState.SUBMITTED, "req-before-crash", orphaned.id)


def test_observe_reads_outputs_and_latest_attempts_in_one_snapshot(store: Store, record: Callable[..., str]) -> None:
    blob = record(key(1), b"stored video")
    pending = claim(store, key(2))
    observed = store.observe([key(1), key(2), key(3), key(2)])
    assert observed.stored == {key(1): blob}
    assert observed.attempts == {key(2): pending}


def test_attempts_for_many_keys_returns_only_each_keys_latest(store: Store) -> None:
    latest = {}
    for n in range(30):
        first = claim(store, key(n))
        store.release(first.id)
        latest[key(n)] = claim(store, key(n))
    assert store.attempts_for([key(n) for n in range(40)]) == latest


def test_an_output_cannot_close_another_keys_attempt(store: Store, record: Callable[..., str]) -> None:
    attempt = claim(store, key(1))
    with pytest.raises(AttemptStateError, match="not for"):
        record(key(2), b"video", attempt_id=attempt.id)
    assert store.attempt(attempt.id).state is AttemptState.CLAIMED
    assert store.outputs_for([key(2)]) == {}


def test_a_stored_result_whose_output_was_dropped_is_fetched_again_not_paid_again(
    store: Store, record: Callable[..., str]
) -> None:
    first = claim(store, key(1))
    store.record_submitted(first.id, "req-paid")
    digest = record(key(1), b"video", attempt_id=first.id)
    damaged = store.blob_path(digest)
    damaged.chmod(0o644)
    damaged.write_bytes(b"bit rot")
    assert store.verify().problems  # verify quarantines the damaged blob and drops its output
    again = claim(store, key(1))
    assert (again.state, again.request_id, again.supersedes) == (AttemptState.COMPLETED, "req-paid", first.id)
    store.record_state(again.id, AttemptState.EXPIRED)
    fresh = claim(store, key(1))
    assert (fresh.state, fresh.request_id, fresh.in_doubt) == (AttemptState.CLAIMED, None, False)


def test_the_store_can_be_called_from_worker_threads(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def claim_and_submit(n: int) -> int:
        attempt = claim(store, key(n % 10))
        if attempt is None:
            return 0
        store.record_submitted(attempt.id, f"req-{n}")
        return 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        won = sum(pool.map(claim_and_submit, range(40)))
    assert won == 10, "each of the 10 keys is claimed exactly once"
    assert len(store.open_attempts()) == 10


def test_a_killed_process_not_yet_reaped_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = dataclasses.replace(current_owner(), pid=child.pid, started=start_ticks(child.pid))
        assert is_alive(owner)
        child.kill()
        deadline = time.monotonic() + 10
        while is_alive(owner) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not is_alive(owner), "a zombie is dead even before its parent reaps it"
    finally:
        child.kill()
        child.wait()


def test_a_job_taken_over_counts_once_in_the_observed_latency(store: Store, clock, dead_owner: Owner) -> None:
    quick = claim(store, key(1))
    store.record_submitted(quick.id, "req-quick")
    clock.advance(60)
    store.record_state(quick.id, AttemptState.COMPLETED)
    slow = claim(store, key(2), owner=dead_owner)
    store.record_submitted(slow.id, "req-slow")
    clock.advance(600)
    store.record_state(slow.id, AttemptState.COMPLETED)
    claim(store, key(2))  # takes the dead owner's completed job over, with the same times
    assert store.observed_latency("wan2.7-t2v") == 330  # median of 60 and 600, not of 60, 600, 600


def test_the_latest_attempt_counts_the_failures_in_a_row_since_anything_else(
    store: Store, record: Callable[..., str]
) -> None:
    key = "sha256:" + "c" * 64

    def fail(times: int) -> None:
        for n in range(times):
            attempt = store.claim(key, namespace="fake", model="wan2.7-t2v", request_body={"n": n})
            assert attempt is not None
            store.record_submitted(attempt.id, f"r-{n}-{times}")
            store.record_state(attempt.id, AttemptState.FAILED, error="boom", reason=FailureReason.TEMPORARY)

    fail(2)
    released = store.claim(key, namespace="fake", model="wan2.7-t2v", request_body={})
    assert released is not None
    store.release(released.id)  # a claim given back unsent does not break the run
    fail(1)
    assert store.attempts_for([key])[key].failures_in_a_row == 3
    ok = store.claim(key, namespace="fake", model="wan2.7-t2v", request_body={}, retry_failed=True)
    assert ok is not None
    store.record_submitted(ok.id, "r-ok")
    store.record_state(ok.id, AttemptState.EXPIRED, error="gone")  # got somewhere: the run starts over
    fail(1)
    assert store.attempts_for([key])[key].failures_in_a_row == 1

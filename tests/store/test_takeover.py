"""How a claim begins, decided from the attempts before it alone: `takeover` is pure, no store needed."""

from __future__ import annotations

from reconciler.records import Attempt, AttemptState, Owner
from reconciler.store.attempts import Start, takeover

DEAD = Owner("host", "boot", 1234, 99)
T0 = 1_767_225_600.0


def attempt(n: int, state: AttemptState, request_id: str | None = None, *, alive: bool = False) -> Attempt:
    return Attempt(
        id=n, key="sha256:k", namespace="fake", model="wan2.7-t2v", state=state, request_json="{}",
        request_id=request_id, owner=DEAD, claimed_at=T0 + n, submitted_at=T0 + n + 1 if request_id else None,
        completed_at=T0 + n + 2 if state is AttemptState.STORED else None, updated_at=T0 + n, error=None,
        reason=None, supersedes=None, in_doubt=False, owner_alive=alive,
    )  # fmt: skip


def test_a_key_nobody_ever_claimed_starts_as_a_plain_claim() -> None:
    assert takeover([], None) == Start(AttemptState.CLAIMED)


def test_a_key_held_by_a_live_owner_cannot_be_claimed() -> None:
    assert takeover([attempt(1, AttemptState.SUBMITTED, "r1", alive=True)], None) is None


def test_a_dead_owners_claim_without_a_request_id_is_taken_over_in_doubt() -> None:
    start = takeover([attempt(1, AttemptState.CLAIMED)], None)
    assert start == Start(AttemptState.CLAIMED, supersedes=1, in_doubt=True, superseded=(1,))


def test_a_dead_owners_paid_job_is_resumed_by_its_request_id_never_paid_again() -> None:
    old = attempt(1, AttemptState.SUBMITTED, "r1")
    start = takeover([old], None)
    assert start == Start(AttemptState.SUBMITTED, "r1", old.submitted_at, None, 1, superseded=(1,))
    assert start is not None
    assert not start.in_doubt


def test_the_newest_request_id_among_several_dead_attempts_is_the_one_resumed() -> None:
    held = [
        attempt(1, AttemptState.SUBMITTED, "r1"),
        attempt(2, AttemptState.COMPLETED, "r2"),
        attempt(3, AttemptState.CLAIMED),
    ]
    start = takeover(held, None)
    assert start is not None
    assert (start.state, start.request_id, start.supersedes, start.in_doubt) == (AttemptState.COMPLETED, "r2", 3, False)
    assert start.superseded == (1, 2, 3)


def test_one_live_owner_among_dead_ones_keeps_the_key() -> None:
    assert takeover([attempt(1, AttemptState.CLAIMED), attempt(2, AttemptState.CLAIMED, alive=True)], None) is None


def test_a_stored_result_whose_output_was_dropped_is_fetched_again_by_its_request_id() -> None:
    stored = attempt(4, AttemptState.STORED, "r4")
    start = takeover([], stored)
    assert start == Start(AttemptState.COMPLETED, "r4", stored.submitted_at, stored.completed_at, supersedes=4)


def test_a_key_whose_last_attempt_failed_or_was_released_starts_afresh() -> None:
    for state in (AttemptState.FAILED, AttemptState.RELEASED, AttemptState.EXPIRED):
        assert takeover([], attempt(5, state, "r5" if state is not AttemptState.RELEASED else None)) == Start(
            AttemptState.CLAIMED
        )

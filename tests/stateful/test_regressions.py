"""Histories the state machine found that broke a guarantee, kept as plain tests once understood.

Each says what went wrong before the fix, in the words of the invariant it broke.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stateful.invariants import check, report
from tests.stateful.sim import Sim

FAST = "wan-2.2-t2v-fast"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    world = Sim(tmp_path, seed=0, adopt=False)  # these cut runs off by step counts fixed before adoption
    yield world
    world.close()


def holds(sim: Sim) -> None:
    sim.catch_up()
    failures = check(sim)
    assert not failures, report(failures)


def test_a_job_submitted_by_a_killed_apply_an_hour_ago_is_fetched_not_given_up_unseen(sim: Sim) -> None:
    # Before: the next apply measured its give-up time (30 min) from the old submit, so it gave
    # the job up as "still running after 62 min" before a single poll, on every run, forever
    # (no_lost_result, convergence).
    sim.write_spec("cat", model=FAST, prompt="a red kite over hills", seed=0)
    sim.run_engine(1, concurrency=1)  # the submit is recorded, then the process dies
    sim.crash()
    sim.advance(3700.0)  # past the fake's retention of results, too
    holds(sim)


def test_a_paid_job_whose_spec_was_edited_while_it_ran_is_still_stored(sim: Sim) -> None:
    # Before: the next apply planned only the edited spec's new key; the killed apply's paid job,
    # recorded in the store, was never fetched (no_lost_result). Now the plan lists it as a paid
    # job to fetch, and apply stores it without submitting anything for it.
    sim.write_spec("cat", model="wan2.1-t2v", prompt="a red kite over hills", seed=0)
    sim.run_engine(1, concurrency=1)
    sim.crash()
    sim.write_spec("cat", model=FAST, prompt="a red kite over hills", seed=0)
    holds(sim)
    assert sum(1 for _ in sim.submits()) == 2  # the old job (fetched, not bought again) and the new spec's


def test_a_blocked_prompt_whose_answer_was_lost_is_recorded_failed_not_bought_again(sim: Sim) -> None:
    # Before: the next apply found the job in the history, its status had expired (404), and the
    # history's "FAILED" was read as "gone", so the blocked prompt was submitted again
    # (no_duplicate_purchase). Now the history's failure is recorded as the job's failure.
    sim.write_spec("cat", model=FAST, prompt="a nsfw scene", seed=0)
    sim.run_engine(1, concurrency=1)  # the submit reaches the fake; the apply dies before the answer
    sim.crash()
    sim.advance(3700.0)
    holds(sim)
    assert sum(1 for _ in sim.submits()) == 1


def test_a_retry_of_a_blocked_prompt_cut_off_before_its_submit_is_finished_by_the_next_apply(sim: Sim) -> None:
    # Not a bug, but the invariant was too strict: `apply --retry-failed` claimed the key and died
    # before its submit left; the next apply (without the flag) found no job in the history and
    # submitted, finishing the retry that was asked for. no_duplicate_purchase now credits the claim.
    from tests.stateful.sim import Fault

    sim.write_spec("cat", model=FAST, prompt="a nsfw scene", seed=0)
    sim.run_engine(100_000)
    sim.arm(Fault.DROP_BEFORE)
    sim.run_engine(1, concurrency=1, retry_failed=True)
    sim.crash()
    holds(sim)
    assert sum(1 for s in sim.submits() if not s.refused) == 3  # blocked, lost, finished by the next apply

"""apply as real processes against a real fake: raced on one store, killed with -9, stopped by signals.

Each apply here is `python -m reconciler apply --yes` in its own process; the fake serves them over a
real socket from a thread of this process. The verdict comes only from outside the processes: the
fake's jobs and journal (what was paid for), exit codes and output, the store read-only, `reconciler
verify`, and the request id tagged into every out/ video.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mockserver.media import read_tags
from tests.conftest import Run, run_process
from tests.e2e.conftest import PATIENCE_S, TIME_SCALE, Fake, finished, spec, specs_file, stored_request_ids

NAMES = ("cat", "dog", "fox", "owl")
SLOW = 0.02  # wan-2.2-t2v-fast (93 s) takes about 1.9 s: kills land mid-flight


def eventually(condition: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def slow_down(fake: Fake, scale: float, **config: Any) -> None:
    fake.configure(time_scale=scale, **config)


def four_specs(write: Callable[[str, str], Path]) -> None:
    write("specs/a.yaml", specs_file(*(spec(name, f"a {name} in the snow") for name in NAMES)))


def assert_every_spec_stored_from_one_paid_job_each(fake: Fake, project: Path, names: tuple[str, ...]) -> None:
    """Every spec stored and laid out from the job recorded for it; no request body paid for twice."""
    ids = stored_request_ids(project, by="name_hint")
    assert sorted(ids) == sorted(names)
    for name in names:
        assert read_tags(project / "out" / f"{name}.mp4")["request_id"] == ids[name], name
    jobs = fake.jobs()
    paid_twice = {digest: n for digest, n in Counter(job["key"] for job in jobs).items() if n > 1}
    assert paid_twice == {}
    assert sorted(job["id"] for job in jobs) == sorted(ids.values())  # every paid job delivered a video
    verify = run_process("verify", cwd=project)
    assert verify.code == 0, verify.out + verify.err


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.out + run.err, run.err


# ---- two applies at once


@pytest.mark.slow
def test_two_applies_started_together_pay_for_each_spec_once_and_both_succeed(fake, write, project, processes) -> None:
    names = NAMES[:3]
    write("specs/a.yaml", specs_file(*(spec(name, f"a {name}") for name in names)))
    # The loser of each claim waits for the winner's run to store the video, then takes it from the store.
    first, second = processes.apply(scale=TIME_SCALE), processes.apply(scale=TIME_SCALE)
    for run in (finished(first), finished(second)):
        assert run.code == 0, run.out + run.err
        assert_no_traceback(run)
    assert len(fake.submits()) == 3
    assert_every_spec_stored_from_one_paid_job_each(fake, project, names)


# ---- kill -9 anywhere


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_apply_killed_at_random_moments_then_rerun_stores_everything_and_pays_for_nothing_twice(
    seed, fake, write, project, processes
) -> None:
    rng = random.Random(seed)
    # Some submits are answered a second after their job exists: a kill then leaves the key in
    # doubt, and the next run must find the job in the request history instead of paying again.
    script = [rng.choice([None, "latency"]) for _ in range(16)]
    slow_down(fake, SLOW, faults=[{"route": "submit", "script": script, "phase": "after", "latency_s": 1.0}])
    four_specs(write)
    for _ in range(rng.choice([1, 1, 2])):
        victim = processes.apply(scale=SLOW)
        time.sleep(rng.uniform(0, 2.5))
        processes.kill(victim)
    run = finished(processes.apply(scale=SLOW))
    assert run.code == 0, run.out + run.err
    assert_every_spec_stored_from_one_paid_job_each(fake, project, NAMES)


# ---- kill -9 with submits unanswered: the in-doubt path


@pytest.mark.slow
def test_apply_killed_while_its_submits_are_unanswered_is_resumed_by_adopting_the_jobs_from_the_history(
    fake, write, project, processes
) -> None:
    slow_down(fake, SLOW, faults=[{"route": "submit", "script": ["latency"] * 4, "phase": "after", "latency_s": 3}])
    four_specs(write)
    victim = processes.apply(scale=SLOW)
    eventually(lambda: len(fake.jobs()) == 4, what="the fake made all four jobs")
    processes.kill(victim)
    run = finished(processes.apply(scale=SLOW))
    assert run.code == 0, run.out + run.err
    assert run.out.count("adopted request") == 4
    assert len(fake.jobs()) == 4
    assert_every_spec_stored_from_one_paid_job_each(fake, project, NAMES)


# ---- Ctrl-C and SIGTERM


def stopped_by_interrupt(code: int) -> bool:
    """130, or death by SIGINT: a second Ctrl-C that lands while Python is exiting kills it outright.

    A shell reports both as 130.
    """
    return code in (130, -signal.SIGINT)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_interrupt_records_the_jobs_in_flight_exits_130_and_the_rerun_collects_them_without_a_submit(
    signum, fake, write, project, processes
) -> None:
    slow_down(fake, SLOW)
    four_specs(write)
    apply = processes.apply(scale=SLOW)
    eventually(lambda: len(fake.submits()) == 4, what="all four submits reached the fake")
    apply.send_signal(signum)
    run = finished(apply)
    assert run.code == 130, run.out + run.err
    assert_no_traceback(run)
    assert "interrupted: 4 jobs in flight are recorded; run `reconciler apply` again" in run.out
    rerun = finished(processes.apply(scale=SLOW))
    assert rerun.code == 0, rerun.out + rerun.err
    assert len(fake.submits()) == 4
    assert_every_spec_stored_from_one_paid_job_each(fake, project, NAMES)


@pytest.mark.slow
def test_two_quick_interrupts_exit_at_once_and_the_rerun_collects_the_jobs_in_flight(
    fake, write, project, processes
) -> None:
    slow_down(fake, SLOW)
    four_specs(write)
    apply = processes.apply(scale=SLOW)
    eventually(lambda: len(fake.submits()) == 4, what="all four submits reached the fake")
    apply.send_signal(signal.SIGINT)
    time.sleep(0.02)
    apply.send_signal(signal.SIGINT)
    run = finished(apply)
    assert stopped_by_interrupt(run.code), run.out + run.err
    assert_no_traceback(run)
    rerun = finished(processes.apply(scale=SLOW))
    assert rerun.code == 0, rerun.out + rerun.err
    assert len(fake.submits()) == 4
    assert_every_spec_stored_from_one_paid_job_each(fake, project, NAMES)


@pytest.mark.slow
def test_two_quick_interrupts_while_submits_are_unanswered_leave_them_for_the_rerun_to_adopt(
    fake, write, project, processes
) -> None:
    # Every job exists on the fake seconds before its submit is answered: the second Ctrl-C cuts
    # the submits off then, so the run never hears the request ids.
    slow_down(fake, SLOW, faults=[{"route": "submit", "script": ["latency"] * 4, "phase": "after", "latency_s": 3}])
    four_specs(write)
    apply = processes.apply(scale=SLOW)
    eventually(lambda: len(fake.jobs()) == 4, what="the fake made all four jobs")
    apply.send_signal(signal.SIGINT)
    time.sleep(0.02)
    apply.send_signal(signal.SIGINT)
    run = finished(apply)
    assert stopped_by_interrupt(run.code), run.out + run.err
    assert_no_traceback(run)
    rerun = finished(processes.apply(scale=SLOW))
    assert rerun.code == 0, rerun.out + rerun.err
    assert len(fake.jobs()) == 4  # nothing paid again
    assert_every_spec_stored_from_one_paid_job_each(fake, project, NAMES)

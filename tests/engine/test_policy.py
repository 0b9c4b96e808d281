"""Retry, polling and rate policies as pure functions of attempts, errors and time."""

from __future__ import annotations

import itertools
import random

import pytest

from reconciler.engine.policy import PollSchedule, RetryPolicy, TokenBucket, never_sent
from reconciler.errors import (
    ApiBadRequest,
    ApiError,
    ApiInsufficientCredits,
    ApiRateLimited,
    ApiServerError,
    ApiUnreachable,
)
from reconciler.plan.latency import SHIFT, Estimate, from_looks

RNG = random.Random(0)


def test_temporary_errors_back_off_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=1, cap_s=10, jitter=0)
    delays = [policy.next_delay(n, ApiServerError("x"), rng=RNG) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(base_s=4, jitter=0.25)
    rng = random.Random(1)
    for _ in range(200):
        delay = policy.next_delay(1, ApiServerError("x"), rng=rng)
        assert delay is not None
        assert 3 <= delay <= 5


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.next_delay(1, ApiRateLimited("slow down", retry_after=7), rng=RNG) == 7


@pytest.mark.parametrize("error", [ApiBadRequest("bad"), ApiInsufficientCredits("poor")])
def test_permanent_errors_are_never_retried(error: Exception) -> None:
    assert RetryPolicy().next_delay(1, error, rng=RNG) is None  # type: ignore[arg-type]


def test_a_paid_submit_that_may_have_been_sent_is_never_retried_blindly() -> None:
    lost = ApiUnreachable("connection lost", maybe_sent=True)
    refused = ApiUnreachable("connection refused", maybe_sent=False)
    policy = RetryPolicy()
    assert policy.next_delay(1, lost, rng=RNG, paid=True) is None
    assert policy.next_delay(1, refused, rng=RNG, paid=True) is not None
    assert policy.next_delay(1, lost, rng=RNG, paid=False) is not None


@pytest.mark.parametrize(
    ("error", "resendable"),
    [
        (ApiUnreachable("connection refused", maybe_sent=False), True),
        (ApiUnreachable("connection lost", maybe_sent=True), False),
        (ApiServerError("502 from the API"), False),
        (ApiRateLimited("slow down", retry_after=1), False),
    ],
)
def test_a_paid_submit_is_resent_blindly_only_when_the_error_proves_it_never_left(
    error: ApiError, resendable: bool
) -> None:
    assert never_sent(error) is resendable
    # The retry policy applies the same rule to a paid request, and only to a paid one.
    assert (RetryPolicy().next_delay(1, error, rng=RNG, paid=True) is not None) is resendable
    assert RetryPolicy().next_delay(1, error, rng=RNG, paid=False) is not None


def test_retries_stop_after_the_last_attempt() -> None:
    assert RetryPolicy(max_attempts=3).next_delay(3, ApiServerError("x"), rng=RNG) is None


def test_the_first_poll_comes_near_the_expected_latency_then_backs_off() -> None:
    schedule = PollSchedule(jitter=0)
    known = Estimate(prior_s=100, trusted=True)
    first = schedule.next_look_s(known, elapsed_s=0, last_look_s=None, exploring=False, rng=RNG)
    assert first == pytest.approx(100)
    later = [schedule.next_look_s(known, elapsed_s=100, last_look_s=100, exploring=False, rng=RNG) for n in range(1, 8)]
    assert later == sorted(later)
    assert max(later) <= schedule.cap_s


def test_a_job_polled_at_its_expected_time_needs_few_polls() -> None:
    schedule = PollSchedule(jitter=0)
    known = Estimate(prior_s=100, trusted=True)
    elapsed, polls, last = 0.0, 0, None
    while elapsed < 110:  # the job takes 10 % longer than expected
        elapsed += schedule.next_look_s(known, elapsed_s=elapsed, last_look_s=last, exploring=False, rng=RNG)
        polls, last = polls + 1, elapsed
    assert polls <= 3


def test_the_bucket_spends_its_burst_then_paces() -> None:
    bucket = TokenBucket(rate=2, burst=2, _tokens=2)
    assert [bucket.wait_s(0.0) for _ in range(2)] == [0, 0]
    assert bucket.wait_s(0.0) == pytest.approx(0.5)
    assert bucket.wait_s(1.0) == 0


def test_a_429_halves_the_rate_and_success_recovers_it_slowly() -> None:
    bucket = TokenBucket(rate=8, ceiling=8)
    bucket.rate_limited(0.0)
    assert bucket.rate == 4
    for _ in range(5):
        bucket.succeeded()
    assert 4 < bucket.rate < 8
    for _ in range(100):
        bucket.succeeded()
    assert bucket.rate == 8


def test_the_429s_of_one_burst_halve_the_rate_once() -> None:
    bucket = TokenBucket(rate=16, ceiling=16)
    for at in (0.0, 0.1, 0.5, 0.9):
        bucket.rate_limited(at)
    assert bucket.rate == 8
    bucket.rate_limited(1.0)
    assert bucket.rate == 4


def test_a_steady_tenth_of_429s_does_not_sink_the_rate_to_its_floor() -> None:
    bucket = TokenBucket()
    now = 0.0
    for n in range(2_000):
        now += 1 / bucket.rate
        if n % 10 == 0:
            bucket.rate_limited(now)
        else:
            bucket.succeeded()
    assert bucket.rate > 5 * bucket.floor


def test_a_bucket_for_many_jobs_lets_them_all_start_together_and_never_goes_below_the_default() -> None:
    wide = TokenBucket.for_concurrency(64)
    assert [wide.wait_s(0.0) for _ in range(64)] == [0.0] * 64
    assert wide.rate == 64
    narrow = TokenBucket.for_concurrency(2)
    assert (narrow.rate, narrow.burst) == (TokenBucket().rate, TokenBucket().burst)


def test_a_model_with_no_samples_is_explored_early_and_ever_wider() -> None:
    schedule = PollSchedule(jitter=0)
    unknown = Estimate(prior_s=100)
    elapsed, last, looks = 0.0, None, []
    while elapsed < 100:
        elapsed += schedule.next_look_s(unknown, elapsed_s=elapsed, last_look_s=last, exploring=True, rng=RNG)
        looks.append(elapsed)
        last = elapsed
    assert looks[0] == pytest.approx(100 * schedule.explore_share)
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert gaps == sorted(gaps)
    assert len(looks) <= 6  # 1/20 of the prior to past it, x2 a look


def test_a_job_past_its_first_look_without_having_been_looked_at_is_looked_at_now() -> None:
    schedule = PollSchedule(jitter=0)
    known = Estimate(prior_s=100, samples=(50.0, 60.0, 70.0))
    assert schedule.next_look_s(known, elapsed_s=3600, last_look_s=None, exploring=False, rng=RNG) == schedule.floor_s


def looks_until_done(schedule: PollSchedule, estimate: Estimate, latency_s: float) -> tuple[float | None, float]:
    """(the last look that missed, the look that saw it done) for a job of `latency_s`."""
    elapsed, last = 0.0, None
    while True:
        elapsed += schedule.next_look_s(estimate, elapsed_s=elapsed, last_look_s=last, exploring=False, rng=RNG)
        if elapsed >= latency_s:
            return last, elapsed
        last = elapsed


def test_jobs_seen_done_at_their_first_look_pull_the_estimate_down() -> None:
    schedule = PollSchedule(jitter=0)
    estimate = Estimate(prior_s=100, samples=tuple(95.0 + i % 10 for i in range(20)))
    for n in range(40):  # every job now takes about 40 s, and the server says nothing of its timing
        estimate = estimate.with_sample(from_looks(*looks_until_done(schedule, estimate, 38.0 + n % 5)))
    assert 30 <= estimate.expected_s <= 45


def test_a_backend_that_changed_speed_replaces_the_old_samples_after_a_few_jobs() -> None:
    estimate = Estimate(prior_s=100, samples=tuple(90.0 + i for i in range(20)))
    for n in range(SHIFT):
        estimate = estimate.with_sample(200.0 + n)
    assert estimate.samples == (202.0, 201.0, 200.0)
    assert Estimate(prior_s=100, samples=(95.0, 90.0)).with_sample(99.0).samples == (99.0, 95.0, 90.0)

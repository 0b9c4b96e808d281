"""Retries and polling as data: when to ask again, and how fast the whole client may go. Pure.

    RetryPolicy.next_delay(attempt, error)   capped exponential backoff with jitter; Retry-After wins;
                                             None for what must not be retried (400/401/403/404/406,
                                             and a paid submit unless `never_sent`)
    never_sent(error)                        the one rule for resending a paid submit blindly
    PollSchedule.next_look_s(estimate, ...)  looks at quantiles of the model's learned latency, then
                                             ever wider; early looks for the first jobs while unknown
    TokenBucket                              one rate for all jobs; halves on 429 (once a second at most),
                                             recovers slowly

Time is passed in (`now`), randomness is an injected `random.Random`, so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from reconciler.errors import ApiError, ApiRateLimited, ApiUnreachable
from reconciler.plan.latency import Estimate


@dataclass(frozen=True)
class RetryPolicy:
    """How a temporary failure of a request that is safe to repeat is retried."""

    base_s: float = 1.0
    cap_s: float = 60.0
    max_attempts: int = 8
    jitter: float = 0.25  # +/- share of each delay, so many jobs do not retry in step

    def next_delay(self, attempt: int, error: ApiError, *, rng: random.Random, paid: bool = False) -> float | None:
        """Seconds to wait before try number `attempt + 1`, or None to give up now.

        A paid submit is retried here only when `never_sent(error)`: any other failure may have made
        a job, and only the request history can tell (see the engine's in-doubt handling).
        """
        if not error.temporary or attempt >= self.max_attempts:
            return None
        if paid and not never_sent(error):
            return None
        if isinstance(error, ApiRateLimited) and error.retry_after is not None:
            return min(self.cap_s, max(error.retry_after, 0.0))
        delay = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return max(0.0, delay * (1 + rng.uniform(-self.jitter, self.jitter)))


def never_sent(error: ApiError) -> bool:
    """May a paid submit that failed with `error` be sent again blindly? Only when the error proves the
    request never left (a refused connection); a 5xx, a 429 or a lost answer may have made a job."""
    return isinstance(error, ApiUnreachable) and not error.maybe_sent


@dataclass(frozen=True)
class PollSchedule:
    """When to look at a job's status, from what is known of its model's latency on this backend.

    Known (samples, or a prior the user gave): look at the 75th percentile of the samples, then at
    the slowest, then ever wider (x `late_growth`, at most `cap_s` apart): most jobs are
    seen done at the first or second look. Unknown: the first few jobs explore, looking early and
    widening (x `explore_growth` from `explore_share` of the prior) until one finishes and teaches
    the latency; the others wait for that (the engine wakes them) or for the prior, whichever is first.
    """

    ladder: tuple[float, ...] = (0.75, 1.0)  # quantiles of the samples to look at, in order
    late_growth: float = 1.3
    min_step: float = 0.05  # a share of the time since the submit
    explore_share: float = 1 / 20
    explore_growth: float = 2.0
    floor_s: float = 0.05
    cap_s: float = 30.0
    jitter: float = 0.1

    def looks(self, estimate: Estimate) -> tuple[float, ...]:
        """Seconds after the submit at which to look while the ladder lasts."""
        if not estimate.samples:
            return (estimate.prior_s,)
        return tuple(sorted({estimate.quantile(share) for share in self.ladder}))

    def next_look_s(
        self,
        estimate: Estimate,
        *,
        elapsed_s: float,
        last_look_s: float | None,
        exploring: bool,
        rng: random.Random,
    ) -> float:
        """Seconds from now until the next status look at a job `elapsed_s` after its submit.

        `last_look_s` is when (after the submit) it was last looked at, None before the first look.
        A ladder point passed without a look (a job an earlier run submitted, or one woken by a new
        estimate) means looking now.
        """
        after = None if last_look_s is None else max(last_look_s, 0.0)
        if not exploring:
            at = next((t for t in self.looks(estimate) if after is None or t > after), None)
            if at is not None:
                # New samples move the ladder between looks: never look again sooner than `min_step` later.
                at = at if after is None else max(at, after * (1 + self.min_step))
                # The samples' own spread staggers these looks: jitter would only make them early or late.
                return max(self.floor_s, at - elapsed_s)
        start = estimate.prior_s * self.explore_share if exploring else 0.0
        growth = self.explore_growth if exploring else self.late_growth
        # Exploring, or late past the ladder: ever wider looks (late ones never more than cap_s apart;
        # only the first jobs of an unknown model explore, and what they overshoot the server's timing corrects).
        step = after * growth if after is not None else start
        at = start if after is None else max(start, step if exploring else min(step, after + self.cap_s))
        wait = max(self.floor_s, at - elapsed_s)
        return wait * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass
class TokenBucket:
    """One request rate shared by every job of a client; `rate` halves on a 429 and recovers slowly."""

    rate: float = 20.0  # requests per second allowed now
    ceiling: float = 20.0
    floor: float = 0.2
    recovery: float = 1.05  # multiplied in after each success, up to the ceiling
    burst: float = 10.0
    # One halving per this many seconds: the 429s of one burst are one signal, not many. Without it
    # a steady share of 429s above ~7 % (each halving, each success +5 %) sinks the rate to its floor.
    decrease_every_s: float = 1.0
    _tokens: float = field(default=10.0, repr=False)
    _at: float | None = field(default=None, repr=False)
    _decreased_at: float | None = field(default=None, repr=False)

    @classmethod
    def for_concurrency(cls, concurrency: int) -> TokenBucket:
        """A bucket for `concurrency` jobs in flight: they may all start together, and each may ask
        about once a second; never less than the defaults. 429s still halve it from there.

        The burst holds four requests a job: jobs of one model finish together, and each then sends
        its last look, the result, the download and the next job's submit at once (with one request
        a job, a round of 64 waited 3 s for tokens)."""
        rate = max(cls.ceiling, float(concurrency))
        burst = max(cls.burst, 4.0 * concurrency)
        return cls(rate=rate, ceiling=rate, burst=burst, _tokens=burst)

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_s(self, now: float) -> float:
        """Seconds until a request may go; 0 means now (and the token is taken)."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def succeeded(self) -> None:
        self.rate = min(self.ceiling, self.rate * self.recovery)

    def rate_limited(self, now: float) -> None:
        self._tokens = min(self._tokens, 0.0)
        if self._decreased_at is not None and now - self._decreased_at < self.decrease_every_s:
            return
        self._decreased_at = now
        self.rate = max(self.floor, self.rate / 2)

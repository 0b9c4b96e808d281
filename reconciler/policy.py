"""Retries and polling as data: when to ask again, and how fast the whole client may go. Pure.

    RetryPolicy.next_delay(attempt, error)   capped exponential backoff with jitter; Retry-After wins;
                                             None for what must not be retried (a paid submit's
                                             unknown outcome, 400/401/403/404/406)
    PollSchedule.delay(polls, expected, ...)  first look near the model's expected latency, then
                                             backoff up to a cap: few requests per job
    TokenBucket                              one rate for all jobs; halves on 429 (once a second at most),
                                             recovers slowly

Time is passed in (`now`), randomness is an injected `random.Random`, so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from reconciler.errors import ApiError, ApiRateLimited, ApiUnreachable


@dataclass(frozen=True)
class RetryPolicy:
    """How a temporary failure of a request that is safe to repeat is retried."""

    base_s: float = 1.0
    cap_s: float = 60.0
    max_attempts: int = 8
    jitter: float = 0.25  # +/- share of each delay, so many jobs do not retry in step

    def next_delay(self, attempt: int, error: ApiError, *, rng: random.Random, paid: bool = False) -> float | None:
        """Seconds to wait before try number `attempt + 1`, or None to give up now.

        A paid submit whose request may have been sent is never retried here: its outcome is
        unknown and only the request history can tell (see the engine's in-doubt handling).
        """
        if not error.temporary or attempt >= self.max_attempts:
            return None
        if paid and isinstance(error, ApiUnreachable) and error.maybe_sent:
            return None
        if isinstance(error, ApiRateLimited) and error.retry_after is not None:
            return min(self.cap_s, max(error.retry_after, 0.0))
        delay = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return max(0.0, delay * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True)
class PollSchedule:
    """When to ask a job's status: first near its expected finish, then back off up to a cap."""

    first_share: float = 1.0  # first poll at this share of the expected latency (its median, in practice)
    floor_s: float = 0.05
    growth: float = 1.6
    cap_s: float = 30.0
    jitter: float = 0.1

    def delay(self, polls: int, *, expected_s: float, elapsed_s: float, rng: random.Random) -> float:
        """Seconds until the next status poll of a job `elapsed_s` into an expected `expected_s`."""
        if polls == 0:
            # Asking before the job is likely done only costs requests: the first look waits out its median.
            wait = max(self.floor_s, expected_s * self.first_share - elapsed_s)
        else:
            # Past the first look the job is late: ask again at a growing share of its expected time.
            wait = min(self.cap_s, max(self.floor_s, expected_s * 0.1 * self.growth ** (polls - 1)))
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
        about once a second; never less than the defaults. 429s still halve it from there."""
        rate = max(cls.ceiling, float(concurrency))
        burst = max(cls.burst, float(concurrency))
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

"""Every API request of a run goes through one Pacer: one rate for all jobs, retries where they are safe.

    status = await pacer.call(lambda: api.status(request_id))     # temporary failures retried by the policy
    sent = await pacer.call(submit, retry_if=never_sent)           # a paid submit: retried only if it never left

The pacer takes a token from the shared bucket before each request, pauses every caller while a
`Retry-After` runs, halves the rate on a 429 and lets it recover slowly, and retries temporary
failures by the RetryPolicy. A paid submit (`paid=True`) is retried here only when the error proves
the request never left (policy.never_sent): the engine settles every other failed submit through
the request history.
Waits end early when the run is stopping (`Stopping` is raised), so Ctrl-C never waits out a backoff.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reconciler.clock import Clock
from reconciler.engine.policy import RetryPolicy, TokenBucket
from reconciler.errors import ApiError, ApiRateLimited

T = TypeVar("T")
# Waits shorter than this are rounded up: a clock near 1.7e9 s cannot count much finer, and a wait
# that does not move it would spin (rounding errors leave a bucket at 0.9999999 tokens).
MIN_WAIT_S = 0.001


class Stopping(Exception):
    """The run is stopping: a wait was cut short. Not an error; the caller records where it stands."""


class Pacer:
    """The shared rate limiter and retry loop of one run."""

    def __init__(
        self,
        *,
        clock: Clock,
        bucket: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        stop: asyncio.Event | None = None,
        on_rate_limited: Callable[[float], None] | None = None,
    ) -> None:
        self.clock = clock
        self.bucket = bucket or TokenBucket()
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()
        self.stop = stop or asyncio.Event()
        self._resume_at = 0.0  # nobody sends before this time (a Retry-After in force)
        self._on_rate_limited = on_rate_limited
        self.requests = 0
        self.rate_limited = 0

    async def wait(self, seconds: float, *, wake: asyncio.Event | None = None) -> bool:
        """Sleep on the run's clock; True when `wake` was set first. Raises Stopping as soon as the run stops."""
        if self.stop.is_set():
            raise Stopping
        if wake is not None and wake.is_set():
            return True
        if seconds <= 0:
            await asyncio.sleep(0)
            return False
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiters = {sleeper, asyncio.ensure_future(self.stop.wait())}
        if wake is not None:
            waiters.add(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        if self.stop.is_set():
            raise Stopping
        return wake is not None and wake.is_set()

    async def _take(self) -> None:
        while True:
            now = self.clock.now()
            if now < self._resume_at:
                await self.wait(max(self._resume_at - now, MIN_WAIT_S))
                continue
            delay = self.bucket.wait_s(now)
            if delay <= 0:
                return
            await self.wait(max(delay, MIN_WAIT_S))

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        paid: bool = False,
    ) -> T:
        """Send `request` when the rate allows; retry temporary failures (a paid one only if never sent)."""
        attempt = 0
        while True:
            await self._take()
            attempt += 1
            self.requests += 1
            try:
                result = await request()
            except ApiError as error:
                if isinstance(error, ApiRateLimited):
                    self._slow_down(error)
                delay = self.retry.next_delay(attempt, error, rng=self.rng, paid=paid)
                if delay is None:
                    raise
                await self.wait(delay)
                continue
            self.bucket.succeeded()
            return result

    def _slow_down(self, error: ApiRateLimited) -> None:
        self.rate_limited += 1
        self.bucket.rate_limited(self.clock.now())
        if error.retry_after is not None:
            self._resume_at = max(self._resume_at, self.clock.now() + error.retry_after)
        if self._on_rate_limited is not None:
            self._on_rate_limited(self.bucket.rate)

"""What one run knows of its models' latencies on its backend: read from the store, taught by each job.

    latencies.estimate(model)       the samples so far (the store's, then this run's), or the prior
    latencies.explore(model)        whether this job is one of the few that look early (nothing known)
    latencies.first_sample(model)   set when the model's first sample arrives (None once known)
    latencies.learn(model, s, att)  a finished job's latency: kept here, and on its attempt in the store

A sample taught by one job is at once every other job's: while the first few jobs of an unknown
model explore, the rest wait for what they learn instead of the catalog's guess. Through the store
(an attempt's `completed_at` is set from the server's timing) the next run starts out knowing.
"""

from __future__ import annotations

import asyncio

from reconciler.plan.latency import WINDOW, Estimate, estimate
from reconciler.records import Attempt, AttemptState
from reconciler.store import Store

# How many jobs of a model with no samples look early; the rest wait for what the first one learns.
EXPLORERS = 1


class Latencies:
    """The latency estimates of one run, per model."""

    def __init__(self, *, store: Store, namespace: str, scale: float | None, explorers: int = EXPLORERS) -> None:
        self._store = store
        self._namespace = namespace
        self._scale = scale
        self._explorers = explorers
        self._estimates: dict[str, Estimate] = {}
        self._exploring: dict[str, int] = {}
        self._first: dict[str, asyncio.Event] = {}

    def estimate(self, model: str) -> Estimate:
        known = self._estimates.get(model)
        if known is None:
            samples = self._store.latency_samples(model, self._namespace, limit=WINDOW)
            known = self._estimates[model] = estimate(model, samples, scale=self._scale)
        return known

    def explore(self, model: str) -> bool:
        """Take one of the model's explorer places, while nothing is known of it."""
        if self.estimate(model).known or self._exploring.get(model, 0) >= self._explorers:
            return False
        self._exploring[model] = self._exploring.get(model, 0) + 1
        return True

    def first_sample(self, model: str) -> asyncio.Event | None:
        """An event set when `model` gets its first sample in this run; None when it is known already."""
        if self.estimate(model).known:
            return None
        return self._first.setdefault(model, asyncio.Event())

    def learn(self, model: str, seconds: float, attempt: Attempt) -> Attempt:
        """Teach `model`'s latency; the attempt (COMPLETED) keeps when its job finished, for later runs."""
        before = self.estimate(model)
        self._estimates[model] = before.with_sample(seconds)
        if not before.samples and (event := self._first.get(model)) is not None:
            event.set()
        if attempt.state is AttemptState.COMPLETED and attempt.submitted_at is not None:
            return self._store.record_state(
                attempt.id, AttemptState.COMPLETED, completed_at=attempt.submitted_at + seconds
            )
        return attempt

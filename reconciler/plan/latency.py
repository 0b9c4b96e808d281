"""How long a model's jobs take on one backend, learned from the jobs themselves. Pure.

    estimate = Estimate(prior_s=catalog_latency * scale, samples=recent)   what plan and polling use
    estimate.expected_s                                                    the one expected-latency rule
    from_looks(missed_s, seen_done_s)                                      a sample from our own looks

A sample is the seconds from submit to done. It comes from the server's own clock when the server
reports one (the v2 result's `metrics`), so a job looked at late still teaches its true latency and
a backend that got faster pulls the estimate down. Without that timing all we know is what our looks
saw: done between the last look that missed and the first that saw it done; a job already done at
its first look is censored (done by then, maybe long before), so it counts as done a fifth earlier
than that look. Either way the estimate can come down, never only ratchet up.

Until a model has samples on a backend the catalog's latency (times a known scale: the bundled
fake's, or one the user gave) is only a prior; `trusted` says whether it was given, so polling need
not explore before trusting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from reconciler import catalog

# The most recent samples kept per model: enough for the quantiles polling uses, few enough that a
# backend that changed speed is followed within a few jobs.
WINDOW = 20
# This many samples in a row beyond all the earlier ones mean the backend changed speed.
SHIFT = 3
# A job seen done at its first look counts as done this share of the way to that look.
CENSORED_SHARE = 0.8


class Estimate(NamedTuple):
    """A model's latency on one backend: its recent samples (newest first), and the prior before any."""

    prior_s: float
    samples: tuple[float, ...] = ()
    trusted: bool = False  # the prior was given (a scale the user or the bundled fake states)

    @property
    def known(self) -> bool:
        """Whether polling may rely on it: samples, or a prior the user vouched for."""
        return bool(self.samples) or self.trusted

    @property
    def expected_s(self) -> float:
        """The median of the samples, else the prior: what plan shows and a run's patience is sized by."""
        if not self.samples:
            return self.prior_s
        # statistics.median's own rule, without its import (fractions, decimal, random: ms of every plan's start-up)
        ordered = sorted(self.samples)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def quantile(self, share: float) -> float:
        """The sample below which `share` of the samples fall (interpolated); the prior without any."""
        if not self.samples:
            return self.prior_s
        ordered = sorted(self.samples)
        place = share * (len(ordered) - 1)
        low = int(place)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (place - low)

    def with_sample(self, seconds: float) -> Estimate:
        """With one more sample; when the newest few all fall outside everything before them, the
        backend changed speed and the older samples go (a window alone would take half its length)."""
        samples = (seconds, *self.samples)[:WINDOW]
        newest, rest = samples[:SHIFT], samples[SHIFT:]
        if len(rest) >= SHIFT and (min(newest) > max(rest) or max(newest) < min(rest)):
            samples = newest
        return Estimate(self.prior_s, samples, self.trusted)


def from_looks(missed_s: float | None, seen_done_s: float) -> float:
    """A job's latency from our own looks (seconds since its submit), for a server that gives no timing."""
    if missed_s is None:
        return CENSORED_SHARE * seen_done_s
    return (missed_s + seen_done_s) / 2


def prior_s(model: str, scale: float) -> float:
    """The catalog's average latency of `model` times `scale` (how fast the backend is said to run)."""
    return catalog.BY_SLUG[model].avg_latency_s * scale


def estimate(model: str, samples: Sequence[float], *, scale: float | None) -> Estimate:
    """The estimate of `model` from its samples; `scale` None means no speed was given (catalog speed, untrusted)."""
    known = Estimate(prior_s(model, 1.0 if scale is None else scale), (), scale is not None)
    for seconds in reversed(tuple(samples)[:WINDOW]):
        known = known.with_sample(seconds)
    return known

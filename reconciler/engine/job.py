"""The state of one generation (one key) in one run, and how it ends.

A job is worked by the steps (engine/generation.py drives them: claim, submit.py, collect.py); this
module keeps what they share: the attempt held, whether a submit may be on the wire, what was paid,
and the only ways to end. Every ending emits its final event and returns the Outcome:

    job.end(phase, detail)          the generation ends here
    job.release(phase, detail)      the claim is given back first (nothing was sent)
    job.interrupted(detail)         cut off where it stands (a stop, a second Ctrl-C)
    job.give_back(doubt=...)        the one way a claim is handed back: left in doubt for the next run
                                    when its submit may have gone out, else released and refunded
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from reconciler.engine.context import JobContext
from reconciler.engine.events import JobEvent, Outcome, Phase
from reconciler.engine.work import Work
from reconciler.records import Attempt, AttemptState

T = TypeVar("T")
MAY_HAVE_SENT = "the submit may have reached the API"


class Job:
    """One key in one run; the steps move it on, and one of its endings gives the Outcome."""

    def __init__(self, ctx: JobContext, work: Work) -> None:
        self.ctx = ctx
        self.work = work
        self.phase: Phase | None = None
        self.attempt: Attempt | None = None
        self.maybe_sent = False  # a submit went out and we do not know whether it made a job
        self.paid_here = False
        self.est_cost_usd = 0.0
        self.cost_usd: float | None = None
        self.looked_latency: float | None = None  # the job's latency as our looks saw it (no server timing)

    @property
    def request_id(self) -> str | None:
        return None if self.attempt is None else self.attempt.request_id

    @property
    def held(self) -> Attempt:
        """The attempt this job holds; every step after the claim has one."""
        if self.attempt is None:  # pragma: no cover - every caller runs after a claim
            raise AssertionError("no attempt claimed")
        return self.attempt

    def emit(self, phase: Phase, detail: str = "") -> None:
        if phase is self.phase and not detail:
            return
        self.phase = phase
        self.ctx.emit(
            JobEvent(
                at=self.ctx.clock.now(), key=self.work.key, names=self.work.names, model=self.work.model,
                phase=phase, request_id=self.request_id, detail=detail, est_cost_usd=self.est_cost_usd,
                cost_usd=self.cost_usd,
            )
        )  # fmt: skip

    # ---- endings

    def end(self, phase: Phase, detail: str, digest: str | None = None) -> Outcome:
        self.emit(phase, detail)
        return Outcome(
            key=self.work.key, names=self.work.names, model=self.work.model, phase=phase,
            request_id=self.request_id, detail=detail, paid_here=self.paid_here,
            est_cost_usd=self.est_cost_usd, cost_usd=self.cost_usd, digest=digest,
        )  # fmt: skip

    def stored(self, digest: str, detail: str) -> Outcome:
        self.ctx.stored(self.work.names, digest)
        return self.end(Phase.STORED, detail, digest)

    def unfinished(self, detail: str) -> Outcome:
        return self.end(Phase.UNFINISHED, f"{detail}; the job is paid and recorded, apply again to fetch it")

    def release(self, phase: Phase, detail: str) -> Outcome:
        """End having sent nothing: the claim is given back and the reservation refunded."""
        self.give_back(doubt=False)
        return self.end(phase, detail)

    def interrupted(self, detail: str) -> Outcome:
        """The outcome of a generation cut off where it stands (a stop, a second Ctrl-C)."""
        attempt = self.attempt
        if attempt is not None and attempt.request_id is not None:
            return self.end(Phase.UNFINISHED, f"{detail}; in flight as request {attempt.request_id}")
        if self.give_back(doubt=self.maybe_sent or (attempt is not None and attempt.in_doubt)):
            return self.end(Phase.IN_DOUBT, f"{detail}; {MAY_HAVE_SENT}")
        return self.end(Phase.SKIPPED, f"{detail}; not submitted")

    def give_back(self, *, doubt: bool) -> bool:
        """Hand back a CLAIMED attempt; True when it is left in doubt.

        `doubt` (its submit may have gone out): abandoned, as if its owner had died, for the next run
        to settle through the history. Otherwise released, and its reservation refunded. An attempt
        past CLAIMED (a request id recorded, or already given back) is left as it is.
        """
        attempt = self.attempt
        if attempt is None or attempt.state is not AttemptState.CLAIMED:
            return False
        if doubt:
            self.attempt = self.ctx.store.abandon(attempt.id)
            return True
        self.attempt = self.ctx.store.release(attempt.id)
        self.refund()
        return False

    def refund(self) -> None:
        if self.est_cost_usd and not self.paid_here:
            self.ctx.budget.refund(self.est_cost_usd)
            self.est_cost_usd = 0.0

    # ---- writing to the store

    async def write(self, call: Callable[[], T]) -> T:
        """A claim or record write; against a bucket the store's `offload` runs it (a worker thread), off the loop.

        A write cut off by a cancel (a second Ctrl-C) still finishes in its thread; it is waited for,
        and an attempt it returns is kept, so `interrupted` settles what the store really holds.
        """
        if not self.ctx.store.writes_over_network:
            return self._keep(call())
        task = asyncio.ensure_future(self.ctx.store.offload(call))
        try:
            return self._keep(await asyncio.shield(task))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # the cancel is what this generation ends with
                self._keep(await task)
            raise

    def _keep(self, result: T) -> T:
        if isinstance(result, Attempt):
            self.attempt = result
        return result

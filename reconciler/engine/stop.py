"""How far a run has stopped, shared by its jobs and its engine. Two strengths (a third, cancelling
everything at a second Ctrl-C, is the engine's own):

    stop.stop_submitting(reason, detail)   budget or credits: no new paid submit; jobs in flight finish
    stop.halt(reason, detail)              a bad key or Ctrl-C: also every wait ends (`halted` is the
                                           pacer's stop event: it raises Stopping in whoever waits)
"""

from __future__ import annotations

import asyncio

from reconciler.clock import Clock
from reconciler.engine.events import Emit, RunEvent, StopReason


class Stop:
    """The stop signals of one run; the first reason given is the one kept."""

    def __init__(self, *, clock: Clock, emit: Emit) -> None:
        self._clock = clock
        self._emit = emit
        self.reason: StopReason | None = None  # why submitting stopped; None while it goes on
        self._detail = ""
        self.halted = asyncio.Event()

    def stop_submitting(self, reason: StopReason, detail: str) -> None:
        if self.reason is None:
            self.reason, self._detail = reason, detail
            self._emit(RunEvent(self._clock.now(), "stopping", f"no more submits: {detail}", reason))

    def halt(self, reason: StopReason, detail: str) -> None:
        self.stop_submitting(reason, detail)
        self.halted.set()

    def detail(self) -> str:
        return self._detail or "the run stopped"

"""Time for the fake: every job state is a pure function of job timestamps and `Clock.now()`.

Nothing runs in the background; a job moves from QUEUED to COMPLETED only because the clock
moved. Tests hold a `VirtualClock` and advance it (directly or through `POST /_mock/clock`), so
minutes of model time pass in microseconds; the command line runs the same clock in real mode.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

from mockserver.config import ClockMode

DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed, readable origin for virtual time


@runtime_checkable
class Clock(Protocol):
    """Seconds since the epoch, and a way to let time pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that stands still until advanced, or (in real mode) follows a real clock.

    Switching modes keeps time continuous: virtual time picks up where real time stood and the
    other way round, so a job never sees time go backwards. In virtual mode `sleep` jumps the
    clock forward instead of waiting, as a simulated event loop would.
    """

    def __init__(
        self,
        start: float = DEFAULT_START,
        *,
        mode: ClockMode = ClockMode.VIRTUAL,
        real: Clock | None = None,
    ) -> None:
        self._real: Clock = real if real is not None else RealClock()
        self._mode = ClockMode.VIRTUAL
        self._virtual = start
        self._offset = 0.0
        self.set_mode(mode)

    @classmethod
    def following(cls, real: Clock) -> VirtualClock:
        """A clock in real mode that starts where `real` stands now."""
        return cls(real.now(), mode=ClockMode.REAL, real=real)

    @property
    def mode(self) -> ClockMode:
        return self._mode

    def now(self) -> float:
        if self._mode is ClockMode.VIRTUAL:
            return self._virtual
        return self._real.now() + self._offset

    def advance(self, seconds: float) -> float:
        """Move time forward (never back); returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        if self._mode is ClockMode.VIRTUAL:
            self._virtual += seconds
        else:
            self._offset += seconds
        return self.now()

    def set_mode(self, mode: ClockMode) -> None:
        current = self.now()
        self._mode = mode
        if mode is ClockMode.VIRTUAL:
            self._virtual = current
        else:
            self._offset = current - self._real.now()

    async def sleep(self, seconds: float) -> None:
        if self._mode is ClockMode.VIRTUAL:
            self.advance(max(0.0, seconds))
            await asyncio.sleep(0)
        else:
            await self._real.sleep(seconds)

"""Time as the reconciler reads it: the wall clock, injected so tests can pass a simulated one.

`Clock` is what the engine needs (seconds since the epoch, and a way to wait); the store needs only
`now` (`records.Clock`). `SystemClock` is the real one for both.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds and a way to wait; tests pass a virtual clock whose sleep jumps time."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time from `time.time`; waits with `asyncio.sleep`."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        import asyncio  # only what waits imports it (the engine); plan and validate read the store with this clock

        await asyncio.sleep(max(0.0, seconds))

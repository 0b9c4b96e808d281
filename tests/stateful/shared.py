"""What a simulated history on a shared bucket adds: the bucket, a lease renewer the clock drives, inline writes.

`RemoteStore` renews its leases from a thread and runs the engine's writes in worker threads; the
simulation has one thread and a clock of its own, so it injects these instead (see store/lease.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.store.location import Remote
from tests.engine.simulation import SimClock


@dataclass(frozen=True)
class Shared:
    """A bucket on the S3 server that every machine's store shares, and a client of that server."""

    remote: Remote
    client: Any  # a boto3 S3 client (one for the whole history: making one takes a while)
    lease_s: float = 60.0


class ClockRenewer:
    """A remote store's lease renewer on the simulated clock: a thread's work, done as time passes.

    Production renews from a thread, so a stalled event loop still keeps its leases; here the clock
    calls it each time it moves, whichever engine's loop is being driven. A crash closes the store,
    which stops it, as kill -9 stops the thread.
    """

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._every = 0.0
        self._due = 0.0
        self._renew: Any = None

    def start(self, every_s: float, renew: Any) -> None:
        self._every, self._renew = every_s, renew
        self._due = self.clock.now() + every_s
        self.clock.on_advance.append(self._tick)

    def _tick(self) -> None:
        if self.clock.now() >= self._due:
            self._due = self.clock.now() + self._every
            self._renew()

    def stop(self) -> None:
        if self._tick in self.clock.on_advance:
            self.clock.on_advance.remove(self._tick)


async def inline(call: Any) -> Any:
    """The remote store's writes, run on the loop itself: the simulation has no threads to wait for."""
    return call()

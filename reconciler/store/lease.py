"""How a remote store's work beside the event loop runs: its lease renewer and the offloading of its writes.

A claim in the bucket lives as long as its lease is renewed, and the engine's claim and record
writes wait on the network. In production both run in threads (`LeaseThread`, `asyncio.to_thread`),
so a busy event loop neither lets a lease lapse nor stalls the other jobs. Both are keyword-only
dependencies of `RemoteStore.open_remote`: the simulation, one event loop on a clock of its own,
injects a renewer its clock drives and writes that run inline.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Offload(Protocol):
    """Runs a blocking write off the event loop: `asyncio.to_thread` in production, inline in the simulation."""

    def __call__(self, call: Callable[[], T], /) -> Awaitable[T]: ...


class Renewer(Protocol):
    """Calls `renew` every `every_s` seconds from `start` until `stop`, whatever the event loop is doing.

    Production runs it in a thread of its own (LeaseThread); the simulation drives it from its clock.
    """

    def start(self, every_s: float, renew: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class LeaseThread:
    """The production Renewer: a daemon thread (a stalled event loop must not let the leases lapse)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, every_s: float, renew: Callable[[], None]) -> None:
        def loop() -> None:
            while not self._stop.wait(every_s):
                renew()

        self._thread = threading.Thread(target=loop, name="reconciler-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

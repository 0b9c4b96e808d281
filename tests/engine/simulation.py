"""The engine and the fake on one simulated clock: hours of model time in milliseconds.

`SimClock.sleep` parks the caller until the clock reaches its wake time; `SimClock.run(coro)`
drives the loop, letting every ready task run to its next wait and only then jumping the clock to
the earliest wake time (a discrete-event simulation on top of asyncio). The fake reads the same
clock, and the engine reaches it in process through `httpx.ASGITransport`, so nothing waits for real.

    sim = Simulation(tmp_path, MockConfig(...))
    outcomes, stop = sim.run(works)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from mockserver.app import create_app
from mockserver.clock import DEFAULT_START
from mockserver.config import MockConfig
from reconciler import catalog, keys
from reconciler.api.client import SegmindApi
from reconciler.engine.context import Options, Runtime
from reconciler.engine.events import JobEvent, Outcome, RunEvent, StopReason
from reconciler.engine.run import execute
from reconciler.engine.work import Work
from reconciler.spec import load
from reconciler.store import Store

T = TypeVar("T")
# Ready tasks get this many turns of the loop before time jumps: an in-process HTTP exchange
# through ASGITransport takes a few dozen, never hundreds.
SETTLE_TURNS = 200


class Logged(httpx.AsyncBaseTransport):
    """A transport that notes every request the client sends, then passes it on unchanged."""

    def __init__(self, inner: httpx.AsyncBaseTransport, log: Callable[[httpx.Request], None]) -> None:
        self._inner = inner
        self._log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._log(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SimClock:
    def __init__(self, start: float = DEFAULT_START) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # Called each time the clock moves, before anyone due wakes: what runs beside the loops in a
        # real process (the remote store's lease thread) runs here, whichever loop is being driven.
        self.on_advance: list[Callable[[], None]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), next(self._order), future))
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    def run(self, main: Coroutine[Any, Any, T], *, turns: int = 5_000_000) -> T:
        """Run `main` to its end on a fresh loop; fails after `turns` steps rather than hang."""

        async def drive() -> T:
            task = asyncio.ensure_future(main)
            await self.drive(task, turns)
            if not task.done():
                raise AssertionError(f"still running after {turns} steps of the simulation")
            return task.result()

        return asyncio.run(drive())

    async def drive(self, task: asyncio.Future[Any], turns: int) -> int:
        """Let the loop run up to `turns` steps or until `task` is done; the steps used.

        A step is one turn of the loop, or, when nothing is ready to run, one jump of the clock to
        the next wake time. When nothing is ready and nobody sleeps, the simulation is stuck.
        """
        loop = asyncio.get_running_loop()
        quiet = 0
        for used in range(turns):
            if task.done():
                return used
            await asyncio.sleep(0)
            quiet += 1
            # Nothing else ready (this driver is the only callback queued) means everyone waits on
            # time; `_ready` is asyncio's private run queue, read only to skip idle turns.
            ready = getattr(loop, "_ready", None)
            if (ready is not None and len(ready) == 0) or quiet >= SETTLE_TURNS:
                quiet = 0
                if not self._wake_next() and ready is not None and len(ready) == 0 and not task.done():
                    raise AssertionError("the simulation is stuck: nothing can run and nobody waits on the clock")
        return turns

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds`; sleepers due by then wake at the next step."""
        self.t += seconds
        self._moved()

    def _moved(self) -> None:
        for hook in list(self.on_advance):
            hook()

    def forget(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drop the sleepers of an abandoned loop (a crashed engine never wakes again)."""
        self._sleepers = [s for s in self._sleepers if s[2].get_loop() is not loop]
        heapq.heapify(self._sleepers)

    def _wake_next(self) -> bool:
        while self._sleepers:
            at, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.t = max(self.t, at)
            self._moved()
            future.set_result(None)
            # Wake everyone due at the same moment together.
            while self._sleepers and self._sleepers[0][0] <= self.t:
                _, _, other = heapq.heappop(self._sleepers)
                if not other.done():
                    other.set_result(None)
            return True
        return False


class Simulation:
    """A store in `root`, a fake with `config`, and the engine between them on one SimClock."""

    def __init__(self, root: Path, config: MockConfig | None = None) -> None:
        self.root = root
        self.clock = SimClock()
        self.app = create_app(config or MockConfig(), self.clock)  # type: ignore[arg-type]
        self.events: list[JobEvent | RunEvent] = []
        self.requests: list[httpx.Request] = []
        self.sent_at: list[float] = []  # the simulated time each request went out

    def works(self, yaml_text: str) -> list[Work]:
        path = self.root / "specs" / "sim.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml_text, encoding="utf-8")
        grouped: dict[str, Work] = {}
        for entry in load([path]).entries:
            key = keys.entry_key(keys.SEGMIND, entry)
            if key in grouped:
                old = grouped[key]
                grouped[key] = Work(key, (*old.names, entry.name), old.model, old.params, old.images, old.est_cost_usd)
            else:
                cost = catalog.BY_SLUG[entry.model].avg_cost_usd
                grouped[key] = Work(key, (entry.name,), entry.model, dict(entry.params), entry.images, cost)
        return list(grouped.values())

    def run(self, works: Sequence[Work], **options: Any) -> tuple[list[Outcome], StopReason | None]:
        async def main() -> tuple[list[Outcome], StopReason | None]:
            def log(request: httpx.Request) -> None:
                self.requests.append(request)
                self.sent_at.append(self.clock.now())

            transport = Logged(httpx.ASGITransport(app=self.app), log)
            with Store.open(self.root / ".reconciler", clock=self.clock) as store:
                api = SegmindApi(
                    api_key="mock-key", base_url="https://fake", history_url="https://fake",
                    upload_url="https://fake", transport=transport,
                )  # fmt: skip
                async with api:
                    return await execute(
                        works, runtime=Runtime(api=api, store=store, clock=self.clock, namespace=keys.SEGMIND),
                        options=Options(handle_signals=False, held_poll_s=5.0, **options), emit=self.events.append,
                    )  # fmt: skip

        return self.clock.run(main())

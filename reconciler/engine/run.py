"""An apply run: generations worked by N workers on one event loop, one client, one rate, one budget.

    outcomes, stop = await execute(works, runtime=..., options=..., emit=...)

The jobs share one JobContext (engine/context.py), built once; the Engine only hands them out and
stops them. Stopping has three strengths:

    stop_submitting(reason)   budget or credits: no new paid submit; jobs in flight finish
    halt(reason)              a bad key or the first Ctrl-C: also stop waiting; submits already on
                              the wire get their answer recorded, everything else stays resumable
    a second Ctrl-C           cancel everything now; what was recorded is all the next run needs
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence

from reconciler.engine.context import JobContext, Options, Runtime
from reconciler.engine.events import Emit, JobEvent, Outcome, Phase, RunEvent, StopReason
from reconciler.engine.generation import settle
from reconciler.engine.job import Job
from reconciler.engine.work import Work


class Engine:
    """N workers taking work from a queue until closed: one apply, or a whole watch session.

    `add` hands over work (a key already queued, in flight or settled in this session is not taken
    again: watch reloads the plan on every save); `close` lets the workers finish what they have
    and returns. A key is never worked twice at once.
    """

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.outcomes: dict[str, Outcome] = {}
        self._live: dict[str, Job] = {}
        self._queued: dict[str, Work] = {}
        self._queue: asyncio.Queue[Work | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._interrupts = 0

    def start(self, workers: int) -> None:
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(max(1, workers))]

    def known(self, key: str) -> bool:
        """Queued, in flight, or settled in this session: not to be handed over again."""
        return key in self._queued or key in self._live or key in self.outcomes

    def add(self, works: Sequence[Work]) -> list[Work]:
        """Queue what is not queued, in flight or already settled here; returns what was queued."""
        taken = []
        for work in works:
            if self.known(work.key):
                continue
            self._queued[work.key] = work
            self._queue.put_nowait(work)
            taken.append(work)
        return taken

    def interrupt(self) -> None:
        """Ctrl-C: the first stops gently, the second at once."""
        self._interrupts += 1
        if self._interrupts == 1:
            ctx = self.ctx
            ctx.stop.halt(StopReason.INTERRUPTED, "interrupted")
            # A download may trickle for minutes; its job is recorded, the next run fetches it.
            ctx.api.abandon_downloads()
            ctx.emit(
                RunEvent(
                    ctx.clock.now(), "interrupt",
                    "stopping: submits on the wire are being recorded; press Ctrl-C again to quit at once",
                    StopReason.INTERRUPTED,
                )
            )  # fmt: skip
            return
        for task in self._workers:
            task.cancel()

    async def _work(self) -> None:
        while (work := await self._queue.get()) is not None:
            del self._queued[work.key]
            if self.ctx.stop.halted.is_set():
                self.outcomes[work.key] = _not_started(self.ctx, work)
                continue
            job = self._live[work.key] = Job(self.ctx, work)
            self.outcomes[work.key] = await settle(job)
            del self._live[work.key]

    async def close(self) -> None:
        """Finish the queue (quickly when the run is stopping), then stop the workers."""
        for _ in self._workers:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._workers, return_exceptions=True)
        for task in self._workers:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
        # A second Ctrl-C cut these off mid-step; the store already holds all the next run needs.
        for key, job in self._live.items():
            self.outcomes[key] = job.interrupted("interrupted")
        self._live.clear()
        for key, work in self._queued.items():
            self.outcomes[key] = _not_started(self.ctx, work)
        self._queued.clear()


async def execute(
    works: Sequence[Work], *, runtime: Runtime, options: Options, emit: Emit
) -> tuple[list[Outcome], StopReason | None]:
    """Reconcile every work item; returns an outcome for each (in the order given) and why it stopped."""
    engine = Engine(JobContext.build(runtime, options, emit))
    with signals(engine.interrupt, enabled=options.handle_signals):
        engine.start(min(options.concurrency, len(works)))
        engine.add(works)
        await engine.close()
    return [engine.outcomes[work.key] for work in works], engine.ctx.stop.reason


def _not_started(ctx: JobContext, work: Work) -> Outcome:
    detail = f"{ctx.stop.detail()}; not started"
    ctx.emit(JobEvent(ctx.clock.now(), work.key, work.names, work.model, Phase.SKIPPED, detail=detail))
    return Outcome(work.key, work.names, work.model, Phase.SKIPPED, None, detail, False, 0.0, None)


@contextlib.contextmanager
def signals(interrupt: Callable[[], None], *, enabled: bool) -> Iterator[None]:
    """Ctrl-C and SIGTERM call `interrupt` while inside (main thread only)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if enabled:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, interrupt)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

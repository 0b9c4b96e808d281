"""An apply run: generations worked by N workers on one event loop, one client, one rate, one budget.

    outcomes, stop = await execute(works, api=..., store=..., clock=..., namespace=..., options=..., emit=...)

`Run` is what the generations share: the client and its Pacer, the store, the budget, the upload
cache (one upload per image content, even when many specs use it at once), the download limit,
and the stop state. Stopping has three strengths:

    stop_submitting(reason)   budget or credits: no new paid submit; jobs in flight finish
    halt(reason)              a bad key or the first Ctrl-C: also stop waiting; submits already on
                              the wire get their answer recorded, everything else stays resumable
    a second Ctrl-C           cancel everything now; what was recorded is all the next run needs
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.api.client import SegmindApi
from reconciler.clock import Clock
from reconciler.engine.adopt import Adoptions
from reconciler.engine.budget import Budget
from reconciler.engine.events import JobEvent, Outcome, Phase, RunEvent, StopReason
from reconciler.engine.generation import Generation, Work, image_bytes
from reconciler.engine.learning import Latencies
from reconciler.engine.pacer import Pacer
from reconciler.engine.policy import PollSchedule, TokenBucket
from reconciler.spec import LocalImage
from reconciler.store import Store

Emit = Callable[[JobEvent | RunEvent], None]


@dataclass(frozen=True)
class Options:
    """How a run behaves; the defaults are the command line's."""

    concurrency: int = 8  # generations in flight at once
    downloads: int = 4  # downloads at once (each streams, so memory stays flat)
    max_cost_usd: float | None = None
    resubmit_in_doubt: bool = False  # pay again when the history cannot say whether a submit made a job
    max_bytes: int = 2 << 30  # the largest video accepted
    # Jobs take the catalog's latencies times this (the bundled fake's scale, or the user's
    # --latency-scale); None: nothing is assumed, each model's latency is learned on the backend.
    latency_scale: float | None = None
    held_poll_s: float = 2.0  # how often to look at a key another run is working on
    min_wait_s: float = 1800.0  # a job gets at least this long before the run leaves it for the next one
    poll: PollSchedule = field(default_factory=PollSchedule)
    out_dir: Path | None = None  # where stored videos are laid out as they arrive
    seed: int | None = None  # for the jitter of polls and retries
    handle_signals: bool = True  # Ctrl-C and SIGTERM stop the run gently (main thread only)
    adopt: bool = True  # before buying, look for the same request among the account's completed ones
    retry_failed: bool = False  # --retry-failed: a claim may clear another machine's failed-for-good record


class Run:
    """The shared state of one apply run."""

    def __init__(
        self, *, api: SegmindApi, store: Store, clock: Clock, namespace: str, options: Options, emit: Emit
    ) -> None:
        self.api = api
        self.store = store
        self.clock = clock
        self.namespace = namespace
        self.options = options
        self._emit = emit
        self.pacer = Pacer(
            clock=clock, rng=random.Random(options.seed), on_rate_limited=self._rate_limited,
            bucket=TokenBucket.for_concurrency(options.concurrency),
        )  # fmt: skip
        self.budget = Budget(options.max_cost_usd)
        self.adoptions = Adoptions(api=api, pacer=self.pacer, namespace=namespace) if options.adopt else None
        self.downloads = asyncio.Semaphore(options.downloads)
        self.submit_stop: StopReason | None = None
        self._stop_detail = ""
        self._uploads: dict[str, asyncio.Task[str]] = {}
        self.latencies = Latencies(store=store, namespace=namespace, scale=options.latency_scale)
        self._last_slowdown = float("-inf")
        self.interrupts = 0
        self.workers: list[asyncio.Task[None]] = []
        # Called after each stored video instead of placing its names (watch lays out its current specs).
        self.on_stored: Callable[[], None] | None = None

    def emit(self, event: JobEvent | RunEvent) -> None:
        self._emit(event)

    # ---- stopping

    def stop_submitting(self, reason: StopReason, detail: str) -> None:
        if self.submit_stop is None:
            self.submit_stop, self._stop_detail = reason, detail
            self.emit(RunEvent(self.clock.now(), "stopping", f"no more submits: {detail}", reason))

    def halt(self, reason: StopReason, detail: str) -> None:
        self.stop_submitting(reason, detail)
        self.pacer.stop.set()

    def stop_detail(self) -> str:
        return self._stop_detail or "the run stopped"

    def interrupt(self) -> None:
        """Ctrl-C: the first stops gently, the second at once."""
        self.interrupts += 1
        if self.interrupts == 1:
            self.halt(StopReason.INTERRUPTED, "interrupted")
            # A download may trickle for minutes; its job is recorded, the next run fetches it.
            self.api.abandon_downloads()
            self.emit(
                RunEvent(
                    self.clock.now(), "interrupt",
                    "stopping: submits on the wire are being recorded; press Ctrl-C again to quit at once",
                    StopReason.INTERRUPTED,
                )
            )  # fmt: skip
            return
        for task in self.workers:
            task.cancel()

    def _rate_limited(self, rate: float) -> None:
        now = self.clock.now()
        if now - self._last_slowdown >= 10:
            self._last_slowdown = now
            self.emit(RunEvent(now, "rate-limited", f"the API is rate limiting: slowing to {rate:.1f} requests/s"))

    # ---- what generations share

    def max_wait_s(self, model: str) -> float:
        return max(self.options.min_wait_s, 6 * self.latencies.estimate(model).expected_s)

    async def upload(self, image: LocalImage) -> str:
        """The URL of a local image on the API's storage: uploaded once per content, remembered."""
        task = self._uploads.get(image.sha256)
        if task is None or (task.done() and task.exception() is not None):
            task = self._uploads[image.sha256] = asyncio.ensure_future(self._upload(image))
        return await asyncio.shield(task)

    async def _upload(self, image: LocalImage) -> str:
        data = image_bytes(image)
        url = await self.pacer.call(lambda: self.api.upload(data, image.media_type))
        self.store.remember_upload(self.namespace, image.sha256, url)
        return url

    def place(self, names: Sequence[str], digest: str) -> None:
        if self.on_stored is not None:
            self.on_stored()
            return
        if self.options.out_dir is None:
            return
        for name in names:
            self.store.place(self.options.out_dir, name, digest)


class Engine:
    """N workers taking work from a queue until closed: one apply, or a whole watch session.

    `add` hands over work (a key already queued, in flight or settled in this session is not taken
    again: watch reloads the plan on every save); `close` lets the workers finish what they have
    and returns. A key is never worked twice at once.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.outcomes: dict[str, Outcome] = {}
        self._live: dict[str, Generation] = {}
        self._queued: dict[str, Work] = {}
        self._queue: asyncio.Queue[Work | None] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []

    def start(self, workers: int) -> None:
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(max(1, workers))]
        self.run.workers = self._workers

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

    async def _work(self) -> None:
        while (work := await self._queue.get()) is not None:
            del self._queued[work.key]
            if self.run.pacer.stop.is_set():
                self.outcomes[work.key] = _not_started(self.run, work)
                continue
            generation = self._live[work.key] = Generation(self.run, work)
            self.outcomes[work.key] = await generation.settle()
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
        for key, generation in self._live.items():
            self.outcomes[key] = generation.interrupted("interrupted")
        self._live.clear()
        for key, work in self._queued.items():
            self.outcomes[key] = _not_started(self.run, work)
        self._queued.clear()


async def execute(
    works: Sequence[Work],
    *,
    api: SegmindApi,
    store: Store,
    clock: Clock,
    namespace: str,
    options: Options,
    emit: Emit,
) -> tuple[list[Outcome], StopReason | None]:
    """Reconcile every work item; returns an outcome for each (in the order given) and why it stopped."""
    run = Run(api=api, store=store, clock=clock, namespace=namespace, options=options, emit=emit)
    engine = Engine(run)
    with signals(run, enabled=options.handle_signals):
        engine.start(min(options.concurrency, len(works)))
        engine.add(works)
        await engine.close()
    return [engine.outcomes[work.key] for work in works], run.submit_stop


def _not_started(run: Run, work: Work) -> Outcome:
    detail = f"{run.stop_detail()}; not started"
    run.emit(JobEvent(run.clock.now(), work.key, work.names, work.model, Phase.SKIPPED, detail=detail))
    return Outcome(work.key, work.names, work.model, Phase.SKIPPED, None, detail, False, 0.0, None)


@contextlib.contextmanager
def signals(run: Run, *, enabled: bool) -> Iterator[None]:
    """Ctrl-C and SIGTERM go to `run.interrupt` while inside (main thread only)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if enabled:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, run.interrupt)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

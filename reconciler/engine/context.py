"""What a job may reach, built once per run: the world it acts on, how the run behaves, and what the
jobs of one run share.

    Runtime       the world, opened once by the command line: the client, the store, the clock, the namespace
    Options       how a run behaves (the command line's defaults)
    JobContext    all a generation touches: the world, the options, one Pacer (one rate, one retry
                  policy), one Budget, the Stop signals, the event sink, what is known of latencies,
                  the adoptable history, the upload cache, the download slots, and where a stored
                  video goes (out/, or watch's own layout)

A job reaches nothing else: not the engine's workers, not the signals, not the other jobs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.api.client import SegmindApi
from reconciler.clock import Clock
from reconciler.engine.adopt import Adoptions
from reconciler.engine.budget import Budget
from reconciler.engine.download import Downloads
from reconciler.engine.events import Emit, RunEvent
from reconciler.engine.learning import Latencies
from reconciler.engine.pacer import Pacer
from reconciler.engine.policy import PollSchedule, TokenBucket
from reconciler.engine.stop import Stop
from reconciler.engine.uploads import Uploads
from reconciler.store import Store

# Called with a stored video's spec names and digest.
Stored = Callable[[Sequence[str], str], None]
# A rate-limit notice is said at most this often: a burst of 429s is one event, not many.
SLOWDOWN_NOTICE_S = 10.0


@dataclass(frozen=True)
class Runtime:
    """The world a run acts on, built once by the command line (see reconciler/runtime/world.py)."""

    api: SegmindApi
    store: Store
    clock: Clock
    namespace: str


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


@dataclass(frozen=True)
class JobContext:
    """What every generation of one run works through."""

    api: SegmindApi
    store: Store
    clock: Clock
    namespace: str
    options: Options
    emit: Emit
    pacer: Pacer
    budget: Budget
    stop: Stop
    latencies: Latencies
    adoptions: Adoptions | None  # None when Options.adopt is off: nothing is looked for before buying
    uploads: Uploads
    downloads: Downloads
    stored: Stored

    @classmethod
    def build(cls, runtime: Runtime, options: Options, emit: Emit, *, stored: Stored | None = None) -> JobContext:
        """The context of one run; `stored` replaces laying out each stored video's names in options.out_dir."""
        api, store, clock, namespace = runtime.api, runtime.store, runtime.clock, runtime.namespace
        stop = Stop(clock=clock, emit=emit)
        pacer = Pacer(
            clock=clock, rng=random.Random(options.seed), on_rate_limited=_slowdowns(clock, emit),
            bucket=TokenBucket.for_concurrency(options.concurrency), stop=stop.halted,
        )  # fmt: skip
        return cls(
            api=api, store=store, clock=clock, namespace=namespace, options=options, emit=emit, pacer=pacer,
            budget=Budget(options.max_cost_usd), stop=stop,
            latencies=Latencies(store=store, namespace=namespace, scale=options.latency_scale),
            adoptions=Adoptions(api=api, pacer=pacer, namespace=namespace) if options.adopt else None,
            uploads=Uploads(api=api, pacer=pacer, store=store, namespace=namespace),
            downloads=Downloads(api=api, store=store, max_bytes=options.max_bytes, limit=options.downloads),
            stored=stored or _layout(store, options.out_dir),
        )  # fmt: skip


def _layout(store: Store, out_dir: Path | None) -> Stored:
    def place(names: Sequence[str], digest: str) -> None:
        if out_dir is not None:
            for name in names:
                store.place(out_dir, name, digest)

    return place


def _slowdowns(clock: Clock, emit: Emit) -> Callable[[float], None]:
    last = float("-inf")

    def said(rate: float) -> None:
        nonlocal last
        now = clock.now()
        if now - last >= SLOWDOWN_NOTICE_S:
            last = now
            emit(RunEvent(now, "rate-limited", f"the API is rate limiting: slowing to {rate:.1f} requests/s"))

    return said

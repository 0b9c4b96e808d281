"""The world of one `apply`: the client, the store, the clock and the display, built once, then the run.

The command line parses options into an ApplyRequest and calls `run_apply`; this module picks the
backend (the real API, or the bundled fake served in this process for `--mock`), opens the store,
chooses how progress is shown (a live table on a terminal, log lines when piped, JSON lines with
`--json`), runs the engine on one event loop, and hands back the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler import keys
from reconciler.client import DEFAULT_BASE_URL, SegmindApi
from reconciler.embedded import MOCK_KEY, MOCK_TIME_SCALE, embedded_fake
from reconciler.engine.events import Summary
from reconciler.engine.pacer import SystemClock
from reconciler.engine.reconcile import Runtime, reconcile, works_for
from reconciler.engine.run import Options
from reconciler.plan import Desired, Plan
from reconciler.progress import Display, JsonDisplay, LiveDisplay, LogDisplay, PlannedJob
from reconciler.store import Store


@dataclass(frozen=True)
class ApplyRequest:
    plan: Plan
    desired: Sequence[Desired]  # every spec and its key, targeted or not (for the out/ layout)
    store_root: Path
    out_dir: Path
    mock: bool
    api_key: str | None
    base_url: str | None
    history_url: str | None
    upload_url: str | None
    concurrency: int = 8
    max_cost: float | None = None
    resubmit_in_doubt: bool = False
    as_json: bool = False
    latency_scale: float | None = None  # None: the catalog's latencies (the fake's scale with --mock)


def display_for(*, as_json: bool) -> Display:
    if as_json:
        return JsonDisplay(sys.stdout)
    if sys.stdout.isatty():
        from rich.console import Console

        return LiveDisplay(Console())
    return LogDisplay(sys.stdout)


def run_apply(request: ApplyRequest) -> Summary:
    """Run the plan to the end (or to a stop) and show it; the summary says how it went."""
    display = display_for(as_json=request.as_json)
    clock = SystemClock()
    works = works_for(request.plan, request.desired)
    display.start(
        [PlannedJob(w.key, w.names, w.model, w.est_cost_usd) for w in works],
        at=clock.now(),
    )
    with contextlib.ExitStack() as stack:
        history_url: str | None
        upload_url: str | None
        if request.mock:
            base = stack.enter_context(embedded_fake())
            history_url = upload_url = base
            api_key = MOCK_KEY
        else:
            base = request.base_url or ""
            history_url, upload_url = request.history_url, request.upload_url
            api_key = request.api_key or ""
        store = stack.enter_context(Store.open(request.store_root, clock=clock))
        options = Options(
            concurrency=request.concurrency,
            max_cost_usd=request.max_cost,
            resubmit_in_doubt=request.resubmit_in_doubt,
            latency_scale=request.latency_scale or (MOCK_TIME_SCALE if request.mock else 1.0),
            out_dir=request.out_dir,
        )
        namespace = keys.MOCK if request.mock else keys.SEGMIND
        every_name = {d.entry.name: d.key for d in request.desired}

        async def main() -> Summary:
            async with SegmindApi(
                api_key=api_key, base_url=base or DEFAULT_BASE_URL, history_url=history_url, upload_url=upload_url
            ) as api:
                runtime = Runtime(api=api, store=store, clock=clock, namespace=namespace)
                return await reconcile(
                    request.plan, request.desired, every_name, runtime=runtime, options=options, emit=display.event
                )

        summary = asyncio.run(main())
    display.finish(summary)
    return summary

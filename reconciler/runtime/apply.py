"""The world of one `apply`: the client, the store, the clock and the display, built once, then the run.

The command line parses options into an ApplyRequest and calls `run_apply`; this module picks the
backend (the real API, or the bundled fake served in this process for `--mock`), opens the store,
chooses how progress is shown (a live table on a terminal, log lines when piped, JSON lines with
`--json`), runs the engine on one event loop, and hands back the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.api.backend import Backend, connect
from reconciler.clock import SystemClock
from reconciler.engine.events import Summary
from reconciler.engine.reconcile import Runtime, reconcile, works_for
from reconciler.engine.run import Options
from reconciler.plan.diff import Desired, Plan
from reconciler.store.connect import open_store
from reconciler.store.location import Remote
from reconciler.ui.progress import PlannedJob, display_for


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
    retry_failed: bool = False  # --retry-failed: buying again what failed for good was asked for
    as_json: bool = False
    latency_scale: float | None = None  # None: learned on the backend (the fake's own scale with --mock)
    remote: Remote | None = None  # a shared bucket, with store_root as its local cache
    lease_s: float | None = None  # how long a claim in the bucket lasts without renewal


def run_apply(request: ApplyRequest) -> Summary:
    """Run the plan to the end (or to a stop) and show it; the summary says how it went."""
    display = display_for(as_json=request.as_json)
    clock = SystemClock()
    works = works_for(request.plan, request.desired)
    display.start(
        [PlannedJob(w.key, w.names, w.model, w.est_cost_usd) for w in works],
        at=clock.now(),
    )
    backend = Backend(
        mock=request.mock, api_key=request.api_key, base_url=request.base_url, history_url=request.history_url,
        upload_url=request.upload_url, latency_scale=request.latency_scale,
    )  # fmt: skip
    with (
        connect(backend) as endpoint,
        open_store(request.store_root, request.remote, clock=clock, lease_s=request.lease_s) as store,
    ):
        options = Options(
            concurrency=request.concurrency,
            max_cost_usd=request.max_cost,
            resubmit_in_doubt=request.resubmit_in_doubt,
            retry_failed=request.retry_failed,
            latency_scale=endpoint.latency_scale,
            out_dir=request.out_dir,
        )
        every_name = {d.entry.name: d.key for d in request.desired}

        async def main() -> Summary:
            async with endpoint.client() as api:
                runtime = Runtime(api=api, store=store, clock=clock, namespace=endpoint.namespace)
                return await reconcile(
                    request.plan, request.desired, every_name, runtime=runtime, options=options, emit=display.event
                )

        summary = asyncio.run(main())
    display.finish(summary)
    return summary

"""One `apply`: the display chosen, the world opened (runtime/world.py), the plan's work run on it.

The command line plans, checks the backend and names the site; `run_apply` chooses how progress is
shown (a live table on a terminal, log lines when piped, JSON lines with `--json`), runs the engine
on one event loop inside the world, and hands back the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.clock import SystemClock
from reconciler.engine.context import Options
from reconciler.engine.events import Summary
from reconciler.engine.reconcile import reconcile
from reconciler.engine.work import works_for
from reconciler.plan.diff import Desired, Plan
from reconciler.runtime.world import Site, World, run_on
from reconciler.ui.progress import PlannedJob, display_for


@dataclass(frozen=True)
class ApplyRequest:
    plan: Plan
    desired: Sequence[Desired]  # every spec and its key, targeted or not (for the out/ layout)
    out_dir: Path
    concurrency: int = 8
    max_cost: float | None = None
    resubmit_in_doubt: bool = False
    retry_failed: bool = False  # --retry-failed: buying again what failed for good was asked for
    as_json: bool = False


def run_apply(request: ApplyRequest, site: Site) -> Summary:
    """Run the plan to the end (or to a stop) on `site` and show it; the summary says how it went."""
    display = display_for(as_json=request.as_json)
    clock = SystemClock()
    works = works_for(request.plan, request.desired)
    display.start([PlannedJob(w.key, w.names, w.model, w.est_cost_usd) for w in works], at=clock.now())
    every_name = {d.entry.name: d.key for d in request.desired}

    async def main(world: World) -> Summary:
        options = Options(
            concurrency=request.concurrency,
            max_cost_usd=request.max_cost,
            resubmit_in_doubt=request.resubmit_in_doubt,
            retry_failed=request.retry_failed,
            latency_scale=world.latency_scale,
            out_dir=request.out_dir,
        )
        return await reconcile(
            request.plan, works, every_name, runtime=world.runtime, options=options, emit=display.event
        )

    summary = run_on(site, main, clock=clock)
    display.finish(summary)
    return summary

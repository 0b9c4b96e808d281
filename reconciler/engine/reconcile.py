"""From a plan to a finished run: the run itself, the out/ layout, the summary.

    works = works_for(plan, desired)                       (engine/work.py; once per apply)
    summary = await reconcile(plan, works, every_name, runtime=..., options=..., emit=...)

Specs whose last attempt failed for good are reported as failed, not worked. At the end `out/` is
made to mirror every spec (targeted or not) that has a stored video, so a targeted apply never
removes the others' files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.engine.context import Options, Runtime
from reconciler.engine.events import Emit, RunEvent, Summary
from reconciler.engine.run import execute
from reconciler.engine.work import Work, earlier_failures
from reconciler.plan.diff import ActionKind, Plan


async def reconcile(
    plan: Plan,
    works: Sequence[Work],
    every_name: Mapping[str, str],
    *,
    runtime: Runtime,
    options: Options,
    emit: Emit,
) -> Summary:
    """Work `works` (the plan's), lay out `every_name` (spec name -> key) that is stored, and sum it up."""
    started = runtime.clock.now()
    outcomes, stop = await execute(works, runtime=runtime, options=options, emit=emit)
    laid_out = 0
    if options.out_dir is not None:
        mirrored = runtime.store.mirror(options.out_dir, every_name)
        laid_out = mirrored.laid_out
        for line in mirrored.attention():
            emit(RunEvent(runtime.clock.now(), "layout", line))
    return Summary(
        outcomes=tuple(outcomes) + tuple(earlier_failures(plan)),
        up_to_date=plan.totals.counts[ActionKind.NOOP],
        stop=stop,
        started_at=started,
        finished_at=runtime.clock.now(),
        laid_out=laid_out,
    )

"""From a plan to a finished run: which keys to work, the run itself, the out/ layout, the summary.

    summary = await reconcile(plan, desired, every_name, runtime=..., options=..., emit=...)

The plan decides what may be paid for; nothing outside its create, pending and in-doubt actions is
ever submitted. Specs that share a key are one piece of work. Specs whose last attempt failed for
good are reported as failed, not worked. At the end `out/` is made to mirror every spec (targeted
or not) that has a stored video, so a targeted apply never removes the others' files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler import catalog
from reconciler.api.client import SegmindApi
from reconciler.clock import Clock
from reconciler.engine.events import Outcome, Phase, RunEvent, Summary
from reconciler.engine.generation import Work
from reconciler.engine.run import Emit, Options, execute
from reconciler.plan.diff import ActionKind, Desired, Plan
from reconciler.store import Store

WORKED = frozenset({ActionKind.CREATE, ActionKind.ADOPT, ActionKind.PENDING, ActionKind.IN_DOUBT})


@dataclass(frozen=True)
class Runtime:
    """The world a run acts on, built once by the command line."""

    api: SegmindApi
    store: Store
    clock: Clock
    namespace: str


def works_for(plan: Plan, desired: Sequence[Desired]) -> list[Work]:
    """One Work per key the plan creates, resumes or must look up, in plan order; then its paid jobs."""
    entries = {d.entry.name: d.entry for d in desired}
    names: dict[str, list[str]] = {}
    for action in plan.actions:
        if action.kind in WORKED:
            names.setdefault(action.key, []).append(action.name)
    works = []
    for key, group in names.items():
        entry = entries[group[0]]
        works.append(
            Work(
                key=key,
                names=tuple(group),
                model=entry.model,
                params=dict(entry.params),
                images=entry.images,
                est_cost_usd=catalog.BY_SLUG[entry.model].avg_cost_usd,
            )
        )
    for job in plan.paid_jobs:
        works.append(Work(job.key, (), job.model, dict(job.request_body), (), 0.0, fetch_only=True))
    return works


def earlier_failures(plan: Plan) -> list[Outcome]:
    """Specs the plan leaves alone because their last attempt failed for good (see --retry-failed)."""
    grouped: dict[str, list[str]] = {}
    first: dict[str, tuple[str, str, str | None]] = {}
    for action in plan.actions:
        if action.kind is ActionKind.FAILED:
            grouped.setdefault(action.key, []).append(action.name)
            first.setdefault(action.key, (action.model, action.reason, action.request_id))
    return [
        Outcome(key, tuple(names), first[key][0], Phase.FAILED, first[key][2], first[key][1], False, 0.0, None)
        for key, names in grouped.items()
    ]


async def reconcile(
    plan: Plan,
    desired: Sequence[Desired],
    every_name: Mapping[str, str],
    *,
    runtime: Runtime,
    options: Options,
    emit: Emit,
) -> Summary:
    """Work the plan, lay out `every_name` (spec name -> key) that is stored, and sum it up."""
    started = runtime.clock.now()
    outcomes, stop = await execute(
        works_for(plan, desired),
        api=runtime.api,
        store=runtime.store,
        clock=runtime.clock,
        namespace=runtime.namespace,
        options=options,
        emit=emit,
    )
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

"""What a run is handed: one Work per key the plan creates, resumes or must look up. Pure.

    works_for(plan, desired)    the keys to work, in plan order, then the paid jobs of changed specs
    earlier_failures(plan)      the specs left alone because their last attempt failed for good

The plan decides what may be paid for: nothing outside its create, adopt, pending and in-doubt
actions is ever worked. Specs that share a key are one piece of work (one generation, paid once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import catalog
from reconciler.engine.events import Outcome, Phase
from reconciler.plan.diff import ActionKind, Desired, Plan
from reconciler.spec import LocalImage

WORKED = frozenset({ActionKind.CREATE, ActionKind.ADOPT, ActionKind.PENDING, ActionKind.IN_DOUBT})


@dataclass(frozen=True)
class Work:
    """One key to reconcile: the specs that want it and the request that makes it."""

    key: str
    names: tuple[str, ...]
    model: str
    params: dict[str, Any]  # as sent, except local images (uploaded first)
    images: tuple[LocalImage, ...]
    est_cost_usd: float
    # A paid job whose spec changed or went away (plan.PaidJob): fetch it if it exists, never submit.
    fetch_only: bool = False


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

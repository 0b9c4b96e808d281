"""A plan as plain values `marshal` can keep, and back: how the last plan is kept (runtime.lastplan). Pure.

    encode(plan) -> dict of plain values        decode(dict) -> the same Plan, equal field by field

The actions are kept as columns (every name, then every key, ...), not as a tuple each: ten lists
of 10,000 strings load in about a millisecond, and the actions are then made with no Python call
per action (`maker` over `zip`). A spec file's path is kept once, its entries' places point at it.
Anything that is not this shape is a ValueError (or another exception the caller treats as a miss).
"""

from __future__ import annotations

from typing import Any, Final

from reconciler.errors import Location
from reconciler.plan.diff import ORDER, Action, ActionKind, PaidJob, Plan, Totals
from reconciler.records import Orphans, Output, maker

VERSION: Final = 1  # bump when Plan, Action or this shape changes

_KINDS: Final = {kind.value: kind for kind in ActionKind}


def encode(plan: Plan) -> dict[str, Any]:
    """`plan` as dicts, lists, tuples, strings and numbers (a request body of a paid job as it is)."""
    actions = plan.actions
    paths = list(dict.fromkeys(action.where.path for action in actions))
    index = {path: n for n, path in enumerate(paths)}
    columns = list(zip(*actions, strict=True)) if actions else [() for _ in Action._fields]
    where = columns[Action._fields.index("where")]
    columns[Action._fields.index("kind")] = tuple(kind.value for kind in columns[Action._fields.index("kind")])
    columns[Action._fields.index("where")] = ()
    totals = plan.totals
    return {
        "version": VERSION,
        "actions": len(actions),
        "columns": columns,
        "paths": paths,
        "files": [index[place.path] for place in where],
        "lines": [place.line for place in where],
        "cols": [place.col for place in where],
        "orphans": (plan.orphans.count, plan.orphans.size, [tuple(output) for output in plan.orphans.listed]),
        "totals": (
            [(kind.value, totals.counts.get(kind, 0)) for kind in ORDER],
            totals.generations,
            totals.est_cost_usd,
            totals.est_seconds,
            totals.concurrency,
            totals.in_doubt_cost_usd,
        ),
        "namespace": plan.namespace,
        "warnings": list(plan.warnings),
        "paid_jobs": [(job.key, job.model, job.request_id, dict(job.request_body)) for job in plan.paid_jobs],
    }


def decode(kept: dict[str, Any]) -> Plan:
    """The plan `encode` gave `kept` for; a ValueError when `kept` is of another version or shape."""
    if kept["version"] != VERSION:
        raise ValueError(f"a plan of encoding version {kept['version']!r}, not {VERSION}")
    count = kept["actions"]
    columns = list(kept["columns"])
    files, lines, cols = kept["files"], kept["lines"], kept["cols"]
    if len(columns) != len(Action._fields) or not all(
        len(column) == count for n, column in enumerate(columns) if Action._fields[n] != "where"
    ):
        raise ValueError("the plan's columns are not one per field, one value per action")
    if not len(files) == len(lines) == len(cols) == count:
        raise ValueError("the plan's places are not one per action")
    paths = kept["paths"]
    columns[Action._fields.index("kind")] = map(_KINDS.__getitem__, columns[Action._fields.index("kind")])
    columns[Action._fields.index("where")] = map(
        maker(Location), zip(map(paths.__getitem__, files), lines, cols, strict=True)
    )
    actions = tuple(map(maker(Action), zip(*columns, strict=True)))
    count_of, generations, cost, seconds, concurrency, in_doubt = kept["totals"]
    orphan_count, orphan_size, listed = kept["orphans"]
    return Plan(
        actions=actions,
        orphans=Orphans(orphan_count, orphan_size, tuple(Output._make(row) for row in listed)),
        totals=Totals(
            counts={_KINDS[value]: n for value, n in count_of},
            generations=generations,
            est_cost_usd=cost,
            est_seconds=seconds,
            concurrency=concurrency,
            in_doubt_cost_usd=in_doubt,
        ),
        namespace=kept["namespace"],
        warnings=tuple(kept["warnings"]),
        paid_jobs=tuple(PaidJob(*job) for job in kept["paid_jobs"]),
    )

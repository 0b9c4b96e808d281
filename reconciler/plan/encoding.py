"""A plan as plain values `marshal` can keep, and back: how the last plan is kept (runtime.lastplan). Pure.

    encode(plan) -> dict of plain values        decode(dict) -> the same Plan, equal field by field

The actions are kept as columns (every name, then every key, ...), not as a tuple each: ten lists
of 10,000 strings load in about a millisecond, and the actions are then made with no Python call
per action (`maker` over `zip`). A spec file's path is kept once, its entries' places point at it.
The columns are one `marshal` blob, made into actions only when they are looked at (`Actions`): a
plan whose text lists none of them (every spec up to date) never makes its 10,000. Anything that
is not this shape is a ValueError (or another exception the caller treats as a miss).
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator, Sequence
from typing import Any, Final, overload

from reconciler.errors import Location
from reconciler.plan.diff import ORDER, Action, ActionKind, PaidJob, Plan, Totals
from reconciler.records import Orphans, Output, maker

VERSION: Final = 2  # bump when Plan, Action or this shape changes

_KINDS: Final = {kind.value: kind for kind in ActionKind}
_KIND: Final = Action._fields.index("kind")
_WHERE: Final = Action._fields.index("where")


def encode(plan: Plan) -> dict[str, Any]:
    """`plan` as dicts, lists, tuples, strings and numbers (a request body of a paid job as it is)."""
    actions = tuple(plan.actions)
    paths = list(dict.fromkeys(action.where.path for action in actions))
    index = {path: n for n, path in enumerate(paths)}
    columns = list(zip(*actions, strict=True)) if actions else [() for _ in Action._fields]
    where = columns[_WHERE]
    columns[_KIND] = tuple(kind.value for kind in columns[_KIND])
    columns[_WHERE] = ()
    places = ([index[place.path] for place in where], [place.line for place in where], [place.col for place in where])
    kept = marshal.dumps((columns, paths, *places))
    totals = plan.totals
    return {
        "version": VERSION,
        "actions": (len(actions), kept),
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
    count, columns = kept["actions"]
    if not (isinstance(count, int) and isinstance(columns, bytes)):
        raise ValueError("the plan's actions are not a count and their columns")
    count_of, generations, cost, seconds, concurrency, in_doubt = kept["totals"]
    orphan_count, orphan_size, listed = kept["orphans"]
    return Plan(
        actions=Actions(count, columns),
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


class Actions(Sequence[Action]):
    """A kept plan's actions, made the first time they are looked at; equal to the tuple they make."""

    __slots__ = ("_count", "_kept", "_made")

    def __init__(self, count: int, kept: bytes) -> None:
        self._count = count
        self._kept = kept
        self._made: tuple[Action, ...] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Action: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Action, ...]: ...

    def __getitem__(self, index: int | slice) -> Action | tuple[Action, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Action]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._all() == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, but not one: unhashable, as a list is

    def __repr__(self) -> str:
        return repr(self._all())

    def _all(self) -> tuple[Action, ...]:
        if self._made is None:
            self._made = _made(self._count, self._kept)
            self._kept = b""
        return self._made


def _made(count: int, kept: bytes) -> tuple[Action, ...]:
    columns, paths, files, lines, cols = marshal.loads(kept)
    columns = list(columns)
    if len(columns) != len(Action._fields) or not all(
        len(column) == count for n, column in enumerate(columns) if n != _WHERE
    ):
        raise ValueError("the plan's columns are not one per field, one value per action")
    if not len(files) == len(lines) == len(cols) == count:
        raise ValueError("the plan's places are not one per action")
    columns[_KIND] = map(_KINDS.__getitem__, columns[_KIND])
    columns[_WHERE] = map(maker(Location), zip(map(paths.__getitem__, files), lines, cols, strict=True))
    return tuple(map(maker(Action), zip(*columns, strict=True)))

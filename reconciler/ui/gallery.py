"""What the report shows, as values: one card per declared spec, matrix entries as grids, and totals. Pure.

    gallery(plan, entries, outputs, attempts, media) -> Gallery(groups of cards, totals, filters)

The plan says where each spec stands (stored, to create, pending, failed, in doubt); the store's
outputs and attempts add what was actually charged, the request id, when it was made and the API's
error; `media` (made at the edge: posters, links) adds what the file itself says. The HTML page and
`report --json` are two renderings of this one value.

A matrix entry expands to specs that share the entry's `file:line`; the parameters whose values
differ among them are its axes, in the matrix's own order (the first varies slowest, as
`itertools.product` expands it). Two axes are rows and columns; more are small multiples (one grid
per value of the outer axes); one axis is a single row.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler import catalog
from reconciler.errors import Location
from reconciler.plan.diff import Action, ActionKind, Plan
from reconciler.records import Attempt, Output
from reconciler.spec import SpecEntry

FORMAT_VERSION = 1


class Status(enum.Enum):
    """Where a card's video stands, as the report words it."""

    STORED = "stored"  # in the store: poster, facts and a link to play it
    CREATE = "create"  # nothing stored or in flight: apply would buy it (estimated cost shown)
    PENDING = "pending"  # a paid job is in flight (request id shown)
    FAILED = "failed"  # the last attempt failed for good (the API's error shown)
    IN_DOUBT = "in-doubt"  # a submit whose outcome is unknown until the request history is searched


_STATUS = {
    ActionKind.NOOP: Status.STORED,
    ActionKind.CREATE: Status.CREATE,
    ActionKind.PENDING: Status.PENDING,
    ActionKind.FAILED: Status.FAILED,
    ActionKind.IN_DOUBT: Status.IN_DOUBT,
}


@dataclass(frozen=True)
class Media:
    """What the edge found for a stored video: links relative to the report and the file's own facts."""

    video_href: str
    poster_href: str | None
    poster_width: int | None = None
    poster_height: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Card:
    name: str
    key: str
    model: str
    status: Status
    prompt: str
    params: tuple[tuple[str, str], ...]  # parameters that differ from the model's defaults (prompt and seed apart)
    seed: str
    where: Location
    tags: tuple[str, ...]
    reason: str  # the plan's reason (or the API's error for a failure)
    request_id: str | None = None
    cost_usd: float | None = None  # what the API charged, when it said
    est_cost_usd: float = 0.0  # for a create: what apply would spend
    created: float | None = None
    shares_with: str | None = None
    media: Media | None = None
    combo: tuple[tuple[str, str], ...] = ()  # for a matrix cell: its value of each axis


@dataclass(frozen=True)
class Panel:
    """One grid of a matrix: rows by one axis, columns by another (None: a single row or column)."""

    title: tuple[tuple[str, str], ...]  # the outer axes' values for small multiples; () for a plain grid
    row_axis: str | None
    col_axis: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: tuple[tuple[Card | None, ...], ...]  # rows x cols


@dataclass(frozen=True)
class Group:
    """A single spec, or the specs one matrix entry expanded to."""

    title: str
    where: Location
    model: str
    tags: tuple[str, ...]
    cards: tuple[Card, ...]
    axes: tuple[str, ...] = ()
    panels: tuple[Panel, ...] = ()

    @property
    def is_matrix(self) -> bool:
        return bool(self.axes)


@dataclass(frozen=True)
class Totals:
    specs: int
    stored: int
    to_make: int  # creates: what apply would buy
    pending: int
    failed: int
    in_doubt: int
    spent_usd: float  # charged for the stored videos of these specs (estimates where the API said nothing)
    spent_estimated: int  # how many of those costs are estimates
    est_rest_usd: float  # what the creates would cost


@dataclass(frozen=True)
class Gallery:
    namespace: str
    groups: tuple[Group, ...]
    totals: Totals
    models: tuple[str, ...]
    tags: tuple[str, ...]
    generated: float


def gallery(
    plan: Plan,
    entries: Mapping[str, SpecEntry],
    *,
    outputs: Mapping[str, Output],
    attempts: Mapping[str, Attempt],
    media: Mapping[str, Media],
    generated: float,
) -> Gallery:
    """The report of `plan`'s specs (in spec order); `media` is by spec name, for the stored ones."""
    cards = [
        _card(a, entries[a.name], outputs.get(a.key), attempts.get(a.key), media.get(a.name)) for a in plan.actions
    ]
    groups = tuple(_group(run, entries) for run in _runs(cards))
    spent, estimated, seen = 0.0, 0, set()
    for card in cards:
        output = outputs.get(card.key)
        if card.status is Status.STORED and output is not None and card.key not in seen:
            seen.add(card.key)
            if output.cost_usd is None:
                estimated += 1
            spent += output.cost_usd if output.cost_usd is not None else catalog.BY_SLUG[card.model].avg_cost_usd
    count = {status: sum(1 for c in cards if c.status is status) for status in Status}
    totals = Totals(
        specs=len(cards),
        stored=count[Status.STORED],
        to_make=count[Status.CREATE],
        pending=count[Status.PENDING],
        failed=count[Status.FAILED],
        in_doubt=count[Status.IN_DOUBT],
        spent_usd=round(spent, 6),
        spent_estimated=estimated,
        est_rest_usd=plan.totals.est_cost_usd,
    )
    return Gallery(
        namespace=plan.namespace,
        groups=groups,
        totals=totals,
        models=tuple(sorted({c.model for c in cards})),
        tags=tuple(sorted({t for c in cards for t in c.tags})),
        generated=generated,
    )


def _card(
    action: Action, entry: SpecEntry, output: Output | None, attempt: Attempt | None, media: Media | None
) -> Card:
    model = catalog.BY_SLUG[entry.model]
    params = dict(entry.params)
    prompt = str(params.pop("prompt", ""))
    seed = params.pop(model.seed_param, None)
    differing = tuple(
        (name, _show(value))
        for name, value in params.items()
        if name in model.by_name
        and not model.by_name[name].transport_only
        and (not model.by_name[name].has_default or model.by_name[name].default != value)
    )
    status = _STATUS[action.kind]
    reason = action.reason
    if status is Status.FAILED and attempt is not None and attempt.error:
        reason = attempt.error
    stored = output if status is Status.STORED else None
    return Card(
        name=entry.name,
        key=action.key,
        model=entry.model,
        status=status,
        prompt=prompt,
        params=differing,
        seed="random" if seed is None else _show(seed),
        where=entry.where,
        tags=entry.tags,
        reason=reason,
        request_id=stored.request_id if stored is not None else action.request_id,
        cost_usd=stored.cost_usd if stored is not None else None,
        est_cost_usd=action.est_cost_usd,
        created=stored.created if stored is not None else None,
        shares_with=action.shares_with,
        media=media if stored is not None else None,
    )


def _show(value: Any) -> str:
    return catalog.show(value).strip('"') if isinstance(value, str) else catalog.show(value)


def _runs(cards: Sequence[Card]) -> list[list[Card]]:
    """Consecutive cards of one entry (same file:line): a matrix's expansion, or a single spec."""
    runs: list[list[Card]] = []
    for card in cards:
        if runs and runs[-1][0].where == card.where:
            runs[-1].append(card)
        else:
            runs.append([card])
    return runs


def _group(cards: list[Card], entries: Mapping[str, SpecEntry]) -> Group:
    first = cards[0]
    title = _title([c.name for c in cards])
    base = Group(title=title, where=first.where, model=first.model, tags=first.tags, cards=tuple(cards))
    if len(cards) < 2:
        return base
    # Axes are read from the full parameters: a matrix value equal to the default is still a value.
    shown = [{name: _show(value) for name, value in entries[c.name].params.items()} for c in cards]
    axes = _axes(shown)
    if not axes:
        return base
    values = {axis: _distinct(s[axis] for s in shown) for axis in axes}
    placed = [replace(c, combo=tuple((axis, s[axis]) for axis in axes)) for c, s in zip(cards, shown, strict=True)]
    return Group(
        title=title,
        where=first.where,
        model=first.model,
        tags=first.tags,
        cards=tuple(placed),
        axes=axes,
        panels=_panels(placed, axes, values),
    )


def _title(names: Sequence[str]) -> str:
    """A matrix's name: the part before `/` its expansions share, or their common start (`tide-{seed}`)."""
    if len(names) == 1:
        return names[0]
    heads = {n.split("/")[0] for n in names}
    if len(heads) == 1 and all("/" in n for n in names):
        return heads.pop()
    # Character by character on purpose: `tide-{seed}` expands to tide-7, tide-8, named "tide".
    return os.path.commonprefix(list(names)).rstrip("-_.") or names[0]  # noqa: RUF071


def _axes(shown: Sequence[Mapping[str, str]]) -> tuple[str, ...]:
    """The parameters that vary among the cards' `shown` values, slowest-varying first (the matrix's order)."""
    names = {name for s in shown for name in s}
    strides: dict[str, int] = {}
    for name in names:
        column = [s.get(name, "") for s in shown]
        if len(set(column)) < 2:
            continue
        strides[name] = next(i for i in range(1, len(column)) if column[i] != column[0])
    return tuple(sorted(strides, key=lambda n: (-strides[n], n)))


def _distinct(values: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return tuple(seen)


def _panels(cards: Sequence[Card], axes: tuple[str, ...], values: Mapping[str, tuple[str, ...]]) -> tuple[Panel, ...]:
    outer, inner = axes[:-2], axes[-2:]
    row_axis, col_axis = (inner[0], inner[1]) if len(inner) == 2 else (None, inner[0])
    rows = values[row_axis] if row_axis is not None else ("",)
    cols = values[col_axis]
    by_outer: dict[tuple[tuple[str, str], ...], dict[tuple[str, str], Card]] = {}
    for card in cards:
        combo = dict(card.combo)
        title = tuple((axis, combo[axis]) for axis in outer)
        row = combo[row_axis] if row_axis is not None else ""
        by_outer.setdefault(title, {})[(row, combo[col_axis])] = card
    return tuple(
        Panel(
            title=title,
            row_axis=row_axis,
            col_axis=col_axis,
            rows=rows,
            cols=cols,
            cells=tuple(tuple(placed.get((r, c)) for c in cols) for r in rows),
        )
        for title, placed in by_outer.items()
    )


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def document(report: Gallery) -> dict[str, Any]:
    """The versioned JSON form of a report (`report --json`)."""
    t = report.totals
    return {
        "format_version": FORMAT_VERSION,
        "namespace": report.namespace,
        "totals": {
            "specs": t.specs,
            "stored": t.stored,
            "create": t.to_make,
            "pending": t.pending,
            "failed": t.failed,
            "in_doubt": t.in_doubt,
            "spent_usd": t.spent_usd,
            "spent_estimated": t.spent_estimated,
            "est_rest_usd": t.est_rest_usd,
        },
        "groups": [
            {
                "title": g.title,
                "file": g.where.path,
                "line": g.where.line,
                "axes": list(g.axes),
                "specs": [c.name for c in g.cards],
            }
            for g in report.groups
        ],
        "specs": [_card_document(c) for g in report.groups for c in g.cards],
    }


def _card_document(card: Card) -> dict[str, Any]:
    media = card.media
    return {
        "name": card.name,
        "key": card.key,
        "model": card.model,
        "status": card.status.value,
        "prompt": card.prompt,
        "params": dict(card.params),
        "seed": card.seed,
        "tags": list(card.tags),
        "file": card.where.path,
        "line": card.where.line,
        "reason": card.reason,
        "request_id": card.request_id,
        "cost_usd": card.cost_usd,
        "est_cost_usd": card.est_cost_usd,
        "created": iso(card.created),
        "shares_with": card.shares_with,
        "matrix": dict(card.combo),
        "video": None
        if media is None
        else {
            "href": media.video_href,
            "poster": media.poster_href,
            "width": media.width,
            "height": media.height,
            "duration_s": media.duration_s,
            "problem": media.problem,
        },
    }

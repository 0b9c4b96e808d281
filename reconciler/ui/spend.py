"""`reconciler spend`: what the videos cost, from the store's own records. Pure.

    spend(outputs, attempts, namespace, since, until) -> Spend(total, per model, per day, per spec)

Each paid job counts once, by request id (a job taken over, resumed or fetched again appears in
several attempts, and its output once more). Its cost is what the API reported (the result's cost,
or the history's credits deduction) where it said, else the catalog's average for the model (an
estimate, counted as such). A job that failed costs $0: the API refunds failed jobs. A submit in
doubt (no request id) is not counted: nothing says it was paid. Days are UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import catalog
from reconciler.records import Attempt, AttemptState, Output
from reconciler.ui.format import plural

FORMAT_VERSION = 1
# States whose request the account paid for (a failed one was refunded; released and claimed never reached it).
_PAID = frozenset(
    {AttemptState.SUBMITTED, AttemptState.COMPLETED, AttemptState.STORED, AttemptState.EXPIRED, AttemptState.SUPERSEDED}
)


@dataclass(frozen=True)
class Job:
    """One request the account was billed for (or refunded)."""

    request_id: str
    key: str
    model: str
    name: str
    at: float  # when it was made (stored) or submitted
    cost_usd: float
    estimated: bool  # the API reported no cost: the catalog's average stands in
    failed: bool  # refunded: costs 0


@dataclass(frozen=True)
class Line:
    label: str
    jobs: int
    cost_usd: float
    estimated: int  # how many of those costs are estimates


@dataclass(frozen=True)
class Spend:
    namespace: str
    since: dt.date | None
    until: dt.date | None
    total_usd: float
    jobs: int
    failed: int
    estimated: int
    by_model: tuple[Line, ...]
    by_day: tuple[Line, ...]
    by_spec: tuple[Line, ...]  # the top N, most expensive first


def jobs(
    outputs: Sequence[Output], attempts: Sequence[Attempt], *, namespace: str, names: Mapping[str, str]
) -> list[Job]:
    """Every billed request of `namespace`, once each; `names` maps keys to current spec names."""
    found: dict[str, Job] = {}
    for output in outputs:
        if output.namespace != namespace:
            continue
        ident = output.request_id or f"output:{output.key}"
        estimate = output.cost_usd is None
        cost = _estimate(output.model) if output.cost_usd is None else output.cost_usd
        name = names.get(output.key) or output.name_hint or output.key[:19]
        found[ident] = Job(ident, output.key, output.model, name, output.created, cost, estimate, failed=False)
    for attempt in attempts:
        if attempt.namespace != namespace or attempt.request_id is None or attempt.request_id in found:
            continue
        failed = attempt.state is AttemptState.FAILED
        if not failed and attempt.state not in _PAID:
            continue
        name = names.get(attempt.key) or attempt.key[:19]
        at = attempt.submitted_at if attempt.submitted_at is not None else attempt.claimed_at
        cost = 0.0 if failed else _estimate(attempt.model)
        found[attempt.request_id] = Job(
            attempt.request_id, attempt.key, attempt.model, name, at, cost, estimated=not failed, failed=failed
        )
    # Outputs went first: a request whose attempt failed but whose video was stored after all was paid.
    return sorted(found.values(), key=lambda j: (j.at, j.request_id))


def _estimate(model: str) -> float:
    known = catalog.get(model)
    return known.avg_cost_usd if known is not None else 0.0


def day(timestamp: float) -> dt.date:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date()


def spend(
    billed: Sequence[Job],
    *,
    namespace: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    top: int = 10,
) -> Spend:
    """Totals of the jobs made between `since` and `until` (inclusive, UTC days)."""
    chosen = [j for j in billed if (since is None or day(j.at) >= since) and (until is None or day(j.at) <= until)]
    return Spend(
        namespace=namespace,
        since=since,
        until=until,
        total_usd=round(sum(j.cost_usd for j in chosen), 6),
        jobs=len(chosen),
        failed=sum(1 for j in chosen if j.failed),
        estimated=sum(1 for j in chosen if j.estimated),
        by_model=tuple(sorted(_lines(chosen, lambda j: j.model), key=lambda line: line.label)),
        by_day=tuple(sorted(_lines(chosen, lambda j: day(j.at).isoformat()), key=lambda line: line.label)),
        by_spec=tuple(sorted(_lines(chosen, lambda j: j.name), key=lambda line: (-line.cost_usd, line.label))[:top]),
    )


def _lines(chosen: Sequence[Job], label: Any) -> list[Line]:
    groups: dict[str, list[Job]] = {}
    for job in chosen:
        groups.setdefault(label(job), []).append(job)
    return [
        Line(name, len(group), round(sum(j.cost_usd for j in group), 6), sum(1 for j in group if j.estimated))
        for name, group in groups.items()
    ]


def document(report: Spend) -> dict[str, Any]:
    """The versioned JSON form (`spend --json`)."""

    def lines(rows: tuple[Line, ...]) -> list[dict[str, Any]]:
        return [{"label": r.label, "jobs": r.jobs, "cost_usd": r.cost_usd, "estimated": r.estimated} for r in rows]

    return {
        "format_version": FORMAT_VERSION,
        "namespace": report.namespace,
        "since": report.since.isoformat() if report.since else None,
        "until": report.until.isoformat() if report.until else None,
        "total_usd": report.total_usd,
        "jobs": report.jobs,
        "failed": report.failed,
        "estimated": report.estimated,
        "by_model": lines(report.by_model),
        "by_day": lines(report.by_day),
        "by_spec": lines(report.by_spec),
    }


def text(report: Spend) -> str:
    """Plain lines for a terminal or a log."""
    span = ""
    if report.since or report.until:
        span = f" from {report.since or 'the start'} to {report.until or 'today'}"
    out = [
        f"spent ${report.total_usd:,.2f} on {plural(report.jobs, 'job')}{span}"
        + (f" ({report.failed} failed and refunded: $0)" if report.failed else "")
        + (f"; {plural(report.estimated, 'cost')} estimated" if report.estimated else "")
    ]
    for title, rows in (("by model", report.by_model), ("by day (UTC)", report.by_day), ("top specs", report.by_spec)):
        if not rows:
            continue
        out.append(f"{title}:")
        width = max(len(r.label) for r in rows)
        out += [
            f"  {r.label.ljust(width)}  ${r.cost_usd:>9,.2f}  {r.jobs:>4} job{'s' if r.jobs != 1 else ' '}"
            + (f"  ({r.estimated} estimated)" if r.estimated else "")
            for r in rows
        ]
    return "\n".join(out) + "\n"

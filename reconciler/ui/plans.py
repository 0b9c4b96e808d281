"""Plans for people and for tools: a rich table on a terminal, plain lines when piped, JSON always stable.

The JSON document is versioned (`format_version`); its schema is in docs/json.md. Nothing here
decides anything: it only shows a Plan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from reconciler.plan.diff import ORDER, Action, ActionKind, Plan
from reconciler.ui.format import duration, plural

if TYPE_CHECKING:
    from reconciler.plan.lock import Check

PLAN_FORMAT_VERSION = 1

_STYLE = {
    ActionKind.CREATE: "bold green",
    ActionKind.ADOPT: "green",
    ActionKind.PENDING: "cyan",
    ActionKind.IN_DOUBT: "bold yellow",
    ActionKind.FAILED: "bold red",
    ActionKind.NOOP: "dim",
}
_SYMBOL = {
    ActionKind.CREATE: "+",
    ActionKind.ADOPT: "<",
    ActionKind.PENDING: "~",
    ActionKind.IN_DOUBT: "?",
    ActionKind.FAILED: "!",
    ActionKind.NOOP: "=",
}


def summary(plan: Plan) -> str:
    """One line: "3 to create, est. $2.14, about 4 min at concurrency 8; 12 up to date; 1 pending"."""
    totals = plan.totals
    counts = totals.counts
    parts: list[str] = []
    creates = counts[ActionKind.CREATE]
    if creates:
        shared = f" ({plural(totals.generations, 'generation')})" if totals.generations != creates else ""
        parts.append(
            f"{creates} to create{shared}, est. ${totals.est_cost_usd:.2f}, "
            f"about {duration(totals.est_seconds)} at concurrency {totals.concurrency}"
        )
    else:
        parts.append("nothing to create")
    parts.append(f"{counts[ActionKind.NOOP]} up to date")
    for kind, word in (
        (ActionKind.ADOPT, "to adopt at $0"),
        (ActionKind.PENDING, "pending"),
        (ActionKind.IN_DOUBT, "in doubt"),
        (ActionKind.FAILED, "failed"),
    ):
        if counts[kind]:
            parts.append(f"{counts[kind]} {word}")
        if kind is ActionKind.IN_DOUBT and totals.in_doubt_cost_usd:
            # Bought again if the history shows no job: the plan must not promise $0 for them.
            parts[-1] += f" (up to ${totals.in_doubt_cost_usd:.2f} more; up to ${totals.up_to_cost_usd:.2f} in all)"
    if plan.paid_jobs:
        count = len(plan.paid_jobs)
        parts.append(f"{plural(count, 'paid job')} of changed specs to fetch (no cost)")
    if plan.orphans.count:
        parts.append(f"{plural(plan.orphans.count, 'orphaned output')} (reconciler gc)")
    return "; ".join(parts)


def _cost(action: Action) -> str:
    if action.est_cost_usd:
        return f"${action.est_cost_usd:.3f}"
    return f"up to ${action.up_to_cost_usd:.3f}" if action.up_to_cost_usd else ""


def plain(plan: Plan, out: TextIO, *, show_noop: bool) -> None:
    """Stable, greppable lines: `+ name  model  $cost  reason  (file:line)`."""
    for kind in ORDER:
        if (kind is ActionKind.NOOP and not show_noop) or not plan.totals.counts.get(kind):
            continue  # not even gathered: most of a big project's specs are up to date
        actions = [a for a in plan.actions if a.kind is kind]
        if not actions:
            continue
        out.write(f"{kind.value} ({len(actions)}):\n")
        width = max(len(a.name) for a in actions)
        model_width = max(len(a.model) for a in actions)
        costed = any(a.up_to_cost_usd for a in actions)  # once per kind: 10,000 pending specs made this quadratic
        for action in actions:
            cost = f"{_cost(action):>7}  " if costed else ""
            out.write(
                f"  {_SYMBOL[kind]} {action.name:<{width}}  {action.model:<{model_width}}  {cost}"
                f"{action.reason}  ({action.where})\n"
            )
    for line in _paid_job_lines(plan) + _orphan_lines(plan):
        out.write(line + "\n")
    out.write(summary(plan) + "\n")


SHOWN_ORPHANS = 10


def _paid_job_lines(plan: Plan) -> list[str]:
    return [
        f"fetch: {job.key}  {job.model}  "
        + (f"request {job.request_id}" if job.request_id else "a submit in doubt (looked up in the history)")
        + " (its spec changed or went away while it ran; stored at no cost)"
        for job in plan.paid_jobs
    ]


def _orphan_lines(plan: Plan) -> list[str]:
    """At most a few orphans by name (all of them are in --json); gc --dry-run lists every one."""
    shown = plan.orphans.listed[:SHOWN_ORPHANS]
    lines = [f"orphan: {o.key}  {o.model}  {o.size:,} bytes (no spec needs it; reconciler gc)" for o in shown]
    if plan.orphans.count > len(shown):
        rest = plan.orphans.count - len(shown)
        lines.append(f"... and {rest:,} more orphans ({plan.orphans.size:,} bytes in all)")
    return lines


def table(plan: Plan, out: TextIO, *, show_noop: bool) -> None:
    """A compact rich table grouped by action, for a terminal."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False)
    if console.width < 110:  # a narrow terminal: the table would squeeze the reasons to nothing
        plain(plan, out, show_noop=show_noop)
        return
    grid = Table(box=None, pad_edge=False, show_header=True, header_style="bold", expand=False)
    grid.add_column("", no_wrap=True)
    grid.add_column("spec", no_wrap=True)
    grid.add_column("model", no_wrap=True)
    grid.add_column("est. cost", no_wrap=True, justify="right")
    grid.add_column("why", overflow="fold", ratio=1)
    for kind in ORDER:
        if kind is ActionKind.NOOP and not show_noop:
            continue
        for action in [a for a in plan.actions if a.kind is kind]:
            style = _STYLE[kind]
            grid.add_row(
                f"[{style}]{_SYMBOL[kind]} {kind.value}[/]",
                f"[{style}]{action.name}[/]",
                action.model,
                _cost(action),
                f"{action.reason} [dim]{action.where}[/]",
            )
    if grid.row_count:
        console.print(grid)
    for line in _paid_job_lines(plan) + _orphan_lines(plan):
        console.print(f"[dim]{line}[/]", highlight=False)
    console.print(f"[bold]{summary(plan)}[/]")


def document(plan: Plan) -> dict[str, Any]:
    """The versioned JSON form of a plan (docs/json.md, "plan --json")."""
    totals = plan.totals
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "namespace": plan.namespace,
        "specs": [
            {
                "name": a.name,
                "key": a.key,
                "model": a.model,
                "action": a.kind.value,
                "reason": a.reason,
                "est_cost_usd": a.est_cost_usd,
                "up_to_cost_usd": a.up_to_cost_usd,
                "est_seconds": a.est_seconds,
                "shares_with": a.shares_with,
                "request_id": a.request_id,
                "file": a.where.path,
                "line": a.where.line,
            }
            for a in plan.actions
        ],
        "totals": {
            **{kind.value: totals.counts[kind] for kind in ORDER},
            "generations": totals.generations,
            "est_cost_usd": totals.est_cost_usd,
            "in_doubt_cost_usd": totals.in_doubt_cost_usd,
            "up_to_cost_usd": totals.up_to_cost_usd,
            "est_seconds": totals.est_seconds,
            "concurrency": totals.concurrency,
        },
        "orphans": [{"key": o.key, "model": o.model, "size": o.size, "digest": o.digest} for o in plan.orphans.listed],
        "paid_jobs": [{"key": j.key, "model": j.model, "request_id": j.request_id} for j in plan.paid_jobs],
        "summary": summary(plan),
    }


MARKDOWN_ROWS = 50  # a pull-request comment stays readable (and far below GitHub's 65,536 characters)


def markdown(plan: Plan, *, warnings: Sequence[str] = (), lock: Check | None = None) -> str:
    """A plan ready to paste as a pull-request comment: the summary, the creates with their cost, the total.

    With `lock` (plan --locked), a last section says whether the lock matches the specs.
    """
    lines = ["### reconciler plan", "", f"**{summary(plan)}**", ""]
    creates = [a for a in plan.actions if a.kind is ActionKind.CREATE or a.up_to_cost_usd]
    if creates:
        lines += ["| spec | model | est. cost | why |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| `{a.name}` | {a.model} | {_cost(a) or '(shared)'} | {_cell(a.reason)} |"
            for a in creates[:MARKDOWN_ROWS]
        ]
        if len(creates) > MARKDOWN_ROWS:
            rest = creates[MARKDOWN_ROWS:]
            cost = sum(a.est_cost_usd for a in rest)
            lines.append(f"| ... and {len(rest):,} more | | ${cost:.2f} | `plan --json` lists them all |")
        total = f"Total: **${plan.totals.est_cost_usd:.2f}**"
        if plan.totals.in_doubt_cost_usd:
            total += f", up to **${plan.totals.up_to_cost_usd:.2f}** if the submits in doubt made no job"
        lines += ["", total, ""]
    for kind in (ActionKind.ADOPT, ActionKind.PENDING, ActionKind.IN_DOUBT, ActionKind.FAILED):
        others = [a for a in plan.actions if a.kind is kind]
        if others:
            names = ", ".join(f"`{a.name}`" for a in others[:MARKDOWN_ROWS])
            more = f" and {len(others) - MARKDOWN_ROWS:,} more" if len(others) > MARKDOWN_ROWS else ""
            lines += [f"{kind.value}: {names}{more}", ""]
    if warnings:
        lines += ["Warnings:", "", *[f"- {_cell(w)}" for w in warnings[:MARKDOWN_ROWS]], ""]
    if lock is not None:
        lines += _lock_markdown(lock)
    return "\n".join(lines).rstrip() + "\n"


def _lock_markdown(check: Check) -> list[str]:
    if check.drift.agrees:
        lines = [f"`{check.path}` matches the specs.", ""]
    else:
        lines = [
            f"**`{check.path}` does not match the specs**: run `reconciler plan --update-lock` "
            "(pays nothing) or `reconciler apply`, and commit it.",
            "",
            *[f"- {line}" for line in check.drift.lines()],
            "",
        ]
    if check.made_elsewhere:
        names = ", ".join(f"`{n}`" for n in check.made_elsewhere[:MARKDOWN_ROWS])
        lines.append(
            f"Warning: `{check.path}` records videos this store does not have; apply would make them again: {names}"
        )
    return lines


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def lock_document(check: Check | None) -> dict[str, Any] | None:
    """The `lock` field of `plan --json`: null unless --locked."""
    if check is None:
        return None
    return {
        "path": check.path,
        "agrees": check.drift.agrees,
        "added": list(check.drift.added),
        "removed": list(check.drift.removed),
        "changed": [{"name": c.name, "from": c.old, "to": c.new} for c in check.drift.changed],
        "renamed": [{"from": r.old, "to": r.new} for r in check.drift.renamed],
        "made_elsewhere": list(check.made_elsewhere),
    }


def dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)

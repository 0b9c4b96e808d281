"""How an apply run shows itself: a live table on a terminal, log lines when piped, JSON lines for tools.

The engine decides and emits the values of `engine.events`; a `Display` only shows them. Times
are read from the events (their `at`), so a run driven by a fake clock is displayed exactly as a
real one. `summary_text` and `summary_document` are the run's last words,
for people and for tools (the CLI may print either alone).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from reconciler.engine.events import JobEvent, Outcome, Phase, RunEvent, StopReason, Summary
from reconciler.ui.format import elapsed, plural

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

SUMMARY_FORMAT_VERSION = 1

_BEFORE_SUBMIT = frozenset({Phase.WAITING, Phase.UPLOADING, Phase.SUBMITTING})
# Final phases worth a line of their own in the summary, the ones needing attention first.
_LISTED = (Phase.FAILED, Phase.IN_DOUBT, Phase.UNFINISHED, Phase.SKIPPED)
_WORDS = {Phase.IN_DOUBT: "in doubt"}


@dataclass(frozen=True)
class PlannedJob:
    """One generation the run will work on, as known before its first event."""

    key: str
    names: tuple[str, ...]
    model: str
    est_cost_usd: float


class Display(Protocol):
    """What the engine calls: `start` once, `event` per state change, `finish` once (even without `start`)."""

    def start(self, jobs: Sequence[PlannedJob], *, at: float) -> None: ...

    def event(self, event: JobEvent | RunEvent) -> None: ...

    def finish(self, summary: Summary) -> None: ...


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _usd(amount: float) -> str:
    return f"${amount:.3f}" if amount < 10 else f"${amount:,.2f}"


def _who(names: tuple[str, ...], key: str) -> str:
    if not names:
        return key[:12]
    return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"


class LogDisplay:
    """Plain timestamped lines, one per state change, flushed at once so CI logs stream."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _line(self, at: float, word: str, rest: str) -> None:
        self._out.write(f"{_clock(at)} {word:<11} {rest}\n")
        self._out.flush()

    def start(self, jobs: Sequence[PlannedJob], *, at: float) -> None:
        if not jobs:  # watch starts empty; an apply with nothing to do says so in its summary
            return
        est = sum(job.est_cost_usd for job in jobs)
        self._line(at, "starting", f"{plural(len(jobs), 'generation')}  est {_usd(est)}")

    def event(self, event: JobEvent | RunEvent) -> None:
        if isinstance(event, RunEvent):
            reason = f"  ({event.reason.value})" if event.reason else ""
            self._line(event.at, event.kind, event.detail + reason)
            return
        parts = [_who(event.names, event.key)]
        if event.phase in _BEFORE_SUBMIT:
            parts.append(event.model)
            if event.est_cost_usd:
                parts.append(f"est {_usd(event.est_cost_usd)}")
        else:
            if event.request_id:
                parts.append(f"request {event.request_id}")
            if event.cost_usd is not None:
                parts.append(_usd(event.cost_usd))
        if event.detail:
            parts.append(event.detail)
        self._line(event.at, event.phase.value, "  ".join(parts))

    def finish(self, summary: Summary) -> None:
        self._out.write(summary_text(summary) + "\n")
        self._out.flush()


class JsonDisplay:
    """One compact JSON object per line (`event`: start, job, run, summary), flushed at once."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def _emit(self, value: dict[str, Any]) -> None:
        self._out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._out.flush()

    def start(self, jobs: Sequence[PlannedJob], *, at: float) -> None:
        est = round(sum(job.est_cost_usd for job in jobs), 6)
        self._emit({"event": "start", "at": at, "generations": len(jobs), "est_cost_usd": est})

    def event(self, event: JobEvent | RunEvent) -> None:
        if isinstance(event, RunEvent):
            reason = event.reason.value if event.reason else None
            self._emit({"event": "run", "at": event.at, "kind": event.kind, "detail": event.detail, "reason": reason})
            return
        self._emit(
            {
                "event": "job",
                "at": event.at,
                "key": event.key,
                "names": list(event.names),
                "model": event.model,
                "phase": event.phase.value,
                "request_id": event.request_id,
                "detail": event.detail,
                "est_cost_usd": event.est_cost_usd,
                "cost_usd": event.cost_usd,
            }
        )

    def finish(self, summary: Summary) -> None:
        self._emit({"event": "summary", **summary_document(summary)})


def _outcome_document(outcome: Outcome) -> dict[str, Any]:
    return {
        "key": outcome.key,
        "names": list(outcome.names),
        "model": outcome.model,
        "phase": outcome.phase.value,
        "request_id": outcome.request_id,
        "detail": outcome.detail,
        "paid_here": outcome.paid_here,
        "est_cost_usd": outcome.est_cost_usd,
        "cost_usd": outcome.cost_usd,
        "digest": outcome.digest,
    }


def summary_document(summary: Summary) -> dict[str, Any]:
    """The versioned JSON form of a run's summary (docs/json.md, "apply --json")."""
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "command": summary.command,
        "exit_code": int(summary.exit_code),
        "stop": summary.stop.value if summary.stop else None,
        "submitted": summary.submitted,
        "est_cost_usd": summary.est_cost_usd,
        "cost_usd": summary.cost_usd,
        "up_to_date": summary.up_to_date,
        "laid_out": summary.laid_out,
        "counts": {phase.value: summary.count(phase) for phase in Phase if phase.final},
        "outcomes": [_outcome_document(outcome) for outcome in summary.outcomes],
        "elapsed_s": round(summary.finished_at - summary.started_at, 3),
    }


def _hints(summary: Summary) -> list[str]:
    # Keyed on the stop and the counts rather than on the exit code alone: the exit code keeps only
    # the worst news, and a budget stop with one failure still deserves the budget hint.
    hints: list[str] = []
    unfinished, in_doubt = summary.count(Phase.UNFINISHED), summary.count(Phase.IN_DOUBT)
    if summary.stop is StopReason.INTERRUPTED and not unfinished:
        hints.append("stopped: nothing was in flight")
    elif summary.stop is StopReason.INTERRUPTED:
        hints.append(
            f"interrupted: {plural(unfinished, 'job')} in flight {'is' if unfinished == 1 else 'are'} recorded; "
            "run `reconciler apply` again to collect them (nothing is submitted twice)"
        )
    elif unfinished:
        hints.append(f"{plural(unfinished, 'paid job')} not stored yet: apply again to collect them")
    if summary.stop is StopReason.BUDGET:
        skipped = summary.count(Phase.SKIPPED)
        hints.append(
            f"stopped at --max-cost: {plural(skipped, 'spec')} {'was' if skipped == 1 else 'were'} not "
            "submitted (listed above)"
        )
    if summary.stop is StopReason.CREDITS:
        hints.append("the account is out of credits: top it up and apply again")
    if summary.stop is StopReason.AUTH:
        hints.append("the API refused the key: check SEGMIND_API_KEY")
    if in_doubt:
        hints.append(
            f"{plural(in_doubt, 'submit')} {'is' if in_doubt == 1 else 'are'} in doubt: the request history could "
            "not be reached. Apply again when it can, or --resubmit-in-doubt to pay again"
        )
    return hints


def summary_text(summary: Summary) -> str:
    """A few plain lines for people: totals, one line per generation needing attention, then what to do."""
    counts = [f"{summary.count(phase)} {_WORDS.get(phase, phase.value)}" for phase in Phase if phase.final]
    counts = [count for count in counts if not count.startswith("0 ")]
    lines = [f"{summary.command}: " + (", ".join(counts) if counts else "nothing to do")]
    if summary.submitted:
        lines.append(
            f"submitted {plural(summary.submitted, 'new job')}: est {_usd(summary.est_cost_usd)}, "
            f"{_usd(summary.cost_usd)} reported by the API"
        )
    lines.append(
        f"{summary.up_to_date} up to date, {summary.laid_out} laid out, "
        f"took {elapsed(summary.finished_at - summary.started_at)}"
    )
    for phase in _LISTED:
        listed = [outcome for outcome in summary.outcomes if outcome.phase is phase]
        # Thousands of specs left by a budget stop would bury the rest: the JSON summary has them all.
        for outcome in listed[:LISTED_PER_PHASE]:
            names = ", ".join(outcome.names) or outcome.key
            detail = f": {outcome.detail}" if outcome.detail else ""
            lines.append(f"{phase.value:<8} {names}{detail}")
        if len(listed) > LISTED_PER_PHASE:
            lines.append(f"{phase.value:<8} ... and {len(listed) - LISTED_PER_PHASE} more (all of them in --json)")
    return "\n".join(lines + _hints(summary))


LISTED_PER_PHASE = 20


_PHASE_STYLE = {
    Phase.STORED: "green",
    Phase.FAILED: "red",
    Phase.IN_DOUBT: "yellow",
    Phase.WAITING: "dim",
    Phase.SKIPPED: "dim",
    Phase.UNFINISHED: "dim",
}


@dataclass(frozen=True)
class _Row:
    first_at: float
    last: JobEvent


class LiveDisplay:
    """A bounded live table for a terminal: generations in flight, the last few finished, and the money spent.

    Rows are built under a lock because rich redraws from its own thread while events arrive.
    """

    MAX_ROWS = 20
    RECENT = 5  # finished rows kept below those in flight

    def __init__(self, console: Console, *, now: Callable[[], float] = time.time) -> None:
        self._console = console
        self._now = now
        self._lock = threading.Lock()
        self._planned: dict[str, PlannedJob] = {}
        self._active: dict[str, _Row] = {}  # not final yet, oldest first
        self._recent: deque[_Row] = deque(maxlen=self.RECENT)
        self._finished: set[str] = set()
        self._est_spent: dict[str, float] = {}  # keys seen submitting in this run
        self._reported: dict[str, float] = {}
        self._latest_at: float | None = None
        self._seen_at = 0.0
        self._live: Live | None = None  # rich is imported only once a table is shown: piped runs start faster

    def start(self, jobs: Sequence[PlannedJob], *, at: float) -> None:
        from rich.live import Live

        with self._lock:
            self._planned = {job.key: job for job in jobs}
            self._latest_at, self._seen_at = at, self._now()
        self._live = Live(console=self._console, get_renderable=self._render, refresh_per_second=8, transient=False)
        self._live.start()

    def event(self, event: JobEvent | RunEvent) -> None:
        with self._lock:
            latest = event.at if self._latest_at is None else max(event.at, self._latest_at)
            self._latest_at, self._seen_at = latest, self._now()
        if isinstance(event, RunEvent):
            reason = f" ({event.reason.value})" if event.reason else ""
            line = f"{_clock(event.at)} {event.kind}: {event.detail}{reason}"
            self._console.print(line, markup=False, highlight=False)
            return
        with self._lock:
            earlier = self._active.pop(event.key, None)
            row = _Row(first_at=earlier.first_at if earlier else event.at, last=event)
            if event.phase is Phase.SUBMITTING or event.key in self._est_spent:
                self._est_spent[event.key] = event.est_cost_usd or self._est_spent.get(event.key, 0.0)
                if event.cost_usd is not None:
                    self._reported[event.key] = event.cost_usd
            if event.phase.final:
                self._finished.add(event.key)
                self._recent.append(row)
            else:
                self._finished.discard(event.key)
                self._active[event.key] = row

    def pause(self) -> None:
        """Stop redrawing (while a question is asked on the terminal)."""
        if self._live is not None:
            self._live.stop()

    def resume(self) -> None:
        if self._live is not None:
            self._live.start()

    def finish(self, summary: Summary) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._console.print(summary_text(summary), markup=False, highlight=False)

    def _display_now(self) -> float:
        # The event clock, moved on by however long the display has been idle since the last event:
        # elapsed times keep ticking between events, yet never mix the engine's clock with ours.
        if self._latest_at is None:
            return 0.0
        return self._latest_at + max(0.0, self._now() - self._seen_at)

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            now = self._display_now()
            room = self.MAX_ROWS - len(self._recent)
            shown = [*islice(self._active.values(), room), *self._recent]
            hidden = len(self._active) - min(room, len(self._active))
            total = len(self._planned.keys() | self._active.keys() | self._finished)
            done, unstarted = len(self._finished), len(self._planned.keys() - self._active.keys() - self._finished)
            est, reported = sum(self._est_spent.values()), sum(self._reported.values())

        table = Table(box=None, pad_edge=False, collapse_padding=True, header_style="bold")
        # Only the spec name gives way on a narrow terminal; the state columns keep their width.
        table.add_column("spec", no_wrap=True, overflow="ellipsis", min_width=12, max_width=24)
        table.add_column("model", no_wrap=True, min_width=16)
        table.add_column("phase", no_wrap=True, min_width=11)
        table.add_column("elapsed", justify="right", no_wrap=True, min_width=7)
        table.add_column("request", no_wrap=True, min_width=8)
        table.add_column("cost", justify="right", no_wrap=True, min_width=8)
        for row in shown:
            event = row.last
            first = event.names[0] if event.names else event.key[:12]
            shared = f" +{len(event.names) - 1}" if len(event.names) > 1 else ""
            end = event.at if event.phase.final else now
            cost = _usd(event.cost_usd) if event.cost_usd is not None else ""
            if not cost and event.est_cost_usd:
                cost = f"est {_usd(event.est_cost_usd)}"
            table.add_row(
                Text(first + shared),
                Text(event.model),
                Text(event.phase.value, style=_PHASE_STYLE.get(event.phase, "cyan")),
                elapsed(end - row.first_at),
                Text((event.request_id or "")[:8]),
                cost,
            )
        lines: list[RenderableType] = [table] if shown else []
        if hidden:
            lines.append(Text(f"… and {hidden} more in flight", style="dim"))
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(total, 1), completed=done, width=40, complete_style="green", finished_style="green"),
            f"{done}/{total} generations finished" + (f", {unstarted} not started" if unstarted else ""),
        )
        lines += [bar, Text(f"spent: est {_usd(est)} submitted this run, {_usd(reported)} reported by the API")]
        return Group(*lines)


def display_for(*, as_json: bool) -> Display:
    """JSON lines with --json; a live table on a terminal; log lines when piped."""
    if as_json:
        return JsonDisplay(sys.stdout)
    if sys.stdout.isatty():
        from rich.console import Console

        return LiveDisplay(Console())
    return LogDisplay(sys.stdout)

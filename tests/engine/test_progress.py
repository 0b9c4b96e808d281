"""The displays of an apply run show the engine's events as they are: log lines, JSON lines, a live table."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from rich.console import Console

from reconciler.engine.events import ExitCode, JobEvent, Outcome, Phase, RunEvent, StopReason, Summary
from reconciler.ui.progress import JsonDisplay, LiveDisplay, LogDisplay, PlannedJob, summary_document, summary_text

T0 = 1_700_000_000.0
MODEL = "wan-2.2-t2v-fast"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def job(n: int, *names: str) -> PlannedJob:
    return PlannedJob(key=f"key{n:04d}", names=names or (f"spec-{n}",), model=MODEL, est_cost_usd=0.099)


def moved(planned: PlannedJob, phase: Phase, at: float, **fields: object) -> JobEvent:
    return JobEvent(at=at, key=planned.key, names=planned.names, model=MODEL, phase=phase, **fields)  # type: ignore[arg-type]


def outcome(name: str, phase: Phase, *, detail: str = "", paid: bool = True, cost: float | None = 0.09) -> Outcome:
    return Outcome(
        key=f"key-{name}",
        names=(name,),
        model=MODEL,
        phase=phase,
        request_id="7f3a0123" if paid else None,
        detail=detail,
        paid_here=paid,
        est_cost_usd=0.099 if paid else 0.0,
        cost_usd=cost if paid else None,
    )


def summary(*outcomes: Outcome, stop: StopReason | None = None) -> Summary:
    return Summary(outcomes=outcomes, up_to_date=4, stop=stop, started_at=T0, finished_at=T0 + 100, laid_out=6)


class FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def a_run(display: LogDisplay | JsonDisplay | LiveDisplay) -> None:
    shared, bad = job(1, "lighthouse/seed-1", "lighthouse/seed-1-copy"), job(2, "bad-prompt")
    display.start([shared, bad], at=T0)
    display.event(moved(shared, Phase.SUBMITTING, T0 + 3, est_cost_usd=0.099))
    display.event(moved(bad, Phase.SUBMITTING, T0 + 4, est_cost_usd=0.099))
    display.event(RunEvent(at=T0 + 5, kind="rate-limited", detail="the API asked to slow down for 2 s"))
    display.event(
        moved(shared, Phase.STORED, T0 + 100, request_id="7f3a0123456789", est_cost_usd=0.099, cost_usd=0.099)
    )
    display.event(
        moved(bad, Phase.FAILED, T0 + 120, request_id="ab12", detail="Request blocked by the content policy.")
    )


# Log lines


def test_the_log_display_writes_one_plain_line_per_state_change_and_per_run_event() -> None:
    out = io.StringIO()
    a_run(LogDisplay(out))
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{clock(T0)} starting    2 generations  est $0.198",
        f"{clock(T0 + 3)} submitting  lighthouse/seed-1 (+1 more)  {MODEL}  est $0.099",
        f"{clock(T0 + 4)} submitting  bad-prompt  {MODEL}  est $0.099",
        f"{clock(T0 + 5)} rate-limited the API asked to slow down for 2 s",
        f"{clock(T0 + 100)} stored      lighthouse/seed-1 (+1 more)  request 7f3a0123456789  $0.099",
        f"{clock(T0 + 120)} failed      bad-prompt  request ab12  Request blocked by the content policy.",
    ]


def test_the_log_display_flushes_every_line_so_ci_logs_stream() -> None:
    out = FlushCounter()
    a_run(LogDisplay(out))
    assert out.flushes == len(out.getvalue().splitlines())


def test_the_log_display_ends_with_the_summary_and_never_writes_escape_codes() -> None:
    out = io.StringIO()
    display = LogDisplay(out)
    a_run(display)
    run = summary(outcome("lighthouse/seed-1", Phase.STORED), outcome("bad-prompt", Phase.FAILED))
    display.finish(run)
    assert out.getvalue().endswith("\n" + summary_text(run) + "\n")
    assert "\x1b" not in out.getvalue()


def test_a_stopping_run_event_in_the_log_names_its_reason() -> None:
    out = io.StringIO()
    LogDisplay(out).event(RunEvent(T0, "stopping", "the next submit would pass --max-cost", StopReason.BUDGET))
    assert out.getvalue() == f"{clock(T0)} stopping    the next submit would pass --max-cost  (budget)\n"


# JSON lines


def test_every_json_line_parses_and_carries_the_fields_of_its_event() -> None:
    out = FlushCounter()
    display = JsonDisplay(out)
    a_run(display)
    lines = out.getvalue().splitlines()
    assert out.flushes == len(lines)
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["start", "job", "job", "run", "job", "job"]
    assert records[0] == {"event": "start", "at": T0, "generations": 2, "est_cost_usd": 0.198}
    assert records[4] == {
        "event": "job",
        "at": T0 + 100,
        "key": "key0001",
        "names": ["lighthouse/seed-1", "lighthouse/seed-1-copy"],
        "model": MODEL,
        "phase": "stored",
        "request_id": "7f3a0123456789",
        "detail": "",
        "est_cost_usd": 0.099,
        "cost_usd": 0.099,
    }
    assert records[3] == {
        "event": "run",
        "at": T0 + 5,
        "kind": "rate-limited",
        "detail": "the API asked to slow down for 2 s",
        "reason": None,
    }


def test_a_json_run_event_carries_its_stop_reason() -> None:
    out = io.StringIO()
    JsonDisplay(out).event(RunEvent(T0, "stopping", "out of credits", StopReason.CREDITS))
    assert json.loads(out.getvalue())["reason"] == "credits"


def test_the_json_display_ends_with_the_summary_document() -> None:
    out = io.StringIO()
    done = summary(outcome("a", Phase.STORED))
    JsonDisplay(out).finish(done)
    assert json.loads(out.getvalue()) == {"event": "summary", **summary_document(done)}


def test_the_summary_document_carries_the_exit_code_and_a_count_for_every_final_phase() -> None:
    run = summary(
        outcome("a", Phase.STORED),
        outcome("b", Phase.STORED, cost=None),
        outcome("c", Phase.SKIPPED, paid=False, detail="--max-cost reached"),
        stop=StopReason.BUDGET,
    )
    document = json.loads(json.dumps(summary_document(run)))
    assert document["format_version"] == 1
    assert document["exit_code"] == ExitCode.STOPPED == 3
    assert document["stop"] == "budget"
    assert document["counts"] == {"stored": 2, "failed": 0, "skipped": 1, "in-doubt": 0, "unfinished": 0}
    assert (document["submitted"], document["est_cost_usd"], document["cost_usd"]) == (2, 0.198, 0.09)
    assert (document["up_to_date"], document["laid_out"], document["elapsed_s"]) == (4, 6, 100)
    assert document["outcomes"][2] == {
        "key": "key-c",
        "names": ["c"],
        "model": MODEL,
        "phase": "skipped",
        "request_id": None,
        "detail": "--max-cost reached",
        "paid_here": False,
        "est_cost_usd": 0.0,
        "cost_usd": None,
        "digest": None,
    }


# The live table


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120)


def printed(console: Console) -> str:
    return ANSI.sub("", console.file.getvalue())  # type: ignore[attr-defined]


def last_frame(console: Console) -> str:
    """What stays on screen: the live area is redrawn after erasing its lines, so the last drawing wins."""
    return ANSI.sub("", console.file.getvalue().rsplit("\x1b[2K", 1)[-1])  # type: ignore[attr-defined]


def test_the_live_table_stays_bounded_with_500_generations_in_flight() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    jobs = [job(n) for n in range(500)]
    display.start(jobs, at=T0)
    for n, planned in enumerate(jobs):
        display.event(moved(planned, Phase.PROCESSING, T0 + n / 10, request_id=f"req{n:05d}"))
    display.finish(summary(stop=StopReason.INTERRUPTED))
    frame = last_frame(console)
    rows = [line for line in frame.splitlines() if "processing" in line]
    assert len(rows) == LiveDisplay.MAX_ROWS
    assert "… and 480 more in flight" in frame
    assert "0/500 generations finished" in frame
    assert len(frame.splitlines()) < 40


def test_the_live_table_keeps_the_last_few_finished_generations_below_those_in_flight() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    jobs = [job(n) for n in range(30)]
    display.start(jobs, at=T0)
    for planned in jobs:
        display.event(moved(planned, Phase.QUEUED, T0))
    for planned in jobs[:8]:
        display.event(moved(planned, Phase.STORED, T0 + 100))
    display.finish(summary())
    frame = last_frame(console)
    assert [line.split()[2] for line in frame.splitlines() if MODEL in line].count("stored") == LiveDisplay.RECENT
    assert "… and 7 more in flight" in frame
    assert "8/30 generations finished" in frame


def test_a_generation_shared_by_two_specs_shows_its_first_name_and_plus_one() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    shared = job(1, "lighthouse/seed-1", "lighthouse/seed-1-copy")
    display.start([shared], at=T0)
    display.event(moved(shared, Phase.QUEUED, T0, request_id="7f3a0123456789"))
    display.finish(summary())
    row = next(line for line in last_frame(console).splitlines() if "queued" in line)
    assert row.split()[:2] == ["lighthouse/seed-1", "+1"]
    assert "7f3a0123 " in row + " "
    assert "7f3a01234" not in row


def test_elapsed_time_in_the_live_table_comes_from_the_event_clock() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    slow, fast = job(1), job(2)
    display.start([slow, fast], at=T0)
    display.event(moved(slow, Phase.SUBMITTING, T0))
    display.event(moved(fast, Phase.SUBMITTING, T0 + 90))
    display.event(moved(fast, Phase.STORED, T0 + 100))
    display.finish(summary())
    frame = last_frame(console)
    assert "1m40s" in next(line for line in frame.splitlines() if "spec-1 " in line)
    assert "10s" in next(line for line in frame.splitlines() if "spec-2 " in line)


def test_elapsed_time_keeps_ticking_while_no_event_arrives() -> None:
    console = terminal()
    wall = [50.0]
    display = LiveDisplay(console, now=lambda: wall[0])
    planned = job(1)
    display.start([planned], at=T0)
    display.event(moved(planned, Phase.PROCESSING, T0))
    wall[0] += 75
    display.finish(summary())
    assert "1m15s" in next(line for line in last_frame(console).splitlines() if "processing" in line)


def test_the_spent_line_counts_what_this_run_submitted_and_what_the_api_reported() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    submitted, resumed = job(1), job(2)
    display.start([submitted, resumed], at=T0)
    display.event(moved(submitted, Phase.SUBMITTING, T0, est_cost_usd=0.099))
    display.event(moved(submitted, Phase.STORED, T0 + 9, est_cost_usd=0.099, cost_usd=0.08))
    display.event(moved(resumed, Phase.DOWNLOADING, T0, cost_usd=0.5))
    display.finish(summary())
    assert "spent: est $0.099 submitted this run, $0.080 reported by the API" in last_frame(console)


def test_run_events_print_as_lines_above_the_live_table() -> None:
    console = terminal()
    display = LiveDisplay(console, now=lambda: 0.0)
    display.start([job(1)], at=T0)
    display.event(RunEvent(T0 + 1, "stopping", "Ctrl-C: collecting what is in flight", StopReason.INTERRUPTED))
    display.finish(summary(stop=StopReason.INTERRUPTED))
    screen = printed(console)
    line = f"{clock(T0 + 1)} stopping: Ctrl-C: collecting what is in flight (interrupted)"
    assert line in screen
    assert screen.index(line) < screen.rindex("generations finished")


def test_the_live_display_can_finish_without_having_started() -> None:
    console = terminal()
    LiveDisplay(console).finish(summary(outcome("a", Phase.STORED)))
    assert printed(console).startswith("apply: 1 stored")


# The summary text


def test_the_summary_names_only_the_counts_that_are_not_zero() -> None:
    text = summary_text(summary(outcome("a", Phase.STORED), outcome("b", Phase.IN_DOUBT, cost=None)))
    assert text.splitlines()[:3] == [
        "apply: 1 stored, 1 in doubt",
        "submitted 2 new jobs: est $0.198, $0.090 reported by the API",
        "4 up to date, 6 laid out, took 1m40s",
    ]


def test_the_summary_lists_each_generation_that_needs_attention_with_its_detail() -> None:
    text = summary_text(
        summary(
            outcome("fine", Phase.STORED),
            outcome("late", Phase.SKIPPED, paid=False, detail="--max-cost reached"),
            outcome("bad-prompt", Phase.FAILED, detail="Request blocked by the content policy."),
        )
    )
    assert "failed   bad-prompt: Request blocked by the content policy." in text.splitlines()
    assert "skipped  late: --max-cost reached" in text.splitlines()
    assert "fine" not in text


def test_a_clean_run_ends_without_a_hint() -> None:
    assert summary_text(summary(outcome("a", Phase.STORED))).splitlines()[-1] == "4 up to date, 6 laid out, took 1m40s"


@pytest.mark.parametrize(
    ("outcomes", "stop", "hint"),
    [
        (
            [outcome("a", Phase.UNFINISHED), outcome("b", Phase.UNFINISHED)],
            StopReason.INTERRUPTED,
            "interrupted: 2 jobs in flight are recorded; run `reconciler apply` again to collect them "
            "(nothing is submitted twice)",
        ),
        (
            [outcome("a", Phase.STORED), outcome("b", Phase.SKIPPED, paid=False)],
            StopReason.BUDGET,
            "stopped at --max-cost: 1 spec was not submitted (listed above)",
        ),
        (
            [outcome("a", Phase.SKIPPED, paid=False)],
            StopReason.CREDITS,
            "the account is out of credits: top it up and apply again",
        ),
        ([outcome("a", Phase.SKIPPED, paid=False)], StopReason.AUTH, "the API refused the key: check SEGMIND_API_KEY"),
        (
            [outcome("a", Phase.IN_DOUBT), outcome("b", Phase.IN_DOUBT), outcome("c", Phase.IN_DOUBT)],
            None,
            "3 submits are in doubt: the request history could not be reached. "
            "Apply again when it can, or --resubmit-in-doubt to pay again",
        ),
    ],
    ids=["interrupted", "budget", "credits", "auth", "in-doubt"],
)
def test_the_summary_ends_with_a_hint_for_why_the_run_stopped(
    outcomes: list[Outcome], stop: StopReason | None, hint: str
) -> None:
    assert summary_text(summary(*outcomes, stop=stop)).splitlines()[-1] == hint


def test_a_budget_stop_keeps_its_hint_even_when_something_also_failed() -> None:
    run = summary(
        outcome("a", Phase.FAILED, detail="boom"), outcome("b", Phase.SKIPPED, paid=False), stop=StopReason.BUDGET
    )
    assert run.exit_code is ExitCode.FAILED
    assert "stopped at --max-cost: 1 spec was not submitted (listed above)" in summary_text(run)


def test_a_summary_of_thousands_of_skipped_specs_lists_twenty_and_points_to_json() -> None:
    skipped = [outcome(f"s{i}", Phase.SKIPPED) for i in range(1000)]
    text = summary_text(summary(*skipped))
    assert sum(1 for line in text.splitlines() if line.startswith("skipped")) == 21
    assert "and 980 more (all of them in --json)" in text


def test_a_run_that_submitted_nothing_does_not_talk_about_money() -> None:
    text = summary_text(summary())
    assert text.startswith("apply: nothing to do")
    assert "submitted" not in text

"""The account's request history, as `segmind.generations.history()` / `.get(id)` read it.

Rows outlive the one-hour result retention (they last until a reset), which is what lets a client
find a job it submitted but lost track of: filter by model and date, then match `request_body`,
kept exactly as it was sent. In-flight jobs show as PENDING, as on the real service.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mockserver.jobs import Job, JobState

STATUSES = ("COMPLETED", "FAILED", "PENDING")
SORT_KEYS = ("model_created", "model_name", "credits_deduction")
DEFAULT_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 31


class BadQuery(ValueError):
    """A history query parameter the server rejects (400)."""


def iso(at: float) -> str:
    moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def row(job: Job, *, now: float, file_url: Callable[[Job], str]) -> dict[str, Any]:
    state = job.state_at(now)
    done = state.terminal
    updated = job.finished_at if done else (job.started_at if state is JobState.PROCESSING else job.submitted_at)
    return {
        "request_id": job.id,
        "model_name": job.model,
        "model_status": state.value if done else "PENDING",
        "request_body": job.body,
        "generation_url": file_url(job) if state is JobState.COMPLETED else None,
        # The reservation is refunded when a job fails, so a failure costs nothing.
        "credits_deduction": 0.0 if state is JobState.FAILED else job.cost_usd,
        "latency_ms": round((job.finished_at - job.submitted_at) * 1000) if done else None,
        "model_created": iso(job.submitted_at),
        "created_at": iso(job.submitted_at),
        "updated_at": iso(updated),
        "completed_at": iso(job.finished_at) if done else None,
        "error": job.error if state is JobState.FAILED else None,
    }


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{name}: expected an integer, got {text!r}") from None
    if not low <= value <= high:
        raise BadQuery(f"{name}: {value} is out of range: must be from {low} to {high}")
    return value


def _date(params: Mapping[str, str], name: str, default: dt.date) -> dt.date:
    text = params.get(name)
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{name}: expected a date as YYYY-MM-DD, got {text!r}") from None


def query(
    jobs: Iterable[Job], params: Mapping[str, str], *, now: float, file_url: Callable[[Job], str]
) -> dict[str, Any]:
    """One page of the key's history, newest first unless asked otherwise; raises BadQuery."""
    page = _int(params, "page", 1, 1, 1_000_000)
    per_page = _int(params, "per_page", 20, 1, 100)
    today = dt.datetime.fromtimestamp(now, tz=dt.UTC).date()
    to_date = _date(params, "to_date", today)
    # A to_date near year 1 has no room for the default window before it: start at the first date.
    window_start = dt.date.min + dt.timedelta(days=DEFAULT_WINDOW_DAYS)
    default_from = to_date - dt.timedelta(days=DEFAULT_WINDOW_DAYS) if to_date >= window_start else dt.date.min
    from_date = _date(params, "from_date", default_from)
    if from_date > to_date:
        raise BadQuery("from_date must not be after to_date")
    if (to_date - from_date).days > MAX_WINDOW_DAYS:
        raise BadQuery(f"the date window may span at most {MAX_WINDOW_DAYS} days")
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadQuery(f"status: {status!r} is not allowed: must be one of {', '.join(STATUSES)}")
    sort_by = params.get("sort_by") or "model_created"
    if sort_by not in SORT_KEYS:
        raise BadQuery(f"sort_by: {sort_by!r} is not allowed: must be one of {', '.join(SORT_KEYS)}")
    sort_order = params.get("sort_order") or "desc"
    if sort_order not in ("asc", "desc"):
        raise BadQuery(f"sort_order: {sort_order!r} is not allowed: must be asc or desc")
    model_name = params.get("model_name") or ""

    rows = []
    for job in jobs:
        day = dt.datetime.fromtimestamp(job.submitted_at, tz=dt.UTC).date()
        if not from_date <= day <= to_date or model_name not in job.model:
            continue
        entry = row(job, now=now, file_url=file_url)
        if status is None or entry["model_status"] == status:
            rows.append((job, entry))
    sort_key: Callable[[tuple[Job, dict[str, Any]]], Any] = {
        "model_created": lambda pair: (pair[0].submitted_at, pair[0].index),
        "model_name": lambda pair: (pair[0].model, pair[0].submitted_at, pair[0].index),
        "credits_deduction": lambda pair: (pair[1]["credits_deduction"], pair[0].submitted_at, pair[0].index),
    }[sort_by]
    rows.sort(key=sort_key, reverse=sort_order == "desc")
    start = (page - 1) * per_page
    return {
        "data": [entry for _, entry in rows[start : start + per_page]],
        "page": page,
        "per_page": per_page,
        "total": len(rows),
        "total_pages": math.ceil(len(rows) / per_page),
    }

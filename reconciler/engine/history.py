"""Settling what the engine cannot know alone, from the account's request history.

Two questions reach the history, and both must be answered before anything is paid again:

    find_submit   did a submit whose answer was lost create a job? (same model, same request body,
                  created after the intent was recorded, not a job this key already knows)
    recover       where is the video of a request whose result expired (404)? (its row's
                  generation_url, when the history still has one)

A lookup that cannot reach the history raises (an ApiError): "unknown" is never read as "absent".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.client import HistoryRow, SegmindApi
from reconciler.engine.pacer import Pacer
from reconciler.records import FailureReason

# Timestamps come from the API's clock and the intent's from ours: allow them to disagree this much.
CLOCK_SKEW_S = 120.0
# The history answers whole days; a window wider than this is refused by the service.
MAX_WINDOW_S = 30 * 86_400.0
# Prefer a job that can still deliver: finished first, then running, then failed.
_PREFERENCE = {"COMPLETED": 0, "PENDING": 1, "QUEUED": 1, "PROCESSING": 1, "FAILED": 2}


@dataclass(frozen=True)
class Recovery:
    """What the history says about an expired request: a URL to fetch, that it failed, or that it is gone."""

    url: str | None
    cost_usd: float | None
    detail: str
    running: bool = False  # the history says the job has not finished: keep polling it
    error: str | None = None  # the history says the job failed, with this error: record the failure
    reason: FailureReason | None = None  # and whether that failure was a content block (client-classified)


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _body(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def matches(
    row: HistoryRow, *, model: str, bodies: Sequence[dict[str, Any]], since: float, known: Collection[str]
) -> bool:
    """Is `row` the job a lost submit of one of `bodies` created?"""
    if row.model != model or not row.request_id or row.request_id in known:
        return False
    created = _parse_time(row.created_at)
    if created is not None and created < since - CLOCK_SKEW_S:
        return False
    return _body(row.request_body) in bodies


async def find_submit(
    api: SegmindApi,
    pacer: Pacer,
    *,
    model: str,
    bodies: Sequence[dict[str, Any]],
    since: float,
    known: Collection[str] = (),
) -> HistoryRow | None:
    """The job a lost submit created, or None when the history positively has none; raises ApiError."""
    now = pacer.clock.now()
    start = max(since - CLOCK_SKEW_S, now - MAX_WINDOW_S)
    rows = await pacer.call(lambda: api.history(model=model, since=start, until=now + CLOCK_SKEW_S))
    found = [row for row in rows if matches(row, model=model, bodies=bodies, since=since, known=known)]
    if not found:
        return None
    found.sort(key=lambda row: (_PREFERENCE.get(row.status.upper(), 3), -(_parse_time(row.created_at) or 0.0)))
    return found[0]


async def recover(api: SegmindApi, pacer: Pacer, request_id: str) -> Recovery:
    """Where the video of an expired request can still be fetched; raises ApiError when unreachable."""
    row = await pacer.call(lambda: api.history_row(request_id))
    if row is None:
        return Recovery(None, None, f"request {request_id} is not in the account's history")
    status = row.status.upper()
    if status == "FAILED":
        error = row.error or "the request history says it FAILED, without an error"
        return Recovery(None, None, f"request {request_id} failed: {error}", error=error, reason=row.reason)
    if row.generation_url:
        return Recovery(row.generation_url, row.cost_usd, f"request {request_id} recovered from the history")
    if status in ("PENDING", "QUEUED", "PROCESSING"):
        return Recovery(None, None, f"request {request_id} is still running", running=True)
    return Recovery(None, None, f"request {request_id} has no video left in the history")

"""Settling what the engine cannot know alone, from the account's request history.

Two questions reach the history, and both must be answered before anything is paid again:

    find_submit   did a submit whose answer was lost create a job? (same model, same request body,
                  created after the intent was recorded, not a job this key already knows)
    recover       where is the video of a request whose result expired (404)? (its row's
                  generation_url, when the history still has one)

A lookup that cannot reach the history raises (an ApiError), and one whose answer cannot cover the
intent (older than the history reaches back) raises Unsettled: "unknown" is never read as "absent".
The API's clock is not assumed to agree with ours: its offset is measured from the `Date` of the
history's own answer and the window is placed around the intent in the API's time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api.answers import HistoryRow
from reconciler.api.client import SegmindApi
from reconciler.engine.pacer import Pacer
from reconciler.errors import ReconcilerError
from reconciler.records import FailureReason


class Unsettled(ReconcilerError):
    """The history cannot say whether a lost submit made a job: the key stays in doubt."""


# A lost submit's job is looked for this far around the intent (in the API's clock, once the skew
# between its clock and ours is measured): the body and model must match exactly and jobs the key
# already knows are excluded, so a wide window costs a few more rows read, never a wrong adoption.
WINDOW_S = 3600.0
# How far the measured offset may be off: the Date header has whole seconds, and answers take a while.
SKEW_SLACK_S = 5.0
# The history answers at most this far back; a submit intended earlier cannot be settled through it.
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
    row: HistoryRow,
    *,
    model: str,
    bodies: Sequence[dict[str, Any]],
    since: float,
    known: Collection[str],
    offset_s: float = 0.0,
) -> bool:
    """Is `row` the job a lost submit of one of `bodies` created? `offset_s`: the API's clock minus ours."""
    if row.model != model or not row.request_id or row.request_id in known:
        return False
    created = _parse_time(row.created_at)
    if created is not None and created < since + offset_s - WINDOW_S:
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
    """The job a lost submit created, or None when the history positively has none.

    Raises ApiError when the history cannot be read, Unsettled when it cannot reach back to `since`.
    """
    asked = pacer.clock.now()

    async def rows_around(offset: float) -> list[HistoryRow]:
        # Whole days are asked for; a day's margin keeps the first one inside what the service answers.
        reach = asked + offset - MAX_WINDOW_S + 86_400.0
        if since + offset - SKEW_SLACK_S < reach:
            # "Not found" in the last 30 days would only mean "not recent", never "never made".
            raise Unsettled(
                f"the submit was intended {(asked - since) / 86_400:.0f} days ago and the request history"
                f" reaches back {MAX_WINDOW_S / 86_400:.0f} days only, so it cannot tell whether it made a job"
            )
        start = max(since + offset - WINDOW_S, reach)
        return await pacer.call(lambda: api.history(model=model, since=start, until=asked + offset + WINDOW_S))

    rows = await rows_around(0.0)
    offset = 0.0
    if (date := api.last_server_date) is not None:
        offset = date - pacer.clock.now()  # measured from the history's own answer
        if abs(offset) > WINDOW_S - SKEW_SLACK_S:
            # The clocks disagree by more than the first window allowed for: ask again where the intent lies.
            rows = await rows_around(offset)
    found = [row for row in rows if matches(row, model=model, bodies=bodies, since=since, known=known, offset_s=offset)]
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

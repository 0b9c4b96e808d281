"""What the API answers, as values, and how its bodies are read: the wire's words become types once. Pure.

The client (client.py) does the I/O and hands every whole answer here; nothing below knows httpx.
A FAILED job is a value (the API serves it as 422 with the error in the body), classified once
(`failures.py`), never re-read from its text downstream.
"""

from __future__ import annotations

import email.utils
import enum
import json
from dataclasses import dataclass
from typing import Any

from reconciler.api.failures import failure_reason
from reconciler.errors import ApiUnreachable
from reconciler.records import FailureReason


class JobState(enum.Enum):
    """A request's state as the API reports it."""

    QUEUED = "QUEUED"  # accepted, waiting for a worker
    PROCESSING = "PROCESSING"  # running
    COMPLETED = "COMPLETED"  # the result is ready
    FAILED = "FAILED"  # errored, content blocks included


@dataclass(frozen=True)
class Submitted:
    request_id: str
    state: JobState


@dataclass(frozen=True)
class JobStatus:
    request_id: str
    state: JobState
    error: str | None = None
    reason: FailureReason | None = None  # for FAILED: a content block (permanent) or not (temporary)


@dataclass(frozen=True)
class JobResult:
    request_id: str
    state: JobState
    output_url: str | None = None
    output_bytes: bytes | None = None  # when the server sends the video inline (base64)
    cost_usd: float | None = None
    error: str | None = None
    reason: FailureReason | None = None  # for FAILED: a content block (permanent) or not (temporary)
    latency_s: float | None = None  # submit to done by the server's own clock (`metrics`), when it says


@dataclass(frozen=True)
class HistoryRow:
    """One row of the account's request history: what was sent and what came of it."""

    request_id: str
    model: str
    status: str
    request_body: Any
    generation_url: str | None
    cost_usd: float | None
    created_at: str | None
    error: str | None
    reason: FailureReason | None = None  # for FAILED: a content block (permanent) or not (temporary)


@dataclass(frozen=True)
class Answer:
    """A whole (capped) answer of the API: its status, the headers that matter, the body."""

    status: int
    retry_after: str | None
    body: bytes
    date: str | None = None  # the API's clock, from its Date header


def says_failed(answer: Answer) -> bool:
    try:
        data = json.loads(answer.body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("status") == "FAILED"


def json_object(answer: Answer, what: str) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise ApiUnreachable(f"{what}: the answer is not JSON (HTTP {answer.status})", maybe_sent=True) from None
    if not isinstance(data, dict):
        raise ApiUnreachable(f"{what}: the answer is not a JSON object", maybe_sent=True)
    return data


def server_message(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        text = body[:4096].decode("utf-8", "replace").strip()
        return text or None
    if isinstance(data, dict):
        for field in ("error", "message", "detail"):
            if isinstance(data.get(field), str):
                return str(data[field])
    return None


def http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def failure_reason_of(status: str, error: str | None) -> FailureReason | None:
    # Classified once, here, where a FAILED answer becomes a value: nothing later re-reads the text.
    return failure_reason(error) if status.upper() == JobState.FAILED.value else None


def retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def plain_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def latency_of(metrics: Any) -> float | None:
    """Seconds from submit to done in a result's `metrics` (total_ms, else queue_ms + inference_ms)."""
    if not isinstance(metrics, dict):
        return None
    total = number(metrics.get("total_ms"))
    if total is None:
        parts = [number(metrics.get(name)) for name in ("queue_ms", "inference_ms")]
        total = None if None in parts else sum(p for p in parts if p is not None)
    return total / 1000 if total is not None and 0 <= total < 1e10 else None

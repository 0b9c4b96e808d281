"""The Segmind API over HTTP: submit, status, result, download, request history, uploads.

The only module that imports httpx. Every HTTP outcome becomes a value (a job's state, a FAILED
result included: the API serves FAILED as 422 with the error in the body) or one of the ApiError
classes (`errors.error_for_status`); every httpx exception is translated here, chained with `from`.
Nothing here retries or sleeps: retry policy belongs to the engine, which knows whether a request
costs money. The API key travels only in the `x-api-key` header and appears in no message.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from reconciler.errors import ApiError, ApiUnreachable, error_for_status

DEFAULT_BASE_URL: Final = "https://api.segmind.com"
# The hosts the official client (segmind 1.3.0) uses for the request history and for uploads.
DEFAULT_HISTORY_URL: Final = "https://api.spotprod.segmind.com"
DEFAULT_UPLOAD_URL: Final = "https://workflows-api.segmind.com"
DOWNLOAD_CHUNK: Final = 1 << 20


class JobState(enum.Enum):
    """A request's state as the API reports it."""

    QUEUED = "QUEUED"  # accepted, waiting for a worker
    PROCESSING = "PROCESSING"  # running
    COMPLETED = "COMPLETED"  # the result is ready
    FAILED = "FAILED"  # errored, content blocks included

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED)


@dataclass(frozen=True)
class Submitted:
    request_id: str
    state: JobState


@dataclass(frozen=True)
class JobStatus:
    request_id: str
    state: JobState
    error: str | None = None


@dataclass(frozen=True)
class JobResult:
    request_id: str
    state: JobState
    output_url: str | None = None
    output_bytes: bytes | None = None  # when the server sends the video inline (base64)
    cost_usd: float | None = None
    error: str | None = None
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


def _root(url: str) -> str:
    """A base URL without a trailing slash or API version (`.../v1` as the official client takes it)."""
    url = url.rstrip("/")
    return url.removesuffix("/v1").removesuffix("/v2")


class SegmindApi:
    """An async client of one account on one backend; share one instance for a whole run."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        history_url: str | None = None,
        upload_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 60.0,
        max_connections: int = 64,
    ) -> None:
        self.base_url = _root(base_url)
        self.history_url = _root(history_url or DEFAULT_HISTORY_URL)
        self.upload_url = _root(upload_url or DEFAULT_UPLOAD_URL)
        self._http = httpx.AsyncClient(
            headers={"x-api-key": api_key, "user-agent": "reconciler"},
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=True,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SegmindApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- the v2 job lifecycle

    async def submit(self, model: str, body_json: str) -> Submitted:
        """POST /v2/{model} with these exact bytes. A failure after sending is ApiUnreachable(maybe_sent)."""
        what = f"submit to {model}"
        response = await self._send("POST", f"{self.base_url}/v2/{quote(model)}", what, content=body_json.encode())
        data = _json_object(response, what)
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            # The job may exist: the answer that would name it is unusable.
            raise ApiUnreachable(f"{what}: the answer carried no request_id", maybe_sent=True)
        return Submitted(request_id, _state(data.get("status") or "QUEUED", what))

    async def status(self, request_id: str) -> JobStatus:
        what = f"status of request {request_id}"
        response = await self._send("GET", f"{self.base_url}/v2/requests/{quote(request_id)}/status", what)
        data = _json_object(response, what)
        return JobStatus(request_id, _state(data.get("status"), what), _text(data.get("error")))

    async def result(self, request_id: str) -> JobResult:
        what = f"result of request {request_id}"
        response = await self._send("GET", f"{self.base_url}/v2/requests/{quote(request_id)}", what)
        data = _json_object(response, what)
        state = _state(data.get("status"), what)
        output = data.get("output")
        url, inline = None, None
        if isinstance(output, str) and output.startswith(("http://", "https://")):
            url = output
        elif isinstance(output, str) and output:
            try:
                inline = base64.b64decode(output, validate=True)
            except ValueError:
                raise ApiUnreachable(f"{what}: the output is neither a URL nor base64", maybe_sent=False) from None
        if state is JobState.COMPLETED and url is None and inline is None:
            raise ApiUnreachable(f"{what}: COMPLETED without an output", maybe_sent=False)
        cost, error = _number(data.get("cost")), _text(data.get("error"))
        return JobResult(request_id, state, url, inline, cost, error, _latency(data.get("metrics")))

    async def download(self, url: str, write: Callable[[bytes], None], *, max_bytes: int) -> int:
        """Stream `url` into `write`, chunk by chunk; never holds the whole video. Returns the size.

        A body shorter than its Content-Length, or longer than `max_bytes`, is an error: the caller
        discards what it wrote, so a partial download never becomes an object.
        """
        what = "download of the output"
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for_status(response.status_code, _server_message(response), what=what)
                expected = response.headers.get("content-length")
                size = 0
                async for chunk in response.aiter_raw(DOWNLOAD_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ApiUnreachable(f"{what}: larger than the limit of {max_bytes:,} bytes", maybe_sent=False)
                    write(chunk)
        except httpx.HTTPError as exc:
            raise _unreachable(exc, what) from exc
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise ApiUnreachable(f"{what}: got {size:,} of {int(expected):,} bytes", maybe_sent=False)
        return size

    # ---- the account's request history

    async def history(self, *, model: str, since: float, until: float) -> list[HistoryRow]:
        """Every history row of `model` between two times (whole days, UTC), newest first."""
        rows: list[HistoryRow] = []
        page = 1
        start = dt.datetime.fromtimestamp(since, tz=dt.UTC).date()
        end = dt.datetime.fromtimestamp(until, tz=dt.UTC).date()
        while True:
            params = {
                "model_name": model,
                "from_date": start.isoformat(),
                "to_date": end.isoformat(),
                "page": str(page),
                "per_page": "100",
            }
            what = f"request history of {model}"
            response = await self._send(
                "GET", f"{self.history_url}/inference-request/request-history", what, params=params
            )
            data = _json_object(response, what)
            found = data.get("data")
            if not isinstance(found, list):
                raise ApiUnreachable(f"{what}: the answer has no list of rows", maybe_sent=False)
            rows.extend(_history_row(item) for item in found if isinstance(item, dict))
            pages = data.get("total_pages")
            if not found or not isinstance(pages, int) or page >= pages:
                return rows
            page += 1

    async def history_row(self, request_id: str) -> HistoryRow | None:
        """One request of the account, of any age; None when the history does not know it."""
        what = f"history of request {request_id}"
        try:
            response = await self._send(
                "GET", f"{self.history_url}/inference-request/request-history/{quote(request_id)}", what
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return _history_row(_json_object(response, what))

    # ---- uploads

    async def upload(self, data: bytes, media_type: str) -> str:
        """Upload an image for image-to-video; returns the URL to send instead of the file."""
        what = "upload of a local image"
        payload = {"data_urls": [f"data:{media_type};base64,{base64.b64encode(data).decode()}"]}
        response = await self._send(
            "POST", f"{self.upload_url}/upload-asset", what, content=json.dumps(payload).encode()
        )
        urls = _json_object(response, what).get("file_urls")
        if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
            raise ApiUnreachable(f"{what}: the answer has no file_urls", maybe_sent=True)
        return urls[0]

    # ---- one request, translated

    async def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        headers = {"content-type": "application/json"} if "content" in kwargs else None
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise _unreachable(exc, what) from exc
        # A FAILED job is served as 422 with its error in the body: a result, not a transport error.
        if response.status_code == 422 and _says_failed(response):
            return response
        if response.status_code >= 400:
            retry_after = _retry_after(response.headers.get("retry-after"))
            raise error_for_status(response.status_code, _server_message(response), what=what, retry_after=retry_after)
        return response


def _unreachable(exc: httpx.HTTPError, what: str) -> ApiUnreachable:
    # Only a failure to connect proves the request never left; anything later may have reached the
    # service (for a paid submit: the job may exist).
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol))
    kind = type(exc).__name__
    detail = str(exc) or kind
    return ApiUnreachable(f"{what}: {detail} ({kind})", maybe_sent=not never_sent)


def _says_failed(response: httpx.Response) -> bool:
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("status") == "FAILED"


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise ApiUnreachable(f"{what}: the answer is not JSON (HTTP {response.status_code})", maybe_sent=True) from None
    if not isinstance(data, dict):
        raise ApiUnreachable(f"{what}: the answer is not a JSON object", maybe_sent=True)
    return data


def _server_message(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] or None
    if isinstance(data, dict):
        for field in ("error", "message", "detail"):
            if isinstance(data.get(field), str):
                return str(data[field])
    return None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _state(value: Any, what: str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise ApiUnreachable(f"{what}: unknown status {value!r}", maybe_sent=True) from None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
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


def _latency(metrics: Any) -> float | None:
    """Seconds from submit to done in a result's `metrics` (total_ms, else queue_ms + inference_ms)."""
    if not isinstance(metrics, dict):
        return None
    total = _number(metrics.get("total_ms"))
    if total is None:
        parts = [_number(metrics.get(name)) for name in ("queue_ms", "inference_ms")]
        total = None if None in parts else sum(p for p in parts if p is not None)
    return total / 1000 if total is not None and 0 <= total < 1e10 else None


def _history_row(item: dict[str, Any]) -> HistoryRow:
    body = item.get("request_body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):  # a body kept as text stays text
            body = json.loads(body)
    return HistoryRow(
        request_id=str(item.get("request_id") or ""),
        model=str(item.get("model_name") or ""),
        status=str(item.get("model_status") or item.get("status") or ""),
        request_body=body,
        generation_url=_text(item.get("generation_url")),
        cost_usd=_number(item.get("credits_deduction")),
        created_at=_text(item.get("created_at") or item.get("model_created")),
        error=_text(item.get("error")),
    )

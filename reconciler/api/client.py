"""The Segmind API over HTTP: submit, status, result, download, request history, uploads.

The only module that imports httpx. Every HTTP outcome becomes a value (a job's state, a FAILED
result included: the API serves FAILED as 422 with the error in the body) or one of the ApiError
classes (`errors.error_for_status`); every httpx exception is translated here, chained with `from`.
Nothing here retries or sleeps: retry policy belongs to the engine, which knows whether a request
costs money.

What crosses this boundary is bounded both ways. Out: the API key, only in `x-api-key`, only to
the API's own origins (`origins.py`). In: every JSON answer read as a stream up to a byte cap,
the history's pages capped, downloads held to a rate floor, and every server message redacted
(`redact.py`) before anything downstream can store, log or print it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import httpx

from reconciler.api import answers
from reconciler.api.answers import HistoryRow, JobResult, JobState, JobStatus, Submitted
from reconciler.api.origins import api_root, check_key, origin_of, output_url_problem, shown_url, url_problem
from reconciler.api.redact import Redactor
from reconciler.errors import (
    ApiError,
    ApiServerError,
    ApiUnreachable,
    ApiUnsafeUrl,
    UsageError,
    error_for_status,
)

DEFAULT_BASE_URL: Final = "https://api.segmind.com"
# The hosts the official client (segmind 1.3.0) uses for the request history and for uploads.
DEFAULT_HISTORY_URL: Final = "https://api.spotprod.segmind.com"
DEFAULT_UPLOAD_URL: Final = "https://workflows-api.segmind.com"
DOWNLOAD_CHUNK: Final = 1 << 20
# No answer of the API comes near this: a history page of 100 rows with 5,000-character prompts is
# under 1 MiB. A body past it (a status that streams forever) is a server error, not a MemoryError.
MAX_JSON_BYTES: Final = 8 << 20
HISTORY_PAGE_ROWS: Final = 100
MAX_HISTORY_PAGES: Final = 100  # 10,000 rows of one model in one lookup's window
MAX_REDIRECTS: Final = 5
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# Raised before a byte was written: a URL httpx cannot parse, a port past 65535, a header value
# that is not ASCII. The request never left.
_NEVER_SENT: Final = (httpx.InvalidURL, OverflowError, UnicodeEncodeError)


@dataclass(frozen=True)
class RateFloor:
    """The slowest answer accepted: at least `min_bytes` in every `window_s` until the body ends.

    A host that trickles a byte every few seconds never trips a per-read timeout; this does. The
    default (256 KiB per 30 s, ~8.7 KB/s) passes any real link and stops a stalled one in 30 s.
    """

    min_bytes: int = 256 << 10
    window_s: float = 30.0

    def describe(self) -> str:
        return f"{self.min_bytes:,} bytes in {self.window_s:g} s"


class SegmindApi:
    """An async client of one account on one backend; share one instance for a whole run.

    The key travels only to the configured base, history and upload origins (scheme, host and port
    compared exactly), per request; redirects are followed by hand and only between those origins;
    output URLs are fetched without it. Every message a server sends is redacted here, once, so
    nothing downstream (the store's attempts.error, plan, --json) can see a key a server echoed.
    """

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
        download_floor: RateFloor = RateFloor(),
        max_json_bytes: int = MAX_JSON_BYTES,
        max_history_pages: int = MAX_HISTORY_PAGES,
    ) -> None:
        check_key(api_key, setting="the API key")
        self.base_url = _checked_root(base_url, "the API base URL")
        self.history_url = _checked_root(history_url or DEFAULT_HISTORY_URL, "the request history URL")
        self.upload_url = _checked_root(upload_url or DEFAULT_UPLOAD_URL, "the upload URL")
        self._origins = frozenset(origin_of(url) for url in (self.base_url, self.history_url, self.upload_url))
        base = origin_of(self.base_url)
        # A local fake serves its videos over plain http; the real API's outputs are https only.
        self._plain_http_ok = base.scheme == "http" and base.loopback
        self._key = api_key
        # The API's clock, from the Date header of its latest answer: the history's timestamps are in it.
        self.last_server_date: float | None = None
        self._redact = Redactor(api_key)
        self._floor = download_floor
        self._max_json_bytes = max_json_bytes
        self._max_history_pages = max_history_pages
        self._abandoned = False
        self._downloads: set[asyncio.Timeout] = set()
        self._http = httpx.AsyncClient(
            headers={"user-agent": "reconciler"},
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,  # followed by hand: httpx would carry x-api-key to any host
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SegmindApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def abandon_downloads(self) -> None:
        """Stop every download now, and refuse new ones: the run is stopping (the first Ctrl-C).

        An abandoned download is ApiUnreachable (nothing was stored); its job stays recorded and the
        next run fetches it by its request id. API requests are not cut: a submit on the wire still
        gets its answer recorded.
        """
        self._abandoned = True
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:  # no loop running: no download can be in progress
            return
        for deadline in self._downloads:
            deadline.reschedule(now)

    # ---- the v2 job lifecycle

    async def submit(self, model: str, body_json: str) -> Submitted:
        """POST /v2/{model} with these exact bytes. A failure after sending is ApiUnreachable(maybe_sent)."""
        what = f"submit to {model}"
        answer = await self._send("POST", f"{self.base_url}/v2/{quote(model)}", what, content=body_json.encode())
        data = answers.json_object(answer, what)
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            # The job may exist: the answer that would name it is unusable.
            raise ApiUnreachable(f"{what}: the answer carried no request_id", maybe_sent=True)
        return Submitted(request_id, self._state(data.get("status") or "QUEUED", what))

    async def status(self, request_id: str) -> JobStatus:
        what = f"status of request {request_id}"
        answer = await self._send("GET", f"{self.base_url}/v2/requests/{quote(request_id)}/status", what)
        data = answers.json_object(answer, what)
        state, error = self._state(data.get("status"), what), self._text(data.get("error"))
        return JobStatus(request_id, state, error, answers.failure_reason_of(state.value, error))

    async def result(self, request_id: str) -> JobResult:
        what = f"result of request {request_id}"
        answer = await self._send("GET", f"{self.base_url}/v2/requests/{quote(request_id)}", what)
        data = answers.json_object(answer, what)
        state = self._state(data.get("status"), what)
        output = data.get("output")
        url, inline = None, None
        if isinstance(output, str) and _URL.match(output):
            url = output  # any scheme: download() says why it will not fetch one it refuses
        elif isinstance(output, str) and output:
            try:
                inline = base64.b64decode(output, validate=True)
            except ValueError:
                raise ApiUnreachable(f"{what}: the output is neither a URL nor base64", maybe_sent=False) from None
        if state is JobState.COMPLETED and url is None and inline is None:
            raise ApiUnreachable(f"{what}: COMPLETED without an output", maybe_sent=False)
        cost, error = answers.number(data.get("cost")), self._text(data.get("error"))
        return JobResult(
            request_id,
            state,
            url,
            inline,
            cost,
            error,
            answers.failure_reason_of(state.value, error),
            answers.latency_of(data.get("metrics")),
        )

    async def download(self, url: str, write: Callable[[bytes], None], *, max_bytes: int) -> int:
        """Stream `url` into `write`, chunk by chunk, without the key; never holds the whole video.

        A body shorter than its Content-Length, longer than `max_bytes`, or slower than the rate
        floor is an error: the caller discards what it wrote, so a partial download never becomes
        an object. Asks for the bytes as stored (identity), and decodes a host that compresses anyway.
        """
        what = "download of the output"
        for _ in range(MAX_REDIRECTS + 1):
            if (problem := output_url_problem(url, plain_http_ok=self._plain_http_ok)) is not None:
                raise ApiUnsafeUrl(f"{what}: the API's URL {self._redact(shown_url(url))} was not fetched: {problem}")
            if self._abandoned:
                raise ApiUnreachable(f"{what}: abandoned, the run is stopping", maybe_sent=False)
            try:
                async with asyncio.timeout(self._floor.window_s) as deadline:
                    self._downloads.add(deadline)
                    try:
                        request = self._http.build_request("GET", url, headers={"accept-encoding": "identity"})
                        async with _streamed(self._http, request) as response:
                            if response.is_redirect:
                                url = str(request.url.join(response.headers["location"]))
                                continue
                            if response.status_code >= 400:
                                body = await _read_capped(response, what, self._max_json_bytes)
                                raise error_for_status(response.status_code, self._message(body), what=what)
                            size = await self._read_video(response, write, max_bytes, deadline, what)
                    finally:
                        self._downloads.discard(deadline)
            except TimeoutError:
                if self._abandoned:
                    raise ApiUnreachable(f"{what}: abandoned, the run is stopping", maybe_sent=False) from None
                raise ApiUnreachable(
                    f"{what}: slower than {self._floor.describe()}; given up (it is fetched again later)",
                    maybe_sent=False,
                ) from None
            except httpx.HTTPError as exc:
                raise self._unreachable(exc, what) from exc
            except _NEVER_SENT as exc:
                raise ApiUnreachable(f"{what}: {_kind(exc)}", maybe_sent=False) from exc
            return size
        raise ApiUnreachable(f"{what}: more than {MAX_REDIRECTS} redirects", maybe_sent=False)

    async def _read_video(
        self,
        response: httpx.Response,
        write: Callable[[bytes], None],
        max_bytes: int,
        deadline: asyncio.Timeout,
        what: str,
    ) -> int:
        """The body into `write`; each `min_bytes` received moves the rate floor's deadline on."""
        loop = asyncio.get_running_loop()
        expected = response.headers.get("content-length")
        # Content-Length counts the bytes as sent; a host that compresses anyway is decoded.
        encoded = response.headers.get("content-encoding", "").lower() not in ("", "identity")
        size, floor_from = 0, 0
        async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise ApiUnreachable(f"{what}: larger than the limit of {max_bytes:,} bytes", maybe_sent=False)
            write(chunk)
            if size - floor_from >= self._floor.min_bytes:
                floor_from = size
                deadline.reschedule(loop.time() + self._floor.window_s)
        received = response.num_bytes_downloaded if encoded else size
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise ApiUnreachable(f"{what}: got {received:,} of {int(expected):,} bytes", maybe_sent=False)
        return size

    # ---- the account's request history

    async def history(self, *, model: str, since: float, until: float) -> list[HistoryRow]:
        """Every history row of `model` between two times (whole days, UTC), newest first.

        At most `max_history_pages` pages: a history claiming more in one window is a server error
        (the caller leaves its doubt unsettled rather than page forever).
        """
        rows: list[HistoryRow] = []
        page = 1
        start = dt.datetime.fromtimestamp(since, tz=dt.UTC).date()
        end = dt.datetime.fromtimestamp(until, tz=dt.UTC).date()
        what = f"request history of {model}"
        while True:
            params = {
                "model_name": model,
                "from_date": start.isoformat(),
                "to_date": end.isoformat(),
                "page": str(page),
                "per_page": str(HISTORY_PAGE_ROWS),
            }
            answer = await self._send(
                "GET", f"{self.history_url}/inference-request/request-history", what, params=params
            )
            data = answers.json_object(answer, what)
            found = data.get("data")
            if not isinstance(found, list):
                raise ApiUnreachable(f"{what}: the answer has no list of rows", maybe_sent=False)
            rows.extend(self._history_row(item) for item in found if isinstance(item, dict))
            pages = data.get("total_pages")
            if not found or not isinstance(pages, int) or page >= pages:
                return rows
            if page >= self._max_history_pages:
                raise ApiServerError(
                    f"{what}: the history claims {pages:,} pages of {HISTORY_PAGE_ROWS} rows for "
                    f"{start.isoformat()}..{end.isoformat()}; not read past page {page}"
                )
            page += 1

    async def history_row(self, request_id: str) -> HistoryRow | None:
        """One request of the account, of any age; None when the history does not know it."""
        what = f"history of request {request_id}"
        try:
            answer = await self._send(
                "GET", f"{self.history_url}/inference-request/request-history/{quote(request_id)}", what
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return self._history_row(answers.json_object(answer, what))

    # ---- uploads

    async def upload(self, data: bytes, media_type: str) -> str:
        """Upload an image for image-to-video; returns the URL to send instead of the file."""
        what = "upload of a local image"
        payload = {"data_urls": [f"data:{media_type};base64,{base64.b64encode(data).decode()}"]}
        answer = await self._send("POST", f"{self.upload_url}/upload-asset", what, content=json.dumps(payload).encode())
        urls = answers.json_object(answer, what).get("file_urls")
        if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
            raise ApiUnreachable(f"{what}: the answer has no file_urls", maybe_sent=True)
        return urls[0]

    # ---- one request, translated

    async def _send(
        self, method: str, url: str, what: str, *, content: bytes | None = None, params: dict[str, str] | None = None
    ) -> answers.Answer:
        """One API request with the key, its redirects followed only within the API's origins."""
        headers = {"x-api-key": self._key, "accept": "application/json", "accept-encoding": "identity"}
        if content is not None:
            headers["content-type"] = "application/json"
        for _ in range(MAX_REDIRECTS + 1):
            try:
                request = self._http.build_request(method, url, headers=headers, content=content, params=params)
                async with _streamed(self._http, request) as response:
                    if response.is_redirect:
                        url = self._redirect(request, response, what)
                        params = None  # the new location carries its own query
                        continue
                    body = await _read_capped(response, what, self._max_json_bytes)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc, what) from exc
            except _NEVER_SENT as exc:
                raise ApiUnreachable(f"{what}: {_kind(exc)}", maybe_sent=False) from exc
            answer = answers.Answer(
                response.status_code, response.headers.get("retry-after"), body, response.headers.get("date")
            )
            self.last_server_date = answers.http_date(answer.date) or self.last_server_date
            # A FAILED job is served as 422 with its error in the body: a result, not a transport error.
            if answer.status == 422 and answers.says_failed(answer):
                return answer
            if answer.status >= 400:
                retry_after = answers.retry_after(answer.retry_after)
                raise error_for_status(answer.status, self._message(answer.body), what=what, retry_after=retry_after)
            return answer
        raise ApiUnreachable(f"{what}: more than {MAX_REDIRECTS} redirects", maybe_sent=True)

    def _redirect(self, request: httpx.Request, response: httpx.Response, what: str) -> str:
        """Where a redirect within the API's origins leads; anything else is not followed."""
        target = str(request.url.join(response.headers["location"]))
        status = response.status_code
        # A redirected request may already have reached the service: for a paid submit, in doubt.
        # Permanent, not ApiUnreachable: asking again is redirected again. A redirected submit may
        # still have reached the API: the engine settles it through the history like any failed submit.
        if url_problem(target) is not None or origin_of(target) not in self._origins:
            shown = self._redact(shown_url(target))
            raise ApiUnsafeUrl(
                f"{what}: HTTP {status} redirect to {shown}, off the API's hosts; not followed "
                "(the key and the request stay with the API)",
                status=status,
            )
        if request.method != "GET" and status not in (307, 308):
            # 301/302/303 would turn a paid POST into a GET of something else: not followed either.
            raise ApiUnsafeUrl(f"{what}: HTTP {status} redirect of a {request.method}; not followed", status=status)
        return target

    # ---- what the server says, redacted where it enters

    def _unreachable(self, exc: httpx.HTTPError, what: str) -> ApiUnreachable:
        # Only a failure before anything was written proves the request never left; anything later
        # may have reached the service (for a paid submit: the job may exist).
        never_sent = isinstance(
            exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
        )
        return ApiUnreachable(f"{what}: {self._redact(_kind(exc))}", maybe_sent=not never_sent)

    def _message(self, body: bytes) -> str | None:
        message = answers.server_message(body)
        return None if message is None else self._redact(message)

    def _text(self, value: Any) -> str | None:
        return self._redact(value) if isinstance(value, str) and value else None

    def _state(self, value: Any, what: str) -> JobState:
        try:
            return JobState(value)
        except ValueError:
            shown = self._redact(repr(value)[:80])
            raise ApiUnreachable(f"{what}: unknown status {shown}", maybe_sent=True) from None

    def _history_row(self, item: dict[str, Any]) -> HistoryRow:
        body = item.get("request_body")
        if isinstance(body, str):
            with contextlib.suppress(ValueError):  # a body kept as text stays text
                body = json.loads(body)
        status, error = str(item.get("model_status") or item.get("status") or ""), self._text(item.get("error"))
        return HistoryRow(
            request_id=str(item.get("request_id") or ""),
            model=str(item.get("model_name") or ""),
            status=status,
            request_body=body,
            generation_url=answers.plain_text(item.get("generation_url")),
            cost_usd=answers.number(item.get("credits_deduction")),
            created_at=answers.plain_text(item.get("created_at") or item.get("model_created")),
            error=error,
            reason=answers.failure_reason_of(status, error),
        )


def _checked_root(url: str, setting: str) -> str:
    root = api_root(url, setting=setting)
    try:
        httpx.URL(root)
    except httpx.InvalidURL as exc:
        raise UsageError(f"{setting} {root!r} is not a usable URL: {exc}") from None
    return root


@contextlib.asynccontextmanager
async def _streamed(http: httpx.AsyncClient, request: httpx.Request) -> AsyncIterator[httpx.Response]:
    response = await http.send(request, stream=True)
    try:
        yield response
    finally:
        await response.aclose()


async def _read_capped(response: httpx.Response, what: str, limit: int) -> bytes:
    """The whole body, or ApiServerError past `limit` bytes (decoded): no answer of the API is that big."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ApiServerError(
                f"{what}: the answer (HTTP {response.status_code}) is larger than {limit:,} bytes; not read further",
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _kind(exc: BaseException) -> str:
    kind = type(exc).__name__
    detail = str(exc)
    return f"{detail} ({kind})" if detail else kind

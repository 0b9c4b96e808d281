"""Small hostile hosts for the client's boundary (and a bucket listing forever), served on loopback in a thread.

    with serve(FileHost(fake.url).app(), host="127.0.0.2") as url:    # a file host that logs headers
        fake.configure(public_url=url)                                # the fake hands out its URLs

Each host keeps what it received (`seen`) so a test judges from the host's own records, never
from the client under test.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from mockserver.serving import in_thread


@dataclass(frozen=True)
class Seen:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Log:
    seen: list[Seen] = field(default_factory=list)

    async def record(self, request: Request) -> Seen:
        entry = Seen(request.method, str(request.url), dict(request.headers), await request.body())
        self.seen.append(entry)
        return entry

    def with_header(self, name: str) -> list[Seen]:
        return [s for s in self.seen if name in s.headers]


@contextmanager
def serve(app: Starlette, *, host: str = "127.0.0.1") -> Iterator[str]:
    with in_thread(app, host=host) as url:
        yield url


def _any_path(endpoint: Any) -> list[Route]:
    methods = ["GET", "POST", "PUT", "HEAD"]
    return [Route("/", endpoint, methods=methods), Route("/{path:path}", endpoint, methods=methods)]


@dataclass
class FileHost(Log):
    """Serves the fake's `/files/` (fetched from `origin`) as a storage host would, in a chosen manner.

    mode: "plain"; "gzip" (compressed whenever the client accepts gzip); "gzip-always" (compressed
    whatever it asked); "trickle" (the headers, then a byte every `trickle_s`, never the rest).
    """

    origin: str = ""
    mode: str = "plain"
    trickle_s: float = 1.0

    def app(self) -> Starlette:
        async def files(request: Request) -> Response:
            await self.record(request)
            async with httpx.AsyncClient() as http:
                upstream = await http.get(f"{self.origin}{request.url.path}")
            if upstream.status_code != 200:
                return Response(upstream.content, status_code=upstream.status_code)
            data = upstream.content
            accepts = request.headers.get("accept-encoding", "")
            if self.mode == "gzip-always" or (self.mode == "gzip" and "gzip" in accepts):
                packed = gzip.compress(data)
                headers = {"content-encoding": "gzip", "content-length": str(len(packed))}
                return Response(packed, media_type="video/mp4", headers=headers)
            if self.mode == "trickle":
                return StreamingResponse(
                    self._trickle(data), media_type="video/mp4", headers={"content-length": str(len(data))}
                )
            return Response(data, media_type="video/mp4")

        return Starlette(routes=[Route("/files/{name}", files)])

    async def _trickle(self, data: bytes) -> AsyncIterator[bytes]:
        for index in range(len(data)):
            yield data[index : index + 1]
            await asyncio.sleep(self.trickle_s)


@dataclass
class Logger(Log):
    """Takes anything, keeps it, answers 200 with a plausible submit answer."""

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            await self.record(request)
            return JSONResponse({"request_id": "stolen", "status": "QUEUED"})

        return Starlette(routes=_any_path(anything))


@dataclass
class Redirector(Log):
    """Redirects every request (307: method and body kept) to the same path on `target`."""

    target: str = ""
    status: int = 307

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            await self.record(request)
            return RedirectResponse(f"{self.target}{request.url.path}", status_code=self.status)

        return Starlette(routes=_any_path(anything))


@dataclass
class Echo(Log):
    """An API whose errors echo the request's headers, as a debugging proxy might."""

    def app(self) -> Starlette:
        async def anything(request: Request) -> Response:
            await self.record(request)
            said = f"bad request; you sent headers {dict(request.headers)} and {json.dumps(dict(request.headers))}"
            return JSONResponse({"error": said}, status_code=400)

        return Starlette(routes=_any_path(anything))


@dataclass
class Flood(Log):
    """Submits are accepted; a status is JSON that never ends; the history claims 10^9 pages."""

    def app(self) -> Starlette:
        async def submit(request: Request) -> Response:
            await self.record(request)
            return JSONResponse({"request_id": "r1", "status": "QUEUED"})

        async def status(request: Request) -> Response:
            await self.record(request)

            async def forever() -> AsyncIterator[bytes]:
                # "Forever" to the client: 2 GiB, past any memory limit of the tests' runs. It stops when
                # the client hangs up, so the server thread never outlives its test streaming to no one.
                yield b'{"status": "QUEUED", "padding": "'
                chunk = b"x" * (1 << 16)
                for sent in range(1 << 15):
                    if sent % 16 == 0 and await request.is_disconnected():
                        return
                    yield chunk

            return StreamingResponse(forever(), media_type="application/json")

        async def history(request: Request) -> Response:
            await self.record(request)
            page = int(request.query_params.get("page", "1"))
            row = {"request_id": f"old-{page}", "model_name": "wan-2.2-t2v-fast", "model_status": "COMPLETED"}
            return JSONResponse({"data": [row], "page": page, "per_page": 1, "total_pages": 10**9})

        return Starlette(
            routes=[
                Route("/v2/requests/{id}/status", status),
                Route("/v2/{model}", submit, methods=["POST"]),
                Route("/inference-request/request-history", history),
            ]
        )


@dataclass
class EndlessBucket(Log):
    """An "S3-compatible" service whose every ListObjectsV2 page (of `per_page` objects) says there is more.

    token: "fresh" hands a new continuation token each page (a listing that never ends); "same" the
    same token every time (a listing that goes round in a circle); "none" none at all; "long" a new
    token of 20,000 characters each page.
    """

    token: str = "fresh"
    per_page: int = 1

    def app(self) -> Starlette:
        async def listing(request: Request) -> Response:
            await self.record(request)
            page = len(self.seen)  # counted right after this request's entry: unique even when listings overlap
            following = {
                "fresh": f"page-{page + 1}",
                "same": "the-same-token",
                "none": "",
                "long": f"{page:x}" * 20_000,
            }[self.token]
            following = following[:20_000]
            objects = "".join(
                f"<Contents><Key>team/outputs/sha256/page-{page}-{n}</Key><Size>5</Size><ETag>&quot;e&quot;</ETag>"
                "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
                for n in range(self.per_page)
            )
            more = f"<NextContinuationToken>{following}</NextContinuationToken>" if following else ""
            return Response(
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>endless</Name>'
                f"<MaxKeys>1000</MaxKeys><KeyCount>{self.per_page}</KeyCount><IsTruncated>true</IsTruncated>"
                f"{objects}{more}</ListBucketResult>",
                media_type="application/xml",
            )

        return Starlette(routes=_any_path(listing))

"""The gateway every public request passes: journal, API key, rate limit, then seeded faults.

Order matters and mirrors a real API gateway: a request without a valid key is refused before
anything else (so every route is 401 without one, whatever exists behind it), a limited key is
refused next, and only then may a scheduled fault strike. A fault on a submit strikes either
before the job is created (the handler never runs) or after (the handler ran, the job exists, and
the client gets the fault instead of the answer).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mockserver.config import FaultKind, Phase, Route
from mockserver.faults import (
    ERROR_KINDS,
    Dropped,
    Fault,
    Truncated,
    error_response,
    garbage_response,
)
from mockserver.journal import Entry
from mockserver.state import MockState

API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Call:
    """One public request, as the handlers see it once the gateway let it through."""

    request: Request
    api_key: str  # "" on routes that need no key
    body: Any  # the parsed JSON body, or None
    body_problem: str | None  # why there is no JSON body: "empty", "not valid JSON"; None when parsed
    now: float
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@dataclass(frozen=True)
class Reply:
    """A handler's answer and the job it concerns."""

    response: Response
    request_id: str | None = None
    created: bool = False


Handler = Callable[[Call], Awaitable[Reply]]
ModelOf = Callable[[Request], str | None]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _parse(raw: bytes) -> tuple[Any, str | None]:
    if not raw:
        return None, "the body is empty"
    try:
        return json.loads(raw), None
    except ValueError:
        return None, "the body is not valid JSON"


def _authenticate(state: MockState, request: Request) -> str | Response:
    key = request.headers.get(API_KEY_HEADER)
    if not key:
        hint = ""
        if request.headers.get("authorization", "").lower().startswith("bearer"):
            hint = " (an Authorization: Bearer header is not read)"
        return error(401, f"Missing API key: send it in the x-api-key header{hint}.")
    if key not in state.config.keys:
        return error(401, "Invalid API key: it is not known to this server.")
    return key


def guarded(
    state: MockState, route: Route, handler: Handler, *, keyed: bool = True, model_of: ModelOf | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running `handler` behind the gateway."""
    creates = route in (Route.SUBMIT, Route.SYNC)

    async def endpoint(request: Request) -> Response:
        now = state.clock.now()
        ticket = state.journal.ticket()
        body, body_problem = _parse(await request.body())
        config = state.config
        fault: Fault | None = None
        reply: Reply
        key = _authenticate(state, request) if keyed else ""
        if isinstance(key, Response):
            reply = Reply(key)
        elif keyed and (wait := state.limiter.take(key, limit=config.rate_limit, now=now)) is not None:
            message = f"Too many requests: the rate limit of this key is exhausted; retry after {wait} s."
            reply = Reply(error(429, message, {"Retry-After": str(wait)}))
        else:
            base = (config.public_url or str(request.base_url)).rstrip("/")
            call = Call(request, key, body, body_problem, now, base)
            model = model_of(request) if model_of is not None else None
            fault = state.faults.decide(config.faults, route, model, creates=creates)
            reply = await _serve(state, handler, call, fault, creates=creates)
        state.journal.record(
            ticket,
            Entry(
                at=now,
                method=request.method,
                path=request.url.path,
                status=reply.response.status_code,
                created_job=reply.created,
                request_id=reply.request_id,
                body=body,
                fault=None if fault is None else fault.to_json(),
            ),
        )
        return reply.response

    return endpoint


async def _serve(state: MockState, handler: Handler, call: Call, fault: Fault | None, *, creates: bool) -> Reply:
    if fault is None:
        return await handler(call)
    after = fault.phase is Phase.AFTER
    if fault.kind is FaultKind.LATENCY:
        # Network latency is wall-clock time even when the server's clock is virtual.
        if not after:
            await asyncio.sleep(fault.latency_s)
        reply = await handler(call)
        if after:
            await asyncio.sleep(fault.latency_s)
        return reply
    if fault.kind in ERROR_KINDS and not after:
        return Reply(error_response(fault))
    if creates and not after:
        # Before creation the handler never runs, so nothing happened on the server; what the
        # client receives (cut, mangled) is a gateway error, not an acceptance.
        reply = Reply(error(502, "Bad gateway: the service is temporarily unavailable (simulated fault)."))
    else:
        reply = await handler(call)
    return Reply(_disturb(state, fault, reply.response), reply.request_id, reply.created)


def _disturb(state: MockState, fault: Fault, response: Response) -> Response:
    if fault.kind in ERROR_KINDS:
        return error_response(fault)
    if fault.kind is FaultKind.DROP:
        return Dropped(response)
    if fault.kind is FaultKind.TRUNCATE:
        return Truncated(response)
    state.garbage_served += 1
    return garbage_response(state.config.seed, state.garbage_served)

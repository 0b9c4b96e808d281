"""Seeded faults: which request meets which fault, and what that fault does to the response.

The schedule is deterministic: the n-th request matching rule i meets the fault drawn from
`Random(f"{seed}/{i}/{n}")` (or the n-th entry of the rule's script), so the same seed and the same
traffic give the same faults. Sending fault rules (`PUT /_mock/config` with `faults`) starts their counts afresh.

On the wire a dropped connection sends the status line and headers, then closes before the body:
over a socket an httpx client sees `RemoteProtocolError`; in process (httpx.ASGITransport) the
app raises `ConnectionDropped`, a subclass of it, so a client cannot tell the two apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from mockserver.config import FaultKind, FaultRule, Phase, Route


class ConnectionDropped(httpx.RemoteProtocolError):
    """The fake cut the connection on purpose (a `drop` fault)."""


@dataclass(frozen=True)
class Fault:
    """One fault that struck one request."""

    kind: FaultKind
    phase: Phase | None  # only for submits; None elsewhere
    latency_s: float
    retry_after_s: int

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "phase": None if self.phase is None else self.phase.value}


_MESSAGES = {
    FaultKind.RATE_LIMITED: (429, "Too many requests: rate limit exceeded (simulated fault)."),
    FaultKind.SERVER_ERROR: (500, "Internal server error (simulated fault)."),
    FaultKind.BAD_GATEWAY: (502, "Bad gateway: the service is temporarily unavailable (simulated fault)."),
    FaultKind.GATEWAY_TIMEOUT: (504, "Gateway timeout: the request timed out (simulated fault)."),
}
ERROR_KINDS = frozenset(_MESSAGES)


class FaultSchedule:
    """Counts matching requests per rule and draws each one's fate from the seed."""

    def __init__(self, *, seed: int) -> None:
        self._seed = seed
        self._counts: dict[tuple[int, str], int] = {}

    def reset(self, *, seed: int) -> None:
        self._seed = seed
        self._counts.clear()

    def decide(self, rules: list[FaultRule], route: Route, model: str | None, *, creates: bool) -> Fault | None:
        for index, rule in enumerate(rules):
            if rule.route not in (Route.ANY, route) or rule.model not in (None, model):
                continue
            slot = (index, rule.model_dump_json())
            count = self._counts.get(slot, 0)
            self._counts[slot] = count + 1
            kind = self._draw(rule, index, count)
            if kind is not None:
                phase = self._phase(rule, index, count) if creates else None
                return Fault(kind, phase, rule.latency_s, rule.retry_after_s)
        return None

    def _phase(self, rule: FaultRule, index: int, count: int) -> Phase:
        if rule.phase is not Phase.EITHER:
            return rule.phase
        return Phase.AFTER if random.Random(f"{self._seed}/{index}/{count}/phase").random() < 0.5 else Phase.BEFORE

    def _draw(self, rule: FaultRule, index: int, count: int) -> FaultKind | None:
        if rule.script is not None:
            return rule.script[count] if count < len(rule.script) else None
        roll = random.Random(f"{self._seed}/{index}/{count}").random()
        total = 0.0
        for kind, probability in sorted(rule.probabilities.items(), key=lambda item: item[0].value):
            total += probability
            if roll < total:
                return kind
        return None


def error_response(fault: Fault) -> Response:
    status, message = _MESSAGES[fault.kind]
    headers = {"Retry-After": str(fault.retry_after_s)} if status == 429 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def garbage_response(seed: int, count: int) -> Response:
    noise = random.Random(f"{seed}/garbage/{count}").randbytes(64)
    return Response(b"<html>\x00" + noise, status_code=200, media_type="application/json")


class Truncated(Response):
    """The inner response with only the first half of its body (and a Content-Length that says so)."""

    def __init__(self, inner: Response) -> None:
        super().__init__(status_code=inner.status_code)
        self._inner = inner
        self._keep = int(inner.headers.get("content-length", "0")) // 2

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0
        done = False

        async def cut(message: Message) -> None:
            nonlocal sent, done
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(self._keep).encode()))
                await send({**message, "headers": headers})
            elif message["type"] == "http.response.body" and not done:
                body: bytes = message.get("body", b"")[: self._keep - sent]
                sent += len(body)
                done = sent >= self._keep or not message.get("more_body", False)
                await send({"type": "http.response.body", "body": body, "more_body": not done})

        await self._inner(scope, receive, cut)


class Dropped(Response):
    """The inner response's status line and headers, then a closed connection."""

    def __init__(self, inner: Response) -> None:
        super().__init__(status_code=inner.status_code)
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cut(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": True})
                raise ConnectionDropped("the server closed the connection before sending the body")

        await self._inner(scope, receive, cut)

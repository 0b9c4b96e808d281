"""The control surface under `/_mock/`: only on the fake, no API key, never journaled.

GET  /_mock/journal   {"entries": [...], "dropped": n}  every public request, oldest first
GET  /_mock/jobs      {"jobs": [...]}                    every job with its state now
GET  /_mock/clock     {"now": t, "mode": m}
POST /_mock/clock     {"advance": s} and/or {"mode": "virtual" | "real"}
GET  /_mock/config    the whole configuration
PUT  /_mock/config    a partial configuration, deep-merged; answers the whole
GET  /_mock/credits   {"balances": {key: usd}}
POST /_mock/credits   {"api_key": k, "amount": usd}: a top-up
POST /_mock/reset     forget every job, journal entry, balance change and upload
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mockserver.config import ClockMode
from mockserver.history import iso
from mockserver.jobs import Job
from mockserver.state import MockState

MAX_ADVANCE_S = 10 * 366 * 86400.0  # ten years a step: far enough for any test, short of overflow
LAST_MOMENT = 32_503_680_000.0  # 3000-01-01T00:00:00Z


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _object(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _bad("The body must be a JSON object.")
    return body if isinstance(body, dict) else _bad("The body must be a JSON object.")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class Control:
    """Handlers of the `/_mock/` routes."""

    def __init__(self, *, state: MockState) -> None:
        self.state = state

    async def journal(self, request: Request) -> Response:
        journal = self.state.journal
        return JSONResponse({"entries": [e.to_json() for e in journal.entries()], "dropped": journal.dropped})

    def _job(self, job: Job) -> dict[str, Any]:
        now = self.state.clock.now()
        return {
            "id": job.id,
            "model": job.model,
            "state": job.state_at(now).value,
            "key": job.digest,
            "api_key": job.api_key,
            "api": job.api.value,
            "outcome": job.outcome.value,
            "error": job.error,
            "blocked_term": job.blocked_term,
            "cost_usd": job.cost_usd,
            "seed": job.seed,
            "submitted_at": job.submitted_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "expires_at": job.expires_at(self.state.config.retention_s),
            "submitted": iso(job.submitted_at),
        }

    async def jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": [self._job(job) for job in self.state.jobs]})

    def _clock(self) -> JSONResponse:
        clock = self.state.clock
        return JSONResponse({"now": clock.now(), "mode": clock.mode.value})

    async def get_clock(self, request: Request) -> Response:
        return self._clock()

    async def set_clock(self, request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, JSONResponse):
            return body
        unknown = set(body) - {"advance", "mode"}
        if unknown:
            return _bad(f"Unknown field(s) {', '.join(sorted(unknown))}: expected advance and/or mode.")
        mode = None
        if "mode" in body:
            try:
                mode = ClockMode(body["mode"])
            except ValueError:
                return _bad('mode: must be "virtual" or "real".')
        advance = _number(body.get("advance", 0))
        if advance is None or not 0 <= advance <= MAX_ADVANCE_S:
            return _bad(f"advance: must be a number of seconds from 0 to {MAX_ADVANCE_S:.0f}.")
        if self.state.clock.now() + advance >= LAST_MOMENT:
            # Dates past year 9999 have no calendar form (history rows, timestamps).
            return _bad("advance: the clock cannot go past the year 3000.")
        if mode is not None:
            self.state.clock.set_mode(mode)
        self.state.clock.advance(advance)
        return self._clock()

    async def get_config(self, request: Request) -> Response:
        return JSONResponse(self.state.config.to_json())

    async def put_config(self, request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            config = self.state.config.merged(body)
        except ValidationError as exc:
            problems = "; ".join(
                ".".join(str(p) for p in e["loc"]) + ": " + e["msg"] if e["loc"] else e["msg"] for e in exc.errors()
            )
            return _bad(f"Invalid configuration: {problems}.")
        # Sending fault rules arms them afresh, even the same script a second time.
        self.state.reconfigure(config, rearm="faults" in body)
        return JSONResponse(config.to_json())

    async def credits(self, request: Request) -> Response:
        return JSONResponse({"balances": {key: self.state.balance(key) for key in self.state.config.keys}})

    async def top_up(self, request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, JSONResponse):
            return body
        key, amount = body.get("api_key"), _number(body.get("amount"))
        if amount is None or amount <= 0:
            return _bad("amount: must be a positive number of USD.")
        if key not in self.state.config.keys:
            return JSONResponse({"error": f"api_key: {key!r} is not a configured key."}, status_code=404)
        self.state.ledger.top_up(key, amount)
        return JSONResponse({"api_key": key, "balance": self.state.balance(key)})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

"""The `Date` header of every answer, read from the fake's own clock, as a real server stamps its own.

A client that measures how far the API's clock is from its own (to read the request history's
timestamps) must see the clock the jobs are timed by; uvicorn's own Date header (the wall clock)
is turned off where the fake is served.
"""

from __future__ import annotations

import email.utils

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.clock import Clock


class ServerDate:
    """ASGI middleware: sets `date` on every HTTP answer from `clock`."""

    def __init__(self, app: ASGIApp, *, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = email.utils.formatdate(self.clock.now(), usegmt=True).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, stamped)

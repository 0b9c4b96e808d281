"""The client against the bundled fake: in-process (ASGI) on a virtual clock, or on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.clock import RealClock, VirtualClock
from mockserver.config import MockConfig
from mockserver.serving import in_thread
from reconciler.api.client import SegmindApi

BASE = "https://mock.test"  # an API that is not a loopback fake: its outputs must be https


@dataclass
class World:
    """The fake (its control surface as a plain httpx client) and our client of it."""

    api: SegmindApi
    control: httpx.AsyncClient
    clock: VirtualClock

    async def configure(self, patch: dict[str, Any]) -> None:
        response = await self.control.put("/_mock/config", json=patch)
        assert response.status_code == 200, response.text

    async def advance(self, seconds: float) -> None:
        await self.control.post("/_mock/clock", json={"advance": seconds})

    async def jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = (await self.control.get("/_mock/jobs")).json()["jobs"]
        return jobs


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = VirtualClock()
    app = create_app(MockConfig(), clock)
    transport = httpx.ASGITransport(app=app)
    api = SegmindApi(api_key="mock-key", base_url=BASE, history_url=BASE, upload_url=BASE, transport=transport)
    control = httpx.AsyncClient(transport=transport, base_url=BASE)
    yield World(api, control, clock)
    await api.aclose()
    await control.aclose()


@pytest.fixture
def live() -> Iterator[str]:
    """The fake on a real loopback socket, on the wall clock (for faults only a socket can show)."""
    with in_thread(create_app(MockConfig(time_scale=0.001), RealClock())) as url:
        yield url

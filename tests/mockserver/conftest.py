"""Fixtures for the fake server's tests: an in-process fake on a virtual clock, and the seed payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.clock import RealClock, VirtualClock
from mockserver.config import MockConfig
from mockserver.serving import in_thread

KEY = {"x-api-key": "mock-key"}

# The five payloads exactly as the seed pages' examples send them.
SEED_PAYLOADS: dict[str, dict[str, Any]] = {
    "wan2.1-t2v": {
        "prompt": "A smiling woman walking in London at night",
        "negative_prompt": "blurry, bad quality, camera shake, distortion, poor composition, low resolution, "
        "artifact, watermark",
        "seed": 9604478,
        "video_length": 3,
        "base_model": "14b",
        "aspect_ratio": "16:9",
        "steps": 30,
        "base64": False,
    },
    "wan2.7-t2v": {
        "prompt": "A majestic golden eagle soaring over snow-capped mountain peaks at sunrise, cinematic wide "
        "angle shot, dramatic lighting, ultra HD, slow motion",
        "negative_prompt": "blurry, low quality, distorted, watermark",
        "resolution": "720P",
        "duration": 5,
        "ratio": "16:9",
        "seed": 42,
    },
    "wan-2.5-t2v": {
        "seed": 42,
        "size": "1280*720",
        "prompt": "A vibrant young woman in her early 20s rushes toward the camera in Shibuya Crossing at night.",
        "duration": "5",
        "negative_prompt": "No rainy scenes.",
        "enable_prompt_expansion": True,
    },
    "wan2.1-i2v-480p": {
        "prompt": "A shady looking man in a trench coat glances nervously from side to side.",
        "negative_prompt": "blurry, bad quality, camera shake, distortion, poor composition, low resolution, "
        "artifact, watermark",
        "image": "https://segmind-resources.s3.amazonaws.com/input/e654c0e4-f048-4450-b289-e37280210c3e-wan-480-ip.png",
        "seed": 30887452,
        "video_length": 3,
        "resolution": "480",
        "steps": 30,
        "base64": False,
    },
    "wan-2.2-t2v-fast": {
        "prompt": "A sophisticated Korean teacher in her early 30s stands at the front of the room.",
        "go_fast": True,
        "num_frames": 81,
        "resolution": "480p",
        "aspect_ratio": "16:9",
        "sample_shift": 12,
        "frames_per_second": 16,
        "high_noise_lora_scale": 1,
        "low_noise_lora_scale": 1,
    },
}


@dataclass
class Fake:
    """One in-process fake, its virtual clock, and an httpx client speaking to it."""

    clock: VirtualClock
    http: httpx.AsyncClient
    app: Any = None  # the Starlette app, for the few tests that read the fake's own state

    async def submit(self, slug: str, body: dict[str, Any], *, key: str = "mock-key") -> httpx.Response:
        return await self.http.post(f"/v2/{slug}", json=body, headers={"x-api-key": key})

    async def submit_ok(self, slug: str, body: dict[str, Any]) -> str:
        response = await self.submit(slug, body)
        assert response.status_code == 200, response.text
        job_id: str = response.json()["request_id"]
        return job_id

    async def status(self, job_id: str, *, key: str = "mock-key") -> httpx.Response:
        return await self.http.get(f"/v2/requests/{job_id}/status", headers={"x-api-key": key})

    async def result(self, job_id: str, *, key: str = "mock-key") -> httpx.Response:
        return await self.http.get(f"/v2/requests/{job_id}", headers={"x-api-key": key})

    async def advance(self, seconds: float) -> None:
        response = await self.http.post("/_mock/clock", json={"advance": seconds})
        assert response.status_code == 200

    async def configure(self, patch: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.put("/_mock/config", json=patch)
        assert response.status_code == 200, response.text
        config: dict[str, Any] = response.json()
        return config

    async def jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = (await self.http.get("/_mock/jobs")).json()["jobs"]
        return jobs

    async def journal(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.http.get("/_mock/journal")).json()["entries"]
        return entries

    async def balance(self, key: str = "mock-key") -> float:
        balance: float = (await self.http.get("/_mock/credits")).json()["balances"][key]
        return balance

    async def finish(self, job_id: str) -> dict[str, Any]:
        """Advance the clock past the job's finish and return its final result body."""
        job = next(j for j in await self.jobs() if j["id"] == job_id)
        await self.advance(max(0.0, job["finished_at"] - self.clock.now()) + 0.001)
        body: dict[str, Any] = (await self.result(job_id)).json()
        return body


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def seed_payloads() -> dict[str, dict[str, Any]]:
    """The five seed pages' example payloads, by model slug (copies: tests may change them)."""
    return {slug: dict(body) for slug, body in SEED_PAYLOADS.items()}


@pytest.fixture
async def make_fake() -> AsyncIterator[Callable[..., Any]]:
    """A factory of fakes: `await make_fake(time_scale=0.01, ...)` with MockConfig fields."""
    clients: list[httpx.AsyncClient] = []

    async def _make(**fields: Any) -> Fake:
        clock = VirtualClock()
        app = create_app(MockConfig.model_validate(fields), clock)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")
        clients.append(http)
        return Fake(clock, http, app)

    yield _make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def fake(make_fake: Callable[..., Any]) -> Fake:
    made: Fake = await make_fake()
    return made


@dataclass
class Live:
    """A fake served by uvicorn on a real loopback socket, on the wall clock."""

    url: str


@pytest.fixture
def live_server() -> Iterator[Callable[..., Live]]:
    """A factory of fakes on real sockets: `live_server(time_scale=0.002, ...)` with MockConfig fields."""
    with ExitStack() as stack:

        def _start(**fields: Any) -> Live:
            app = create_app(MockConfig.model_validate(fields), RealClock())
            return Live(stack.enter_context(in_thread(app)))

        yield _start

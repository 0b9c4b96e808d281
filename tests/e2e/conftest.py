"""A real fake server on a real socket, and `reconciler apply` pointed at it through its environment.

    def test_x(fake, apply, write):
        write("specs/a.yaml", ...)
        run = apply("--yes")                  # the real CLI, in this process, over HTTP
        assert fake.submits() == 1            # from the fake's journal

The fake runs on the wall clock at a fast time scale; `fake.advance(s)` jumps its clock (to expire
results). The reconciler is told the same scale, so it polls at the right moments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.clock import RealClock
from mockserver.config import MockConfig
from mockserver.serving import in_thread

TIME_SCALE = 0.004  # a 100 s model takes 0.4 s
KEY = "mock-key"


class Fake:
    """A running fake and its control surface."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def journal(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_mock/journal").json()["entries"])

    def submits(self) -> list[dict[str, Any]]:
        """Every submit that created a job (what the account paid for)."""
        return [
            e for e in self.journal() if e["method"] == "POST" and e["path"].startswith("/v2/") and e["created_job"]
        ]

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_mock/jobs").json()["jobs"])

    def configure(self, **patch: Any) -> dict[str, Any]:
        response = self.http.put("/_mock/config", json=patch)
        response.raise_for_status()
        return dict(response.json())

    def advance(self, seconds: float) -> None:
        self.http.post("/_mock/clock", json={"advance": seconds}).raise_for_status()

    def env(self, key: str = KEY) -> dict[str, str]:
        return {
            "SEGMIND_API_KEY": key,
            "SEGMIND_BASE_URL": self.url,
            "SEGMIND_HISTORY_URL": self.url,
            "SEGMIND_UPLOAD_URL": self.url,
            "RECONCILER_LATENCY_SCALE": str(TIME_SCALE),
        }


@pytest.fixture
def fake() -> Iterator[Fake]:
    config = MockConfig(time_scale=TIME_SCALE, keys={KEY: 1000.0, "poor-key": 0.05})
    with in_thread(create_app(config, RealClock())) as url:
        served = Fake(url)
        try:
            yield served
        finally:
            served.http.close()


@pytest.fixture
def apply(fake: Fake, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`reconciler apply ARGS` in-process against the fake (same options as a user's)."""
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)

    def _apply(*args: str) -> Any:
        return cli("apply", *args)

    return _apply


def spec(name: str, prompt: str, *, model: str = "wan-2.2-t2v-fast", seed: int = 1, **params: Any) -> str:
    """One YAML spec entry (under `videos:`)."""
    lines = [f"  {name}:", f"    model: {model}", f"    prompt: {prompt}", f"    seed: {seed}"]
    lines += [f"    {key}: {value}" for key, value in params.items()]
    return "\n".join(lines) + "\n"


def specs_file(*entries: str) -> str:
    return "videos:\n" + "".join(entries)

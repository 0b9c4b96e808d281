"""A real fake server on a real socket, and `reconciler apply` pointed at it through its environment.

    def test_x(fake, apply, write):
        write("specs/a.yaml", ...)
        run = apply("--yes")                  # the real CLI, in this process, over HTTP
        assert fake.submits() == 1            # from the fake's journal

    def test_y(fake, write, processes):
        run = finished(processes.apply(scale=0.02))   # `python -m reconciler apply --yes`, a real process

The fake runs on the wall clock at a fast time scale; `fake.advance(s)` jumps its clock (to expire
results). The reconciler is told the same scale, so it polls at the right moments.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.clock import RealClock
from mockserver.config import MockConfig
from mockserver.serving import in_thread
from tests.conftest import Run

TIME_SCALE = 0.004  # a 100 s model takes 0.4 s
KEY = "mock-key"
PATIENCE_S = 60.0  # for anything a loaded machine may make slow; a healthy run takes a few seconds


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


@contextmanager
def serving_fake() -> Iterator[Fake]:
    """A fresh fake on a free loopback port, for as long as the block runs."""
    config = MockConfig(time_scale=TIME_SCALE, keys={KEY: 1000.0, "poor-key": 0.05})
    with in_thread(create_app(config, RealClock())) as url:
        served = Fake(url)
        try:
            yield served
        finally:
            served.http.close()


@pytest.fixture
def fake() -> Iterator[Fake]:
    with serving_fake() as served:
        yield served


@pytest.fixture
def apply(fake: Fake, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`reconciler apply ARGS` in-process against the fake (same options as a user's)."""
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)

    def _apply(*args: str) -> Any:
        return cli("apply", *args)

    return _apply


class Processes:
    """Starts applies as real processes; none outlives its test."""

    def __init__(self, project: Path, fake: Fake) -> None:
        self.project = project
        self.fake = fake
        self.started: list[subprocess.Popen[str]] = []

    def apply(self, *args: str, scale: float) -> subprocess.Popen[str]:
        """`reconciler apply --yes ARGS`, expecting jobs at `scale` times the catalog's latency (as the fake runs)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--yes", *args],
            cwd=self.project,
            env={**os.environ, **self.fake.env(), "RECONCILER_LATENCY_SCALE": str(scale)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[str]) -> None:
        process.kill()
        process.communicate(timeout=PATIENCE_S)

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=PATIENCE_S)


@pytest.fixture
def processes(project: Path, fake: Fake) -> Iterator[Processes]:
    started = Processes(project, fake)
    try:
        yield started
    finally:
        started.close()


def finished(process: subprocess.Popen[str], *, patience_s: float = PATIENCE_S) -> Run:
    out, err = process.communicate(timeout=patience_s)
    return Run(process.returncode, out, err)


def spec(name: str, prompt: str, *, model: str = "wan-2.2-t2v-fast", seed: int = 1, **params: Any) -> str:
    """One YAML spec entry (under `videos:`)."""
    lines = [f"  {name}:", f"    model: {model}", f"    prompt: {prompt}", f"    seed: {seed}"]
    lines += [f"    {key}: {value}" for key, value in params.items()]
    return "\n".join(lines) + "\n"


def specs_file(*entries: str) -> str:
    return "videos:\n" + "".join(entries)


def stored_request_ids(project: Path, *, by: str = "key") -> dict[str, str]:
    """Request id of every output in the project's store, by key (or by "name_hint"), read-only."""
    uri = (project / ".reconciler" / "state.sqlite").as_uri() + "?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        column = {"key": "key", "name_hint": "name_hint"}[by]
        return dict(db.execute(f"SELECT {column}, request_id FROM outputs"))
    finally:
        db.close()

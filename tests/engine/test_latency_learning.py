"""Polling learns each model's latency on the backend: from the server's clock, else from its own looks.

Every verdict comes from the fake's own records (its jobs' submit and finish times) and the requests
the client sent, on one simulated clock; nothing here asks the estimator what it thinks.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from mockserver.config import MockConfig
from reconciler import catalog
from reconciler.engine.events import Phase
from tests.engine.simulation import Simulation

MODEL = "wan-2.2-t2v-fast"
CATALOG_S = catalog.BY_SLUG[MODEL].avg_latency_s


def specs(count: int, batch: str) -> str:
    return "videos:\n" + "".join(
        f"  {batch}{i}:\n    model: {MODEL}\n    prompt: {batch} scene {i}\n    seed: {i}\n" for i in range(count)
    )


def fake_jobs(sim: Simulation) -> dict[str, dict[str, Any]]:
    async def get() -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://fake") as http:
            return {job["id"]: job for job in (await http.get("/_mock/jobs")).json()["jobs"]}

    return asyncio.run(get())


class Looks:
    """What the client sent for each job, read from its requests and the fake's job records."""

    def __init__(self, sim: Simulation) -> None:
        self.jobs = fake_jobs(sim)
        self.polls: dict[str, list[float]] = defaultdict(list)
        self.fetched: dict[str, float] = {}
        for at, request in zip(sim.sent_at, sim.requests, strict=True):
            parts = request.url.path.strip("/").split("/")
            if parts[:2] == ["v2", "requests"] and parts[-1] == "status":
                self.polls[parts[2]].append(at)
            elif parts[:2] == ["v2", "requests"]:
                self.fetched.setdefault(parts[2], at)

    def of(self, outcomes: list[Any]) -> list[dict[str, Any]]:
        return [self.jobs[o.request_id] for o in outcomes]

    def polls_per_job(self, outcomes: list[Any]) -> float:
        return statistics.mean(len(self.polls[job["id"]]) for job in self.of(outcomes))

    def lateness(self, outcomes: list[Any]) -> float:
        """The median of (result fetched - job finished) / job latency: 0 is seeing it done at once."""
        return statistics.median(
            (self.fetched[job["id"]] - job["finished_at"]) / (job["finished_at"] - job["submitted_at"])
            for job in self.of(outcomes)
        )


def run(root: Path, batch: str, *, time_scale: float, count: int = 40, app: Any = None, **options: Any) -> Any:
    sim = Simulation(root, MockConfig(time_scale=time_scale, jitter=0.2))
    if app is not None:
        sim.app = app(sim.app)
    outcomes, stop = sim.run(sim.works(specs(count, batch)), concurrency=8, seed=7, **options)
    assert stop is None
    assert {o.phase for o in outcomes} == {Phase.STORED}
    return sim, outcomes


def test_a_backend_twenty_times_faster_than_the_catalog_is_learned_by_the_first_jobs_without_a_hint(
    tmp_path,
) -> None:
    sim, outcomes = run(tmp_path, "a", time_scale=0.05)
    looks = Looks(sim)
    # Told nothing, the catalog's 93 s would make every 5 s job wait about 18 times its latency.
    assert looks.lateness(outcomes) <= 0.25
    assert len(sim.requests) / len(outcomes) <= 5.0


def test_only_the_first_jobs_of_a_model_new_to_the_backend_look_early(tmp_path) -> None:
    sim, outcomes = run(tmp_path, "a", time_scale=1.0, count=24)
    looks = Looks(sim)
    early = {
        job["id"]
        for job in looks.of(outcomes)
        if any(at - job["submitted_at"] < CATALOG_S / 2 for at in looks.polls[job["id"]])
    }
    assert 1 <= len(early) <= 2


def test_the_next_apply_starts_out_knowing_the_backend(tmp_path) -> None:
    run(tmp_path, "a", time_scale=0.05)
    sim, outcomes = run(tmp_path, "b", time_scale=0.05)
    looks = Looks(sim)
    first_looks = [looks.polls[job["id"]][0] - job["submitted_at"] for job in looks.of(outcomes)]
    fastest = min(job["finished_at"] - job["submitted_at"] for job in looks.of(outcomes))
    assert min(first_looks) >= 0.8 * fastest  # nobody explores again
    assert looks.lateness(outcomes) <= 0.2
    assert len(sim.requests) / len(outcomes) <= 4.7


def test_a_model_that_became_twice_as_slow_costs_at_most_one_extra_poll_per_job(tmp_path) -> None:
    run(tmp_path, "a", time_scale=1.0)
    changed, after_change = run(tmp_path, "b", time_scale=2.0)
    steady, settled = run(tmp_path, "c", time_scale=2.0)
    assert Looks(changed).polls_per_job(after_change) <= Looks(steady).polls_per_job(settled) + 1


def without_metrics(app: Any) -> Any:
    """The fake, except that its results carry no `metrics`: a server that gives no timing of its own."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/requests/") or path.endswith("/status"):
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            document = json.loads(body)
            document.pop("metrics", None)
            data = json.dumps(document).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})

        await app(scope, receive, capture)

    return wrapped


def test_without_the_servers_timing_a_backend_that_got_faster_pulls_the_estimate_down(tmp_path) -> None:
    # Learned at the catalog's speed; then every job takes half as long. Our looks alone must follow.
    run(tmp_path, "a", time_scale=1.0, app=without_metrics, latency_scale=1.0)
    first, first_outcomes = run(tmp_path, "b", time_scale=0.5, app=without_metrics)
    for batch in "cde":
        last, last_outcomes = run(tmp_path, batch, time_scale=0.5, app=without_metrics)
    assert Looks(first).lateness(first_outcomes) >= 0.3  # still looking at the old speed at first
    assert Looks(last).lateness(last_outcomes) <= 0.25

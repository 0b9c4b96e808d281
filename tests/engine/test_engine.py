"""The engine against the fake on one simulated clock: request economy, pacing and budget."""

from __future__ import annotations

from mockserver.config import MockConfig
from reconciler.engine.events import Phase, RunEvent, StopReason
from tests.engine.simulation import Simulation


def many(count: int, model: str = "wan-2.2-t2v-fast") -> str:
    return "videos:\n" + "".join(
        f"  v{i}:\n    model: {model}\n    prompt: scene number {i}\n    seed: {i}\n" for i in range(count)
    )


def test_a_job_near_its_expected_latency_costs_about_five_requests(tmp_path) -> None:
    sim = Simulation(tmp_path, MockConfig(time_scale=1.0, jitter=0.2))
    works = sim.works(many(40))
    outcomes, stop = sim.run(works, concurrency=8, seed=1)
    assert stop is None
    assert {o.phase for o in outcomes} == {Phase.STORED}
    per_job = len(sim.requests) / len(works)
    assert per_job <= 5.0, per_job


def test_no_status_poll_comes_before_most_of_the_expected_latency_has_passed(tmp_path) -> None:
    sim = Simulation(tmp_path, MockConfig(time_scale=1.0, jitter=0.0))
    # Told the catalog's speed (as --latency-scale 1 says), nothing is explored.
    outcomes, _ = sim.run(sim.works(many(3, "wan2.1-t2v")), seed=2, latency_scale=1.0)
    assert all(o.phase is Phase.STORED for o in outcomes)
    sent = list(zip(sim.sent_at, sim.requests, strict=True))
    first_submit = min(at for at, r in sent if r.method == "POST")
    first_poll = min(at for at, r in sent if r.url.path.endswith("/status"))
    # wan2.1-t2v averages 104.8 s: the first look comes at about 90% of it, not before.
    assert first_poll - first_submit >= 0.8 * 104.8


def test_the_budget_stops_submitting_before_it_would_be_passed(tmp_path) -> None:
    sim = Simulation(tmp_path, MockConfig(time_scale=0.1))
    works = sim.works(many(5))  # about $0.099 each
    outcomes, stop = sim.run(works, max_cost_usd=0.25, concurrency=1)
    assert stop is StopReason.BUDGET
    assert [o.phase for o in outcomes].count(Phase.STORED) == 2
    assert [o.phase for o in outcomes].count(Phase.SKIPPED) == 3
    assert sum(o.est_cost_usd for o in outcomes if o.paid_here) <= 0.25


def test_a_rate_limited_account_still_finishes_with_one_job_per_spec(tmp_path) -> None:
    config = MockConfig(time_scale=0.2, rate_limit={"per_minute": 30, "burst": 5})
    sim = Simulation(tmp_path, config)
    works = sim.works(many(20))
    outcomes, _ = sim.run(works, concurrency=8, seed=3)
    assert all(o.phase is Phase.STORED for o in outcomes)
    created = {r.content for r in sim.requests if r.method == "POST" and r.url.path.startswith("/v2/")}
    assert len(created) == 20
    assert any(e.kind == "rate-limited" for e in sim.events if isinstance(e, RunEvent))

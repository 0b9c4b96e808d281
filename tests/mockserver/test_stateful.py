"""The fake against a plain model of itself: a Hypothesis rule-based state machine.

The model is a few dicts: jobs with their predicted timestamps, balances, the clock, one armed
fault. Every response the fake gives must be the one the model predicts (status code, state,
error), and after every step the fake's jobs and balances must equal the model's. Timings have
no jitter here and every duration is a multiple of 1/32 s, so float arithmetic is exact: the
model computes each job's timestamps as the server does and can land on the exact boundaries
(finish, and finish + retention).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from mockserver.app import create_app
from mockserver.clock import VirtualClock
from mockserver.config import MockConfig
from mockserver.faults import ConnectionDropped
from reconciler import catalog

START = 1_767_225_600.0
CREDITS = 3.0
RETENTION = 30.0
TIME_SCALE = 0.125
QUEUE_SHARE = 0.25
LATENCY = {"wan2.1-t2v": 64, "wan2.7-t2v": 160, "wan-2.5-t2v": 128, "wan2.1-i2v-480p": 32, "wan-2.2-t2v-fast": 48}
GOOD, BAD = "good", "bad"
ORDER = {"QUEUED": 0, "PROCESSING": 1, "COMPLETED": 2, "FAILED": 2}
VALID = {
    "wan2.1-t2v": {"prompt": "p", "aspect_ratio": "1:1", "base_model": "1.3b", "video_length": 1},
    "wan2.7-t2v": {"prompt": "p", "duration": 2},
    "wan-2.5-t2v": {"prompt": "p", "duration": "5", "size": "832*480"},
    "wan2.1-i2v-480p": {"image": "https://x.test/i.png", "prompt": "p", "resolution": "480", "video_length": 1},
    "wan-2.2-t2v-fast": {"prompt": "p", "num_frames": 81, "frames_per_second": 24},
}
INVALID = [
    ("wan2.1-t2v", {"prompt": "p"}),  # required fields missing
    ("wan2.7-t2v", {"prompt": "p", "duration": 99}),
    ("wan-2.5-t2v", {"prompt": "p", "duration": 7}),
    ("wan-2.2-t2v-fast", {"prompt": "p", "go_fast": "yes"}),
    ("wan2.1-i2v-480p", {"prompt": "p", "image": "./local.png", "resolution": 480, "video_length": 1}),
    ("wan2.7-t2v", {"prompt": "p", "colour": "red"}),
]
ERROR_STATUS = {"429": 429, "500": 500, "502": 502, "504": 504}
FAULT_KINDS = ["429", "500", "502", "504", "latency", "drop", "truncate", "garbage"]


@dataclass
class ModelJob:
    id: str
    slug: str
    cost: float
    submitted: float
    started: float
    finished: float
    failed: bool
    last_state: str = "QUEUED"
    result: Any = None
    video: bytes | None = None

    def state(self, now: float) -> str:
        if now >= self.finished:
            return "FAILED" if self.failed else "COMPLETED"
        return "PROCESSING" if now >= self.started else "QUEUED"

    def expired(self, now: float) -> bool:
        return now >= self.finished + RETENTION


@dataclass
class Armed:
    route: str  # "submit" or "status"
    kind: str
    phase: str


class Answer:
    """What came back: a response, or a connection cut short."""

    def __init__(self, response: httpx.Response | None) -> None:
        self.response = response

    @property
    def dropped(self) -> bool:
        return self.response is None

    @property
    def status(self) -> int:
        assert self.response is not None
        return self.response.status_code

    def json(self) -> Any:
        assert self.response is not None
        return self.response.json()


class FakeServerMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        config = MockConfig(
            keys={GOOD: CREDITS},
            time_scale=TIME_SCALE,
            queue_share=QUEUE_SHARE,
            jitter=0,
            retention_s=RETENTION,
            latency_s=LATENCY,
            block_list=["nsfw"],
            media={"longest_side": 32, "fps": 2},
        )
        self.clock = VirtualClock(START)
        app = create_app(config, self.clock)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")
        self.now = START
        self.top_ups = 0.0
        self.model_jobs: dict[str, ModelJob] = {}
        self.armed: Armed | None = None

    def teardown(self) -> None:
        try:
            self.the_same_seed_gives_the_same_ids()
        finally:
            self.runner.run(self.http.aclose())
            self.runner.close()

    def the_same_seed_gives_the_same_ids(self) -> None:
        """A fresh fake with the same seed, given as many accepted submits, hands out the same ids."""
        replay = create_app(MockConfig(keys={GOOD: 1e6}), VirtualClock(START))

        async def submit_all() -> list[str]:
            transport = httpx.ASGITransport(app=replay)
            async with httpx.AsyncClient(transport=transport, base_url="http://replay.test") as http:
                ids = []
                for _ in self.model_jobs:
                    answer = await http.post("/v2/wan2.7-t2v", json={"prompt": "p"}, headers={"x-api-key": GOOD})
                    ids.append(answer.json()["request_id"])
                return ids

        assert self.runner.run(submit_all()) == list(self.model_jobs)

    def call(self, method: str, path: str, *, key: str | None = GOOD, body: Any = None) -> Answer:
        headers = {"x-api-key": key} if key else {}
        try:
            return Answer(self.runner.run(self.http.request(method, path, json=body, headers=headers)))
        except ConnectionDropped:
            return Answer(None)

    def balance(self) -> float:
        spent = sum(j.cost for j in self.model_jobs.values() if not (j.failed and self.now >= j.finished))
        return CREDITS + self.top_ups - spent

    def take_fault(self, route: str) -> Armed | None:
        armed = self.armed
        if armed is None or armed.route != route:
            return None
        self.armed = None
        return armed

    def predict_job(self, slug: str, job_id: str, prompt: str) -> ModelJob:
        model = catalog.get(slug)
        assert model is not None
        latency = LATENCY[slug] * TIME_SCALE
        started = self.now + latency * QUEUE_SHARE * 1.0
        finished = started + latency * (1 - QUEUE_SHARE) * 1.0
        blocked = "nsfw" in prompt
        return ModelJob(job_id, slug, model.avg_cost_usd, self.now, started, started if blocked else finished, blocked)

    def expect_fault(self, answer: Answer, fault: Armed, *, created: bool) -> None:
        if fault.kind == "drop":
            assert answer.dropped
        elif fault.kind in ERROR_STATUS:
            assert answer.status == ERROR_STATUS[fault.kind]
            assert "simulated fault" in answer.json()["error"]
            if fault.kind == "429":
                assert answer.response is not None
                assert answer.response.headers["retry-after"] == "1"
        elif fault.kind == "garbage":
            assert answer.status == 200
            with pytest.raises(ValueError, match=r"codec|Expecting"):
                answer.json()
        elif fault.kind == "truncate":
            with pytest.raises(ValueError, match=r"Unterminated|Expecting|Invalid"):
                answer.json()
        del created

    @initialize()
    def arm_nothing(self) -> None:
        self.put_faults([])

    def put_faults(self, rules: list[dict[str, Any]]) -> None:
        answer = self.call("PUT", "/_mock/config", key=None, body={"faults": rules})
        assert answer.status == 200

    # -- submits -------------------------------------------------------------------------------

    @rule(
        target=jobs,
        slug=st.sampled_from(sorted(VALID)),
        key=st.sampled_from([GOOD, GOOD, GOOD, BAD, None]),
        blocked=st.booleans(),
    )
    def submit_valid(self, slug: str, key: str | None, blocked: bool) -> str:
        body = {**VALID[slug], "prompt": "an nsfw scene" if blocked else f"scene {len(self.model_jobs)}"}
        before = len(self.model_jobs)
        answer = self.call("POST", f"/v2/{slug}", key=key, body=body)
        if key != GOOD:
            assert answer.status == 401
            return "never-issued"
        fault = self.take_fault("submit")
        if fault is not None and fault.phase == "before" and fault.kind != "latency":
            self.expect_fault(answer, fault, created=False)
            return "never-issued"
        cost = catalog.BY_SLUG[slug].avg_cost_usd
        if self.balance() + 1e-9 < cost:
            if fault is not None and fault.kind != "latency":
                self.expect_fault(answer, fault, created=False)
            else:
                assert answer.status == 406
                assert "Insufficient credits" in answer.json()["error"]
            return "never-issued"
        jobs = self.server_jobs()
        assert len(jobs) == before + 1, "an accepted submit creates exactly one job"
        job_id = jobs[-1]["id"]
        assert job_id not in self.model_jobs, "every job gets a fresh id"
        self.model_jobs[job_id] = self.predict_job(slug, job_id, body["prompt"])
        if fault is not None and fault.kind != "latency":
            self.expect_fault(answer, fault, created=True)
        else:
            assert answer.status == 200
            assert answer.json()["request_id"] == job_id
            assert answer.json()["status"] == "QUEUED"
        return job_id

    @rule(target=jobs, slug=st.sampled_from(sorted(VALID)), blocked=st.booleans())
    def submit_sync(self, slug: str, blocked: bool) -> str:
        """A v1 call waits out its job: on the virtual clock, time moves to the job's finish."""
        body = {**VALID[slug], "prompt": "an nsfw scene" if blocked else f"sync {len(self.model_jobs)}"}
        answer = self.call("POST", f"/v1/{slug}", body=body)
        if self.balance() + 1e-9 < catalog.BY_SLUG[slug].avg_cost_usd:
            assert answer.status == 406
            return "never-issued"
        job_id = self.server_jobs()[-1]["id"]
        assert job_id not in self.model_jobs
        job = self.model_jobs[job_id] = self.predict_job(slug, job_id, body["prompt"])
        self.now += job.finished - self.now
        assert answer.response is not None
        assert answer.response.headers.get("x-request-id", job_id) == job_id
        if blocked:
            assert answer.status == 422
            assert "content policy" in answer.json()["error"]
        else:
            assert answer.status == 200
            assert answer.response.headers["content-type"] == "video/mp4"
        return job_id

    @rule(choice=st.sampled_from(INVALID), key=st.sampled_from([GOOD, BAD]))
    def submit_invalid(self, choice: tuple[str, dict[str, Any]], key: str) -> None:
        slug, body = choice
        answer = self.call("POST", f"/v2/{slug}", key=key, body=body)
        if key != GOOD:
            assert answer.status == 401
            return
        fault = self.take_fault("submit")
        if fault is not None and fault.kind != "latency":
            self.expect_fault(answer, fault, created=False)
        else:
            assert answer.status == 400
            assert answer.json()["error"]

    @rule(slug=st.sampled_from(["wan3-t2v", "wan2.1", "WAN2.1-T2V"]))
    def submit_unknown_model(self, slug: str) -> None:
        answer = self.call("POST", f"/v2/{slug}", body={"prompt": "p"})
        fault = self.take_fault("submit")
        if fault is not None and fault.kind != "latency":
            self.expect_fault(answer, fault, created=False)
        else:
            assert answer.status == 404

    # -- reading -------------------------------------------------------------------------------

    @rule(job_id=jobs, key=st.sampled_from([GOOD, GOOD, BAD, None]))
    def poll(self, job_id: str, key: str | None) -> None:
        answer = self.call("GET", f"/v2/requests/{job_id}/status", key=key)
        if key != GOOD:
            assert answer.status == 401
            return
        fault = self.take_fault("status")
        if fault is not None and fault.kind != "latency":
            self.expect_fault(answer, fault, created=False)
            return
        job = self.model_jobs.get(job_id)
        if job is None or job.expired(self.now):
            assert answer.status == 404
            return
        state = job.state(self.now)
        assert answer.status == (422 if state == "FAILED" else 200)
        assert answer.json()["status"] == state
        if state == "FAILED":
            assert "content policy" in answer.json()["error"]
        assert ORDER[state] >= ORDER[job.last_state], "states only move forward"
        job.last_state = state

    @rule(job_id=jobs, key=st.sampled_from([GOOD, GOOD, BAD, None]))
    def fetch_result(self, job_id: str, key: str | None) -> None:
        answer = self.call("GET", f"/v2/requests/{job_id}", key=key)
        if key != GOOD:
            assert answer.status == 401
            return
        job = self.model_jobs.get(job_id)
        if job is None or job.expired(self.now):
            assert answer.status == 404
            return
        state = job.state(self.now)
        assert answer.status == {"COMPLETED": 200, "FAILED": 422}.get(state, 202)
        body = answer.json()
        assert body["status"] == state
        if state in ("COMPLETED", "FAILED"):
            if job.result is not None:
                assert body == job.result, "a finished job gives the same body on every fetch"
            job.result = body

    @rule(job_id=jobs)
    def fetch_file(self, job_id: str) -> None:
        answer = self.call("GET", f"/files/{job_id}.mp4", key=None)
        job = self.model_jobs.get(job_id)
        if job is None or job.state(self.now) != "COMPLETED":
            assert answer.status == 404
            return
        assert answer.status == 200
        assert answer.response is not None
        if job.video is not None:
            assert answer.response.content == job.video, "a finished job gives the same bytes every time"
        job.video = answer.response.content

    @rule(key=st.sampled_from([GOOD, BAD, None]))
    def read_history(self, key: str | None) -> None:
        answer = self.call("GET", "/inference-request/request-history?per_page=100", key=key)
        if key != GOOD:
            assert answer.status == 401
            return
        rows = answer.json()["data"]
        assert {row["request_id"] for row in rows} == set(self.model_jobs)

    # -- time, money, faults -------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        answer = self.call("POST", "/_mock/clock", key=None, body={"advance": seconds})
        self.now += seconds
        assert answer.json()["now"] == self.now

    @rule(eighths=st.integers(min_value=0, max_value=400))
    def let_time_pass(self, eighths: int) -> None:
        self.advance(eighths / 8)

    @rule(job_id=jobs, offset=st.sampled_from([-1 / 32, 0.0, 1 / 32]), until_expiry=st.booleans())
    def go_to_a_boundary_and_poll(self, job_id: str, offset: float, until_expiry: bool) -> None:
        """Land just before, on, or just after a job's finish or expiry, and look."""
        job = self.model_jobs.get(job_id)
        if job is not None:
            target = job.finished + (RETENTION if until_expiry else 0.0) + offset
            if target > self.now:
                self.advance(target - self.now)
        self.poll(job_id, GOOD)

    @rule(amount=st.sampled_from([0.5, 1.0, 2.5]))
    def top_up(self, amount: float) -> None:
        answer = self.call("POST", "/_mock/credits", key=None, body={"api_key": GOOD, "amount": amount})
        assert answer.status == 200
        self.top_ups += amount

    def arm(self, route: str, kind: str, phase: str = "before") -> None:
        self.put_faults([{"route": route, "script": [kind], "phase": phase, "latency_s": 0.0}])
        self.armed = Armed(route, kind, phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_429(self, phase: str, route: str) -> None:
        self.arm(route, "429", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_500(self, phase: str, route: str) -> None:
        self.arm(route, "500", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_502(self, phase: str, route: str) -> None:
        self.arm(route, "502", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_504(self, phase: str, route: str) -> None:
        self.arm(route, "504", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_latency(self, phase: str, route: str) -> None:
        self.arm(route, "latency", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_drop(self, phase: str, route: str) -> None:
        self.arm(route, "drop", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_truncate(self, phase: str, route: str) -> None:
        self.arm(route, "truncate", phase)

    @rule(phase=st.sampled_from(["before", "after"]), route=st.sampled_from(["submit", "status"]))
    def arm_garbage(self, phase: str, route: str) -> None:
        self.arm(route, "garbage", phase)

    @rule(job_id=consumes(jobs))
    def forget_a_handle(self, job_id: str) -> None:
        """Clients lose track of jobs; the server must not care."""
        del job_id

    # -- invariants ----------------------------------------------------------------------------

    def server_jobs(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.call("GET", "/_mock/jobs", key=None).json()["jobs"]
        return jobs

    @invariant()
    def jobs_are_exactly_the_models(self) -> None:
        jobs = self.server_jobs()
        assert [j["id"] for j in jobs] == list(self.model_jobs)
        for job in jobs:
            assert job["state"] == self.model_jobs[job["id"]].state(self.now)

    @invariant()
    def credits_are_conserved_and_never_negative(self) -> None:
        balance = self.call("GET", "/_mock/credits", key=None).json()["balances"][GOOD]
        assert balance == pytest.approx(self.balance(), abs=1e-6)
        assert balance >= 0


FakeServerMachine.TestCase.settings = settings(
    max_examples=75,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestFakeServerAgainstItsModel = FakeServerMachine.TestCase

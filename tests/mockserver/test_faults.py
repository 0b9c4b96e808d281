"""Seeded faults by route, model and phase, and the per-key rate limit."""

from __future__ import annotations

import time

import httpx
import pytest

from mockserver.faults import ConnectionDropped

pytestmark = pytest.mark.anyio

KEY = {"x-api-key": "mock-key"}
BODY = {"prompt": "a boat"}  # wan-2.2-t2v-fast


def script(route, kinds, **extra):
    return {"faults": [{"route": route, "script": kinds, **extra}]}


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("502", 502), ("504", 504)])
async def test_an_error_fault_answers_its_status_with_a_json_error(fake, kind, status):
    await fake.configure(script("status", [kind]))
    response = await fake.status("whatever")
    assert response.status_code == status
    assert "simulated fault" in response.json()["error"]
    assert (response.headers.get("retry-after") == "1") is (status == 429)
    assert (await fake.status("whatever")).status_code == 404, "the script is used up"


async def test_a_before_creation_fault_on_a_submit_creates_nothing(fake):
    await fake.configure(script("submit", ["502", "drop", "truncate", "garbage"], phase="before"))
    assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 502
    with pytest.raises(httpx.RemoteProtocolError):
        await fake.submit("wan-2.2-t2v-fast", BODY)
    truncated = await fake.submit("wan-2.2-t2v-fast", BODY)
    with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
        truncated.json()
    garbage = await fake.submit("wan-2.2-t2v-fast", BODY)
    assert garbage.status_code == 200
    with pytest.raises(ValueError, match=r"codec can't decode|Expecting value"):
        garbage.json()
    assert await fake.jobs() == []
    assert await fake.balance() == 1000.0
    assert [e["created_job"] for e in await fake.journal()] == [False] * 4


async def test_an_after_creation_fault_leaves_exactly_one_job_the_client_never_heard_of(fake):
    await fake.configure(script("submit", ["504", "drop"], phase="after"))
    assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 504
    with pytest.raises(ConnectionDropped):
        await fake.submit("wan-2.2-t2v-fast", BODY)
    jobs = await fake.jobs()
    assert len(jobs) == 2
    entries = await fake.journal()
    assert [e["created_job"] for e in entries] == [True, True]
    assert [e["request_id"] for e in entries] == [j["id"] for j in jobs]
    assert entries[0]["fault"] == {"kind": "504", "phase": "after"}
    history = await fake.http.get("/inference-request/request-history", headers=KEY)
    assert {row["request_id"] for row in history.json()["data"]} == {j["id"] for j in jobs}


async def test_a_fault_in_either_phase_strikes_before_or_after_creation_as_the_seed_draws(fake):
    await fake.configure({"faults": [{"route": "submit", "probabilities": {"500": 1.0}, "phase": "either"}]})
    for _ in range(20):
        assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 500
    entries = await fake.journal()
    phases = [e["fault"]["phase"] for e in entries]
    assert set(phases) == {"before", "after"}
    assert [e["created_job"] for e in entries] == [p == "after" for p in phases]
    assert len(await fake.jobs()) == phases.count("after")


async def test_a_truncated_file_is_half_of_the_real_one(fake):
    job_id = await fake.submit_ok("wan-2.2-t2v-fast", BODY)
    await fake.finish(job_id)
    whole = (await fake.http.get(f"/files/{job_id}.mp4")).content
    await fake.configure(script("files", ["truncate"]))
    cut = await fake.http.get(f"/files/{job_id}.mp4")
    assert cut.content == whole[: len(whole) // 2]


async def test_a_latency_fault_delays_the_real_answer_in_wall_clock_time(fake):
    await fake.configure(script("status", ["latency"], latency_s=0.2))
    start = time.perf_counter()
    response = await fake.status("nope")
    assert time.perf_counter() - start >= 0.2
    assert response.status_code == 404


async def test_a_rule_for_one_model_spares_the_others(fake):
    await fake.configure(script("submit", ["500", "500"], model="wan2.7-t2v"))
    assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 200
    assert (await fake.submit("wan2.7-t2v", BODY)).status_code == 500


async def test_faults_strike_only_after_the_key_is_checked(fake):
    await fake.configure(script("any", ["500"]))
    assert (await fake.submit("wan-2.2-t2v-fast", BODY, key="bad")).status_code == 401
    assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 500


async def test_the_same_seed_gives_the_same_fault_schedule(make_fake):
    schedules = []
    for seed in (1, 1, 2):
        fake = await make_fake(seed=seed, faults=[{"route": "status", "probabilities": {"500": 0.3, "502": 0.2}}])
        schedules.append([(await fake.status("x")).status_code for _ in range(40)])
    assert schedules[0] == schedules[1]
    assert schedules[0] != schedules[2]
    assert {500, 502, 404} <= set(schedules[0])


async def test_the_journal_names_each_fault(fake):
    await fake.configure(script("status", [None, "garbage"]))
    await fake.status("a")
    await fake.status("b")
    faults = [e["fault"] for e in await fake.journal()]
    assert faults == [None, {"kind": "garbage", "phase": None}]


async def test_a_rate_limited_key_gets_429_with_retry_after_until_tokens_refill(make_fake):
    fake = await make_fake(rate_limit={"per_minute": 6, "burst": 2}, keys={"a": 10, "b": 10})
    a, b = {"x-api-key": "a"}, {"x-api-key": "b"}
    codes = [(await fake.http.get("/v2/requests/x/status", headers=a)).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    limited = await fake.http.get("/v2/requests/x/status", headers=a)
    assert limited.headers["retry-after"] == "10"
    assert "rate limit" in limited.json()["error"]
    assert (await fake.http.get("/v2/requests/x/status", headers=b)).status_code == 404, "limits are per key"
    await fake.advance(10)
    assert (await fake.http.get("/v2/requests/x/status", headers=a)).status_code == 404


async def test_a_rate_limited_submit_creates_nothing(make_fake):
    fake = await make_fake(rate_limit={"per_minute": 1, "burst": 1})
    await fake.submit_ok("wan-2.2-t2v-fast", BODY)
    assert (await fake.submit("wan-2.2-t2v-fast", BODY)).status_code == 429
    assert len(await fake.jobs()) == 1


async def test_sending_the_same_script_again_arms_it_again(fake):
    for _ in range(2):
        await fake.configure(script("status", ["500"]))
        assert (await fake.status("x")).status_code == 500
        assert (await fake.status("x")).status_code == 404

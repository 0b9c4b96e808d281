"""The synchronous v1 route, and the /_mock/ control surface: journal, jobs, clock, config, reset."""

from __future__ import annotations

import base64

import anyio
import pytest

from mockserver.media import read_tags

pytestmark = pytest.mark.anyio

KEY = {"x-api-key": "mock-key"}
BODY = {"prompt": "a kite", "aspect_ratio": "1:1", "base_model": "1.3b", "video_length": 1}


async def test_v1_waits_out_the_job_on_the_virtual_clock_and_returns_the_mp4(fake):
    before = fake.clock.now()
    response = await fake.http.post("/v1/wan2.1-t2v", json=BODY, headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert read_tags(response.content)["request_id"] == response.headers["x-request-id"]
    job = (await fake.jobs())[0]
    assert job["api"] == "v1"
    assert fake.clock.now() == pytest.approx(job["finished_at"])
    assert fake.clock.now() > before


async def test_v1_with_base64_answers_json_carrying_the_video(fake):
    response = await fake.http.post("/v1/wan2.1-t2v", json={**BODY, "base64": True}, headers=KEY)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "COMPLETED"
    assert read_tags(base64.b64decode(body["output"]))["request_id"] == body["request_id"]


async def test_v1_of_a_blocked_prompt_is_422_with_the_policy_message(fake):
    response = await fake.http.post("/v1/wan2.1-t2v", json={**BODY, "prompt": "nsfw"}, headers=KEY)
    assert response.status_code == 422
    assert "content policy" in response.json()["error"]


async def test_v1_validates_like_v2(fake):
    response = await fake.http.post("/v1/wan2.1-t2v", json={**BODY, "video_length": 0}, headers=KEY)
    assert response.status_code == 400
    assert "video_length" in response.json()["error"]


async def test_the_journal_records_every_public_request_oldest_first(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", BODY)
    await fake.submit("wan2.1-t2v", {"prompt": 1})
    await fake.status(job_id)
    await fake.http.get("/_mock/jobs")
    entries = await fake.journal()
    assert [(e["method"], e["path"], e["status"], e["created_job"]) for e in entries] == [
        ("POST", "/v2/wan2.1-t2v", 200, True),
        ("POST", "/v2/wan2.1-t2v", 400, False),
        ("GET", f"/v2/requests/{job_id}/status", 200, False),
    ]
    assert entries[0]["body"] == BODY
    assert entries[0]["request_id"] == job_id
    assert entries[1]["request_id"] is None
    assert entries[2]["body"] is None
    assert all(e["fault"] is None and e["at"] == fake.clock.now() for e in entries)


async def test_the_journal_is_bounded_by_its_limit(make_fake):
    fake = await make_fake(journal_limit=2)
    for _ in range(3):
        await fake.status("nope")
    response = (await fake.http.get("/_mock/journal")).json()
    assert (len(response["entries"]), response["dropped"]) == (2, 1)


async def test_a_jobs_row_has_its_id_model_state_times_and_key(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", BODY)
    row = (await fake.jobs())[0]
    assert row["id"] == job_id
    assert row["model"] == "wan2.1-t2v"
    assert row["state"] == "QUEUED"
    assert len(row["key"]) == 64
    assert row["submitted_at"] < row["started_at"] < row["finished_at"] < row["expires_at"]


async def test_the_clock_advances_only_forward_and_switches_mode_without_jumping(fake):
    now = (await fake.http.get("/_mock/clock")).json()["now"]
    moved = (await fake.http.post("/_mock/clock", json={"advance": 30})).json()
    assert moved == {"now": now + 30, "mode": "virtual"}
    assert (await fake.http.post("/_mock/clock", json={"advance": -1})).status_code == 400
    assert (await fake.http.post("/_mock/clock", json={"advance": 1e308})).status_code == 400
    assert (await fake.http.post("/_mock/clock", json={"mode": "sideways"})).status_code == 400
    assert (await fake.http.post("/_mock/clock", json={"when": 1})).status_code == 400
    real = (await fake.http.post("/_mock/clock", json={"mode": "real"})).json()
    assert real["mode"] == "real"
    assert now + 30 <= real["now"] < now + 31
    back = (await fake.http.post("/_mock/clock", json={"mode": "virtual"})).json()
    assert back["now"] >= real["now"]


async def test_the_clock_stops_short_of_dates_without_a_calendar_form(fake):
    ten_years = 10 * 366 * 86400
    while (await fake.http.post("/_mock/clock", json={"advance": ten_years})).status_code == 200:
        pass
    assert (await fake.http.get("/_mock/clock")).json()["now"] < 32_503_680_000
    assert (await fake.http.get("/inference-request/request-history", headers=KEY)).status_code == 200


async def test_a_partial_config_is_deep_merged_and_the_whole_returned(fake):
    whole = await fake.configure({"rate_limit": {"per_minute": 30}, "media": {"fps": 6}})
    assert whole["rate_limit"] == {"per_minute": 30, "burst": 10}
    assert whole["media"]["fps"] == 6
    assert whole["media"]["longest_side"] == 160
    assert whole["keys"] == {"mock-key": 1000.0}
    assert (await fake.http.get("/_mock/config")).json() == whole


@pytest.mark.parametrize(
    "patch",
    [
        {"time_scale": -1},
        {"nonsense": 1},
        {"faults": [{"probabilities": {"500": 0.8, "502": 0.8}}]},
        {"faults": [{"script": ["teapot"]}]},
        {"latency_s": {"wan9": 1}},
    ],
)
async def test_a_bad_config_patch_is_400_and_changes_nothing(fake, patch):
    before = (await fake.http.get("/_mock/config")).json()
    response = await fake.http.put("/_mock/config", json=patch)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid configuration")
    assert (await fake.http.get("/_mock/config")).json() == before


async def test_a_null_in_a_config_patch_removes_an_entry_or_restores_a_default(fake):
    await fake.configure({"keys": {"team": 5}, "rate_limit": {"per_minute": 10}, "time_scale": 1})
    whole = await fake.configure({"keys": {"mock-key": None}, "rate_limit": {"per_minute": None}, "time_scale": None})
    assert whole["keys"] == {"team": 5}
    assert whole["rate_limit"]["per_minute"] is None
    assert whole["time_scale"] == 0.01
    assert (await fake.submit("wan2.1-t2v", BODY)).status_code == 401


async def test_a_new_key_from_the_config_is_accepted_with_its_credits(fake):
    await fake.configure({"keys": {"team": 5}})
    assert (await fake.submit("wan2.1-t2v", BODY, key="team")).status_code == 200
    assert await fake.balance("team") == pytest.approx(5 - 0.855)


async def test_reset_forgets_jobs_journal_and_balance_changes_but_keeps_the_config(fake):
    await fake.configure({"retention_s": 5})
    job_id = await fake.submit_ok("wan2.1-t2v", BODY)
    await fake.http.post("/_mock/credits", json={"api_key": "mock-key", "amount": 10})
    assert (await fake.http.post("/_mock/reset")).status_code == 200
    assert await fake.jobs() == []
    assert await fake.journal() == []
    assert await fake.balance() == 1000.0
    assert (await fake.status(job_id)).status_code == 404
    assert (await fake.http.get("/_mock/config")).json()["retention_s"] == 5
    assert await fake.submit_ok("wan2.1-t2v", BODY) == job_id, "ids replay from the seed after a reset"


async def test_the_journal_lists_a_slow_request_before_the_ones_answered_while_it_waited(fake):
    await fake.configure({"time_scale": 0.004, "jitter": 0})
    await fake.http.post("/_mock/clock", json={"mode": "real"})

    async def run_sync() -> None:
        assert (await fake.http.post("/v1/wan2.1-t2v", json=BODY, headers=KEY)).status_code == 200

    async def poll_soon() -> None:
        await anyio.sleep(0.05)
        await fake.status("nope")

    async with anyio.create_task_group() as group:
        group.start_soon(run_sync)
        group.start_soon(poll_soon)
    entries = await fake.journal()
    assert [e["path"] for e in entries] == ["/v1/wan2.1-t2v", "/v2/requests/nope/status"]
    assert entries[0]["at"] < entries[1]["at"]

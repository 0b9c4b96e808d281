"""The request history: rows as sent, filters, paging, newest first, outliving retention."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

KEY = {"x-api-key": "mock-key"}


async def history(fake, **params):
    response = await fake.http.get("/inference-request/request-history", params=params, headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_row_keeps_the_request_body_exactly_as_sent(fake, seed_payloads):
    body = seed_payloads["wan-2.5-t2v"]
    job_id = await fake.submit_ok("wan-2.5-t2v", body)
    rows = (await history(fake))["data"]
    assert [row["request_id"] for row in rows] == [job_id]
    assert rows[0]["request_body"] == body
    assert rows[0]["request_body"]["duration"] == "5"


async def test_rows_are_pending_then_completed_with_cost_latency_and_url(fake):
    job_id = await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "a fox"})
    pending = (await history(fake))["data"][0]
    assert pending["model_status"] == "PENDING"
    assert pending["generation_url"] is None
    assert pending["latency_ms"] is None
    await fake.finish(job_id)
    done = (await history(fake))["data"][0]
    assert done["model_status"] == "COMPLETED"
    assert done["model_name"] == "wan-2.2-t2v-fast"
    assert done["generation_url"] == f"http://mock.test/files/{job_id}.mp4"
    assert done["credits_deduction"] == pytest.approx(0.099)
    assert done["latency_ms"] > 0
    assert done["error"] is None
    assert done["created_at"].startswith("2026-01-01T00:00:00")


async def test_a_failed_row_carries_its_error_and_costs_nothing(fake):
    job_id = await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "nsfw"})
    await fake.finish(job_id)
    row = (await history(fake, status="FAILED"))["data"][0]
    assert row["model_status"] == "FAILED"
    assert row["credits_deduction"] == 0
    assert "content policy" in row["error"]
    assert (await history(fake, status="COMPLETED"))["data"] == []


async def test_rows_come_newest_first_and_page(fake):
    ids = []
    for n in range(5):
        ids.append(await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": f"fox {n}"}))
        await fake.advance(1)
    first = await history(fake, per_page=2)
    assert [r["request_id"] for r in first["data"]] == ids[::-1][:2]
    assert (first["total"], first["total_pages"]) == (5, 3)
    third = await history(fake, per_page=2, page=3)
    assert [r["request_id"] for r in third["data"]] == [ids[0]]
    oldest_first = await history(fake, sort_order="asc")
    assert [r["request_id"] for r in oldest_first["data"]] == ids


async def test_rows_filter_by_model_name_substring_and_date(fake):
    a = await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "a"})
    b = await fake.submit_ok("wan2.7-t2v", {"prompt": "b"})
    assert [r["request_id"] for r in (await history(fake, model_name="2.7"))["data"]] == [b]
    assert [r["request_id"] for r in (await history(fake, model_name="wan-2.2-t2v-fast"))["data"]] == [a]
    assert (await history(fake, from_date="2026-01-02", to_date="2026-01-03"))["data"] == []
    assert len((await history(fake, from_date="2025-12-31", to_date="2026-01-01"))["data"]) == 2


async def test_the_default_window_is_the_last_seven_days(fake):
    await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "old"})
    await fake.advance(8 * 86400)
    assert (await history(fake))["data"] == []
    assert len((await history(fake, from_date="2026-01-01"))["data"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"page": "x"},
        {"status": "DONE"},
        {"from_date": "01/01/2026"},
        {"from_date": "2026-01-05", "to_date": "2026-01-01"},
        {"from_date": "2025-01-01", "to_date": "2026-01-01"},
        {"sort_by": "price"},
    ],
)
async def test_a_bad_history_query_is_400(fake, params):
    response = await fake.http.get("/inference-request/request-history", params=params, headers=KEY)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_history_outlives_the_result_retention(fake):
    await fake.configure({"retention_s": 10})
    job_id = await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "a fox"})
    await fake.finish(job_id)
    await fake.advance(3600)
    assert (await fake.status(job_id)).status_code == 404
    row = (await fake.http.get(f"/inference-request/request-history/{job_id}", headers=KEY)).json()
    assert row["model_status"] == "COMPLETED"
    assert (await fake.http.get(row["generation_url"])).status_code == 200


async def test_history_shows_only_the_callers_own_requests(make_fake):
    fake = await make_fake(keys={"alice": 10, "bob": 10})
    job_id = (await fake.submit("wan-2.2-t2v-fast", {"prompt": "x"}, key="alice")).json()["request_id"]
    bob = {"x-api-key": "bob"}
    assert (await fake.http.get("/inference-request/request-history", headers=bob)).json()["data"] == []
    response = await fake.http.get(f"/inference-request/request-history/{job_id}", headers=bob)
    assert response.status_code == 404


async def test_v1_requests_are_in_the_history_too(fake):
    response = await fake.http.post("/v1/wan-2.2-t2v-fast", json={"prompt": "sync"}, headers=KEY)
    row = (await history(fake))["data"][0]
    assert row["request_id"] == response.headers["x-request-id"]
    assert row["model_status"] == "COMPLETED"


async def test_a_to_date_in_year_one_is_an_answer_not_a_crash(fake):
    # Found by schemathesis: the default window before such a date used to overflow (a 500).
    response = await fake.http.get(
        "/inference-request/request-history",
        params={"from_date": "2000-01-01", "to_date": "0001-01-01"},
        headers=KEY,
    )
    assert response.status_code == 400
    assert "from_date must not be after to_date" in response.json()["error"]
    assert (await history(fake, to_date="0001-01-02"))["data"] == []

"""Credits: reserved at submit, refunded on failure, never negative, 406 when short."""

from __future__ import annotations

import anyio
import pytest

pytestmark = pytest.mark.anyio

FAST = {"prompt": "a fox"}  # wan-2.2-t2v-fast costs $0.099


async def test_a_submit_reserves_the_model_cost_at_once(fake):
    await fake.submit_ok("wan-2.2-t2v-fast", FAST)
    assert await fake.balance() == pytest.approx(1000 - 0.099)


async def test_a_submit_costing_more_than_the_balance_is_406_and_creates_nothing(make_fake):
    fake = await make_fake(keys={"mock-key": 0.15})
    await fake.submit_ok("wan-2.2-t2v-fast", FAST)
    response = await fake.submit("wan-2.2-t2v-fast", FAST)
    assert response.status_code == 406
    assert "Insufficient credits" in response.json()["error"]
    assert len(await fake.jobs()) == 1
    assert await fake.balance() == pytest.approx(0.051)


async def test_a_failed_job_is_refunded_when_it_fails_and_not_before(make_fake):
    fake = await make_fake(keys={"mock-key": 0.1}, jitter=0, time_scale=1)
    job_id = await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": "nsfw"})
    assert await fake.balance() == pytest.approx(0.001)
    assert (await fake.submit("wan-2.2-t2v-fast", FAST)).status_code == 406
    await fake.finish(job_id)
    assert await fake.balance() == pytest.approx(0.1)
    assert (await fake.submit("wan-2.2-t2v-fast", FAST)).status_code == 200


async def test_a_top_up_raises_the_balance_and_unblocks_submits(make_fake):
    fake = await make_fake(keys={"mock-key": 0.0})
    assert (await fake.submit("wan-2.2-t2v-fast", FAST)).status_code == 406
    topped = await fake.http.post("/_mock/credits", json={"api_key": "mock-key", "amount": 1})
    assert topped.json() == {"api_key": "mock-key", "balance": 1.0}
    assert (await fake.submit("wan-2.2-t2v-fast", FAST)).status_code == 200


async def test_a_top_up_of_an_unknown_key_or_a_bad_amount_is_refused(fake):
    assert (await fake.http.post("/_mock/credits", json={"api_key": "x", "amount": 1})).status_code == 404
    assert (await fake.http.post("/_mock/credits", json={"api_key": "mock-key", "amount": -1})).status_code == 400


async def test_concurrent_submits_never_drive_a_balance_below_zero(make_fake):
    fake = await make_fake(keys={"mock-key": 1.0})
    statuses: list[int] = []

    async def one() -> None:
        statuses.append((await fake.submit("wan-2.2-t2v-fast", FAST)).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(30):
            group.start_soon(one)
    assert statuses.count(200) == 10
    assert statuses.count(406) == 20
    assert len(await fake.jobs()) == 10
    assert await fake.balance() == pytest.approx(0.01)


async def test_the_v1_response_says_the_cost_and_the_remaining_credits(fake):
    response = await fake.http.post("/v1/wan-2.2-t2v-fast", json=FAST, headers={"x-api-key": "mock-key"})
    assert response.status_code == 200
    assert float(response.headers["x-cost"]) == pytest.approx(0.099)
    assert float(response.headers["x-remaining-credits"]) == pytest.approx(1000 - 0.099)


async def test_a_configured_cost_overrides_the_model_average(make_fake):
    fake = await make_fake(cost_usd={"wan-2.2-t2v-fast": 2.5})
    await fake.submit_ok("wan-2.2-t2v-fast", FAST)
    assert await fake.balance() == pytest.approx(997.5)

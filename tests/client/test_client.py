"""The Segmind client against the fake: every outcome becomes a value or one error of the tree."""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.media import read_tags
from reconciler import catalog
from reconciler.api.answers import JobState
from reconciler.api.client import SegmindApi
from reconciler.engine.videocheck import NotAVideo, VideoCheck
from reconciler.errors import (
    ApiAuthError,
    ApiBadRequest,
    ApiInsufficientCredits,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnreachable,
)

pytestmark = pytest.mark.anyio


def body(prompt: str = "a red kite over the dunes", model: str = "wan-2.2-t2v-fast") -> str:
    params, problems = catalog.check(catalog.BY_SLUG[model], {"prompt": prompt, "seed": 7}, fill_defaults=True)
    assert problems == []
    return catalog.canonical_json({k: v for k, v in params.items() if v is not None})


async def test_a_job_goes_from_submit_to_a_downloaded_playable_video(world) -> None:
    submitted = await world.api.submit("wan-2.2-t2v-fast", body())
    assert submitted.state is JobState.QUEUED
    assert (await world.api.status(submitted.request_id)).state is JobState.QUEUED
    await world.advance(600)
    assert (await world.api.status(submitted.request_id)).state is JobState.COMPLETED
    result = await world.api.result(submitted.request_id)
    assert result.output_url is not None
    assert result.cost_usd == pytest.approx(0.099)
    chunks: list[bytes] = []
    size = await world.api.download(result.output_url, chunks.append, max_bytes=10**8)
    video = b"".join(chunks)
    assert size == len(video) > 0
    assert video[4:8] == b"ftyp"
    assert read_tags(video)["request_id"] == submitted.request_id


async def test_a_blocked_prompt_is_a_failed_result_not_an_error(world) -> None:
    submitted = await world.api.submit("wan-2.2-t2v-fast", body("nsfw scene"))
    await world.advance(600)
    status = await world.api.status(submitted.request_id)
    assert status.state is JobState.FAILED
    assert status.error
    result = await world.api.result(submitted.request_id)
    assert (result.state, result.error) == (JobState.FAILED, status.error)


async def test_a_wrong_key_is_fatal_and_never_shown(world) -> None:
    transport = httpx.ASGITransport(app=world.control._transport.app)  # type: ignore[attr-defined]
    wrong = SegmindApi(api_key="sk-secret-wrong", base_url="https://mock.test", transport=transport)
    with pytest.raises(ApiAuthError) as caught:
        await wrong.submit("wan-2.2-t2v-fast", body())
    await wrong.aclose()
    assert caught.value.fatal
    assert caught.value.status == 401
    assert "HTTP 401" in str(caught.value)
    assert "sk-secret-wrong" not in str(caught.value)


async def test_an_unknown_model_is_not_found(world) -> None:
    with pytest.raises(ApiNotFound, match="HTTP 404"):
        await world.api.submit("wan9-t2v", body())


async def test_bad_parameters_are_a_permanent_bad_request_with_the_servers_message(world) -> None:
    with pytest.raises(ApiBadRequest) as caught:
        await world.api.submit("wan-2.2-t2v-fast", json.dumps({"prompt": "x", "num_frames": 5}))
    assert not caught.value.temporary
    assert "num_frames" in str(caught.value)


async def test_too_few_credits_is_insufficient_credits(world) -> None:
    await world.configure({"keys": {"mock-key": 0.01}})
    with pytest.raises(ApiInsufficientCredits, match="HTTP 406"):
        await world.api.submit("wan-2.2-t2v-fast", body())
    assert await world.jobs() == []


async def test_rate_limiting_carries_retry_after(world) -> None:
    await world.configure({"faults": [{"route": "status", "script": ["429"], "retry_after_s": 7}]})
    submitted = await world.api.submit("wan-2.2-t2v-fast", body())
    with pytest.raises(ApiRateLimited) as caught:
        await world.api.status(submitted.request_id)
    assert (caught.value.temporary, caught.value.retry_after) == (True, 7.0)


@pytest.mark.parametrize("status", ["500", "502", "504"])
async def test_server_errors_are_temporary(world, status: str) -> None:
    await world.configure({"faults": [{"route": "submit", "script": [status]}]})
    with pytest.raises(ApiServerError) as caught:
        await world.api.submit("wan-2.2-t2v-fast", body())
    assert caught.value.temporary
    assert f"HTTP {status}" in str(caught.value)


async def test_an_expired_result_is_not_found(world) -> None:
    submitted = await world.api.submit("wan-2.2-t2v-fast", body())
    await world.advance(600 + 3600)
    with pytest.raises(ApiNotFound):
        await world.api.status(submitted.request_id)


async def test_the_history_finds_a_request_with_its_body_as_sent(world) -> None:
    sent = body("a lost request")
    submitted = await world.api.submit("wan-2.2-t2v-fast", sent)
    now = world.clock.now()
    rows = await world.api.history(model="wan-2.2-t2v-fast", since=now - 86_400, until=now)
    assert [row.request_id for row in rows] == [submitted.request_id]
    assert rows[0].request_body == json.loads(sent)
    await world.advance(600 + 3600)
    row = await world.api.history_row(submitted.request_id)
    assert row is not None
    assert row.generation_url is not None
    assert await world.api.history_row("no-such-request") is None


async def test_an_uploaded_image_comes_back_as_a_url_with_the_same_bytes(world) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    url = await world.api.upload(png, "image/png")
    chunks: list[bytes] = []
    await world.api.download(url, chunks.append, max_bytes=10**6)
    assert b"".join(chunks) == png


async def test_a_download_over_the_limit_is_refused(world) -> None:
    submitted = await world.api.submit("wan-2.2-t2v-fast", body())
    await world.advance(600)
    result = await world.api.result(submitted.request_id)
    assert result.output_url is not None
    with pytest.raises(ApiUnreachable, match="larger than the limit"):
        await world.api.download(result.output_url, lambda chunk: None, max_bytes=100)


async def test_a_connection_lost_after_a_submit_may_have_created_the_job(live: str) -> None:
    async with httpx.AsyncClient(base_url=live) as control:
        await control.put("/_mock/config", json={"faults": [{"route": "submit", "script": ["drop"], "phase": "after"}]})
        api = SegmindApi(api_key="mock-key", base_url=live, history_url=live, upload_url=live)
        with pytest.raises(ApiUnreachable) as caught:
            await api.submit("wan-2.2-t2v-fast", body())
        await api.aclose()
        assert caught.value.maybe_sent
        assert len((await control.get("/_mock/jobs")).json()["jobs"]) == 1


async def test_a_refused_connection_was_never_sent() -> None:
    api = SegmindApi(api_key="mock-key", base_url="http://127.0.0.1:9", timeout_s=5)
    with pytest.raises(ApiUnreachable) as caught:
        await api.submit("wan-2.2-t2v-fast", body())
    await api.aclose()
    assert not caught.value.maybe_sent


async def test_a_download_cut_short_with_a_matching_length_is_caught_by_the_video_check(live: str) -> None:
    async with httpx.AsyncClient(base_url=live) as control:
        api = SegmindApi(api_key="mock-key", base_url=live, history_url=live, upload_url=live)
        submitted = await api.submit("wan-2.2-t2v-fast", body())
        for _ in range(200):
            if (await api.status(submitted.request_id)).state is JobState.COMPLETED:
                break
            await control.post("/_mock/clock", json={"advance": 1})
        result = await api.result(submitted.request_id)
        await control.put("/_mock/config", json={"faults": [{"route": "files", "script": ["truncate"]}]})
        assert result.output_url is not None
        check = VideoCheck()
        size = await api.download(result.output_url, check.update, max_bytes=10**8)
        await api.aclose()
        assert size > 0
        with pytest.raises(NotAVideo, match="cut short"):
            check.finish()

"""The official client (segmind 1.3.0), unchanged but for base_url, against the fake over a real socket."""

from __future__ import annotations

import importlib
import io

import av
import httpx
import pytest
from segmind import InferenceFailed, SegmindClient, SegmindError
from segmind.files import Files

from mockserver.media import read_tags

# `segmind.generations` is shadowed by a namespace object of the same name; this is the module.
GENERATIONS = importlib.import_module("segmind.generations")

pytestmark = pytest.mark.slow  # a real uvicorn socket per test


@pytest.fixture
def live(live_server):
    return live_server(time_scale=0.002)


@pytest.fixture
def client(live):
    made = SegmindClient(api_key="mock-key", base_url=f"{live.url}/v1")
    yield made
    made._client.close()


def frames_of(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("slug", ["wan2.1-t2v", "wan2.7-t2v", "wan-2.5-t2v", "wan2.1-i2v-480p", "wan-2.2-t2v-fast"])
def test_submit_async_wait_completes_each_seed_payload_with_a_playable_mp4(client, seed_payloads, slug):
    job = client.submit_async(slug, **seed_payloads[slug])
    result = job.wait(timeout=30, interval=0.05)
    assert result["status"] == "COMPLETED"
    video = httpx.get(result["output"])
    assert video.status_code == 200
    assert frames_of(video.content) > 0
    assert read_tags(video.content)["request_id"] == job.request_id


def test_run_sync_returns_the_video_bytes(client, seed_payloads):
    response = client.run_sync("wan-2.2-t2v-fast", **seed_payloads["wan-2.2-t2v-fast"])
    assert response.headers["content-type"] == "video/mp4"
    assert frames_of(response.content) == round(81 / 16 * 8)


def test_run_waits_for_the_result(client):
    result = client.run("wan-2.2-t2v-fast", prompt="a quick fox")
    assert result["status"] == "COMPLETED"


def test_a_blocked_prompt_raises_inference_failed_with_the_policy_message(client):
    job = client.submit_async("wan-2.2-t2v-fast", prompt="nsfw content")
    with pytest.raises(InferenceFailed) as failure:
        job.wait(timeout=30, interval=0.05)
    assert "content policy" in failure.value.detail
    assert job.result()["status"] == "FAILED"


def test_a_wrong_key_raises_segmind_error_401(live):
    wrong = SegmindClient(api_key="wrong", base_url=f"{live.url}/v1")
    try:
        with pytest.raises(SegmindError) as failure:
            wrong.submit_async("wan-2.2-t2v-fast", prompt="x")
    finally:
        wrong._client.close()
    assert failure.value.status == 401
    assert "Invalid API key" in failure.value.detail


def test_a_bad_parameter_raises_segmind_error_400_naming_it(client):
    with pytest.raises(SegmindError) as failure:
        client.submit_async("wan-2.5-t2v", prompt="x", duration=7)
    assert failure.value.status == 400
    assert "duration" in failure.value.detail


def test_generations_history_lists_what_was_submitted(client, live, monkeypatch):
    monkeypatch.setattr(GENERATIONS, "REQUEST_HISTORY_URL", f"{live.url}/inference-request/request-history")
    first = client.submit_async("wan-2.2-t2v-fast", prompt="one")
    second = client.submit_async("wan2.7-t2v", prompt="two", duration=3)
    rows = client.generations.history()["data"]
    assert [row["request_id"] for row in rows] == [second.request_id, first.request_id]
    assert rows[0]["request_body"] == {"prompt": "two", "duration": 3}
    only = client.generations.history(model_name="wan2.7-t2v")["data"]
    assert [row["request_id"] for row in only] == [second.request_id]
    assert client.generations.get(first.request_id)["model_name"] == "wan-2.2-t2v-fast"


def test_files_upload_gives_an_image_url_for_image_to_video(client, live, monkeypatch, tmp_path, seed_payloads):
    monkeypatch.setattr(Files, "STORAGE_BASE_URL", live.url)
    image = tmp_path / "still.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    url = client.files.upload(image)["file_urls"][0]
    assert httpx.get(url).content == image.read_bytes()
    body = {**seed_payloads["wan2.1-i2v-480p"], "image": url}
    assert client.submit_async("wan2.1-i2v-480p", **body).wait(timeout=30, interval=0.05)["status"] == "COMPLETED"

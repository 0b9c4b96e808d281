"""Wire fidelity: keys, validation, submit shapes, status, results and the 422-on-FAILED rule."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

WAN21 = {"prompt": "a cat", "aspect_ratio": "16:9", "base_model": "14b", "video_length": 2}


async def test_every_seed_page_example_is_accepted_and_queued(fake, seed_payloads):
    for slug, body in seed_payloads.items():
        response = await fake.submit(slug, body)
        assert response.status_code == 200, (slug, response.text)
        submitted = response.json()
        assert submitted["status"] == "QUEUED"
        job_id = submitted["request_id"]
        assert submitted["status_url"] == f"http://mock.test/v2/requests/{job_id}/status"
        assert submitted["response_url"] == f"http://mock.test/v2/requests/{job_id}"


async def test_a_missing_key_is_401_with_an_error_message(fake):
    response = await fake.http.post("/v2/wan2.1-t2v", json=WAN21)
    assert response.status_code == 401
    assert "x-api-key" in response.json()["error"]


async def test_a_bearer_token_is_not_a_key(fake):
    response = await fake.http.post("/v2/wan2.1-t2v", json=WAN21, headers={"Authorization": "Bearer mock-key"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]


async def test_an_unknown_key_is_401_on_every_route_even_for_ids_that_exist(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    await fake.finish(job_id)
    bad = {"x-api-key": "stolen"}
    for method, path, body in [
        ("POST", "/v2/wan2.1-t2v", WAN21),
        ("POST", "/v1/wan2.1-t2v", WAN21),
        ("GET", f"/v2/requests/{job_id}/status", None),
        ("GET", f"/v2/requests/{job_id}", None),
        ("GET", "/inference-request/request-history", None),
        ("GET", f"/inference-request/request-history/{job_id}", None),
        ("POST", "/upload-asset", {"data_urls": ["data:image/png;base64,AAAA"]}),
    ]:
        response = await fake.http.request(method, path, json=body, headers=bad)
        assert response.status_code == 401, path
        assert response.json()["error"]
    assert len(await fake.jobs()) == 1


async def test_an_unknown_model_is_404_naming_the_closest_slug(fake):
    response = await fake.submit("wan2.1-t2x", WAN21)
    assert response.status_code == 404
    assert "wan2.1-t2x" in response.json()["error"]
    assert "wan2.1-t2v" in response.json()["error"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"prompt": None}, ["prompt"]),
        ({"video_length": 9}, ["video_length", "out of range", "1 to 5"]),
        ({"video_length": "three"}, ["video_length", "expected an integer"]),
        ({"aspect_ratio": "5:4"}, ["aspect_ratio", "not allowed", '"16:9"']),
        ({"promt": "typo"}, ["unknown parameter 'promt'", "did you mean 'prompt'"]),
        ({"base64": "yes"}, ["base64", "true or false"]),
        ({"steps": 5}, ["steps", "10 to 70"]),
    ],
)
async def test_a_bad_body_is_400_with_a_message_naming_the_field_and_the_rule(fake, change, words):
    body = {k: v for k, v in {**WAN21, **change}.items() if v is not None}
    response = await fake.submit("wan2.1-t2v", body)
    assert response.status_code == 400
    message = response.json()["error"]
    for word in words:
        assert word in message


async def test_a_required_field_with_a_default_must_still_be_sent(fake):
    body = {"prompt": "a cat"}
    response = await fake.submit("wan2.1-t2v", body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert "aspect_ratio" in message
    assert "video_length" in message


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"[1, 2]", "got a list"), (b"not json", "not valid JSON"), (b"", "empty"), (b"7", "got an integer")],
)
async def test_a_body_that_is_not_a_json_object_is_400_saying_why(fake, content, why):
    response = await fake.http.post("/v2/wan2.1-t2v", content=content, headers={"x-api-key": "mock-key"})
    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["error"]
    assert why in response.json()["error"]


async def test_a_rejected_submit_creates_nothing(fake):
    await fake.submit("wan2.1-t2v", {**WAN21, "steps": 1})
    await fake.submit("nope", WAN21)
    await fake.submit("wan2.1-t2v", WAN21, key="stolen")
    assert await fake.jobs() == []
    assert [e["created_job"] for e in await fake.journal()] == [False, False, False]


async def test_a_job_moves_from_queued_to_processing_to_completed_as_the_clock_advances(fake):
    await fake.configure({"jitter": 0, "time_scale": 1, "queue_share": 0.5, "latency_s": {"wan2.1-t2v": 10}})
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    seen = []
    for _ in range(4):
        seen.append((await fake.status(job_id)).json()["status"])
        await fake.advance(4)
    assert seen == ["QUEUED", "QUEUED", "PROCESSING", "COMPLETED"]


async def test_a_result_asked_for_too_early_is_202_without_output(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    early = await fake.result(job_id)
    assert early.status_code == 202
    assert early.json()["status"] == "QUEUED"
    assert "output" not in early.json()


async def test_a_completed_result_carries_the_output_url_and_metrics(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    body = await fake.finish(job_id)
    assert body["status"] == "COMPLETED"
    assert body["output"] == f"http://mock.test/files/{job_id}.mp4"
    metrics = body["metrics"]
    assert abs(metrics["total_ms"] - metrics["queue_ms"] - metrics["inference_ms"]) <= 1
    assert metrics["total_ms"] > 0
    assert body["seed"] == 42424242


async def test_a_blocked_prompt_fails_with_a_policy_message_served_as_422(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", {**WAN21, "prompt": "something NSFW here"})
    await fake.finish(job_id)
    for response in (await fake.status(job_id), await fake.result(job_id)):
        assert response.status_code == 422
        assert response.json()["status"] == "FAILED"
        assert "content policy" in response.json()["error"]
        assert "'nsfw'" in response.json()["error"]


async def test_the_block_list_matches_whole_words_only(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", {**WAN21, "prompt": "unsfwish clouds"})
    assert (await fake.finish(job_id))["status"] == "COMPLETED"


async def test_a_blocked_job_goes_from_queued_straight_to_failed(fake):
    await fake.configure({"jitter": 0, "time_scale": 1, "latency_s": {"wan2.1-t2v": 10}, "block_list": ["dragon"]})
    job_id = await fake.submit_ok("wan2.1-t2v", {**WAN21, "prompt": "a Dragon"})
    seen = []
    for _ in range(4):
        seen.append((await fake.status(job_id)).json()["status"])
        await fake.advance(1.5)
    assert seen == ["QUEUED", "QUEUED", "FAILED", "FAILED"]


async def test_an_unknown_path_or_method_answers_json_with_an_error(fake):
    missing = await fake.http.get("/v3/anything", headers={"x-api-key": "mock-key"})
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found: GET /v3/anything"}
    wrong = await fake.http.delete("/v2/wan2.1-t2v", headers={"x-api-key": "mock-key"})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert "Method Not Allowed" in wrong.json()["error"]


async def test_an_unknown_id_is_404(fake):
    response = await fake.status("00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"]


async def test_another_accounts_request_is_404(make_fake):
    fake = await make_fake(keys={"alice": 10, "bob": 10})
    job_id = (await fake.submit("wan2.1-t2v", WAN21, key="alice")).json()["request_id"]
    assert (await fake.status(job_id, key="bob")).status_code == 404
    assert (await fake.status(job_id, key="alice")).status_code == 200


async def test_a_result_is_readable_until_just_before_its_retention_ends_then_404(fake):
    await fake.configure({"retention_s": 100})
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    await fake.finish(job_id)
    job = (await fake.jobs())[0]
    await fake.advance(job["expires_at"] - fake.clock.now() - 0.01)
    assert (await fake.status(job_id)).status_code == 200
    assert (await fake.result(job_id)).status_code == 200
    await fake.advance(0.01)
    assert (await fake.status(job_id)).status_code == 404
    assert (await fake.result(job_id)).status_code == 404
    assert "expired" in (await fake.result(job_id)).json()["error"]


async def test_a_job_still_running_never_expires(fake):
    await fake.configure({"retention_s": 0, "time_scale": 1})
    job_id = await fake.submit_ok("wan2.7-t2v", {"prompt": "slow"})
    await fake.advance(100)
    assert (await fake.status(job_id)).json()["status"] in ("QUEUED", "PROCESSING")


async def test_the_same_seed_gives_the_same_ids_and_timings(make_fake):
    runs = []
    for _ in range(2):
        fake = await make_fake(seed=7)
        for _ in range(3):
            await fake.submit_ok("wan2.1-t2v", WAN21)
        runs.append([(j["id"], j["started_at"], j["finished_at"]) for j in await fake.jobs()])
    other = await make_fake(seed=8)
    await other.submit_ok("wan2.1-t2v", WAN21)
    assert runs[0] == runs[1]
    assert len({job_id for job_id, _, _ in runs[0]}) == 3
    assert (await other.jobs())[0]["id"] != runs[0][0][0]


async def test_job_time_follows_the_model_latency_times_the_time_scale(fake):
    await fake.configure({"time_scale": 0.5, "jitter": 0})
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    job = (await fake.jobs())[0]
    assert job["finished_at"] - job["submitted_at"] == pytest.approx(104.8 * 0.5)
    assert job["id"] == job_id


async def test_the_failure_rate_fails_jobs_with_an_error_and_refunds_them(fake):
    await fake.configure({"failure_rate": 1.0})
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    body = await fake.finish(job_id)
    assert body["status"] == "FAILED"
    assert "simulated failure" in body["error"]
    assert await fake.balance() == 1000.0


async def test_jobs_failing_through_the_failure_rate_report_the_configured_failure_error(fake):
    await fake.configure({"failure_rate": 1.0, "failure_error": "worker crashed while training"})
    job_id = await fake.submit_ok("wan2.1-t2v", WAN21)
    body = await fake.finish(job_id)
    assert (body["status"], body["error"]) == ("FAILED", "worker crashed while training")
    (job,) = await fake.jobs()
    assert job["blocked_term"] is None


async def test_a_blocked_prompt_reads_like_a_moderation_refusal_and_the_fake_records_its_term(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", {**WAN21, "prompt": "something NSFW here"})
    body = await fake.finish(job_id)
    assert body["error"].startswith("Input data may contain inappropriate content")
    assert "moderation" in body["error"]
    (job,) = await fake.jobs()
    assert job["blocked_term"] == "nsfw"

"""Real MP4s: they decode, follow the request's shape and length, carry their request, repeat exactly."""

from __future__ import annotations

import base64
import io

import av
import pytest

from mockserver.media import read_tags
from reconciler import catalog

pytestmark = pytest.mark.anyio

KEY = {"x-api-key": "mock-key"}


def probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "codec": stream.codec_context.name,
            "width": stream.width,
            "height": stream.height,
            "frames": frames,
            "fps": float(stream.average_rate),
            "seconds": frames / float(stream.average_rate),
        }


async def download(fake, slug, body):
    job_id = await fake.submit_ok(slug, body)
    result = await fake.finish(job_id)
    response = await fake.http.get(result["output"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    return job_id, response.content


@pytest.mark.parametrize(
    ("slug", "shape", "seconds"),
    [
        ("wan2.1-t2v", (160, 90), 3),
        ("wan2.7-t2v", (160, 90), 5),
        ("wan-2.5-t2v", (160, 90), 5),
        ("wan2.1-i2v-480p", (160, 90), 3),
        ("wan-2.2-t2v-fast", (160, 90), 81 / 16),
    ],
)
async def test_each_seed_payload_gets_a_decodable_mp4_of_its_shape_and_length(
    fake, seed_payloads, slug, shape, seconds
):
    _, data = await download(fake, slug, seed_payloads[slug])
    info = probe(data)
    assert info["codec"] in ("h264", "mpeg4")
    assert (info["width"], info["height"]) == shape
    assert info["fps"] == 8
    assert info["seconds"] == pytest.approx(seconds, abs=1 / 8)


@pytest.mark.parametrize(
    ("slug", "body", "shape"),
    [
        ("wan2.1-t2v", {"aspect_ratio": "9:16"}, (90, 160)),
        ("wan2.1-t2v", {"aspect_ratio": "1:1"}, (160, 160)),
        ("wan2.7-t2v", {"ratio": "4:3"}, (160, 120)),
        ("wan-2.5-t2v", {"size": "832*480"}, (160, 92)),
        ("wan-2.2-t2v-fast", {"aspect_ratio": "9:16"}, (90, 160)),
    ],
)
async def test_the_frame_follows_the_requested_aspect(fake, seed_payloads, slug, body, shape):
    _, data = await download(fake, slug, {**seed_payloads[slug], **body})
    info = probe(data)
    assert (info["width"], info["height"]) == shape


async def test_the_duration_follows_the_requested_length(fake):
    _, data = await download(fake, "wan2.7-t2v", {"prompt": "x", "duration": 12})
    assert probe(data)["seconds"] == pytest.approx(12)


async def test_the_longest_side_and_frame_rate_are_configurable(make_fake):
    fake = await make_fake(media={"longest_side": 64, "fps": 4})
    _, data = await download(fake, "wan2.7-t2v", {"prompt": "x", "duration": 2})
    info = probe(data)
    assert (info["width"], info["height"], info["frames"]) == (64, 36, 8)


async def test_the_video_carries_its_request_id_and_request_digest(fake, seed_payloads):
    body = seed_payloads["wan-2.5-t2v"]
    job_id, data = await download(fake, "wan-2.5-t2v", body)
    model = catalog.get("wan-2.5-t2v")
    params, _ = catalog.check(model, body, fill_defaults=True)
    assert read_tags(data) == {
        "model": "wan-2.5-t2v",
        "request_id": job_id,
        "request_digest": catalog.request_digest(model, params),
    }


async def test_read_tags_reads_a_file_path_too(fake, tmp_path):
    job_id, data = await download(fake, "wan2.7-t2v", {"prompt": "x"})
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    assert read_tags(path)["request_id"] == job_id


async def test_the_digest_is_the_same_whether_defaults_are_written_out_or_not(fake):
    model = catalog.get("wan2.7-t2v")
    full, _ = catalog.check(model, {"prompt": "x"}, fill_defaults=True)
    sent_full = {k: v for k, v in full.items() if v is not None}
    _, short = await download(fake, "wan2.7-t2v", {"prompt": "x"})
    _, long = await download(fake, "wan2.7-t2v", sent_full)
    assert read_tags(short)["request_digest"] == read_tags(long)["request_digest"]
    assert read_tags(short)["request_id"] != read_tags(long)["request_id"]


async def test_the_same_request_and_seed_give_byte_identical_files(make_fake):
    files = []
    for _ in range(2):
        fake = await make_fake(seed=3)
        files.append((await download(fake, "wan2.1-t2v", {**FIXED, "seed": 5}))[1])
    assert files[0] == files[1]


async def test_a_different_seed_or_prompt_gives_a_different_picture(fake):
    pictures = set()
    for change in ({}, {"seed": 6}, {"prompt": "another"}):
        _, data = await download(fake, "wan2.1-t2v", {**FIXED, "seed": 5, **change})
        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(video=0))
            pictures.add(bytes(frame.planes[0]))
    assert len(pictures) == 3


async def test_every_fetch_of_a_finished_job_returns_the_same_bytes(fake):
    job_id, data = await download(fake, "wan2.1-t2v", FIXED)
    for _ in range(3):
        await fake.advance(60)
        assert (await fake.http.get(f"/files/{job_id}.mp4")).content == data


async def test_a_file_supports_head_and_byte_ranges(fake):
    job_id, data = await download(fake, "wan2.1-t2v", FIXED)
    url = f"/files/{job_id}.mp4"
    head = await fake.http.head(url)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers["accept-ranges"] == "bytes"
    assert head.content == b""
    part = await fake.http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    rest = await fake.http.get(url, headers={"Range": "bytes=100-"})
    assert rest.content == data[100:]
    tail = await fake.http.get(url, headers={"Range": "bytes=-7"})
    assert tail.content == data[-7:]
    beyond = await fake.http.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"


async def test_a_video_does_not_exist_before_its_job_completes(fake):
    job_id = await fake.submit_ok("wan2.1-t2v", FIXED)
    assert (await fake.http.get(f"/files/{job_id}.mp4")).status_code == 404
    assert (await fake.http.get("/files/nothing.mp4")).status_code == 404


async def test_a_padded_video_has_the_configured_size_and_still_decodes(make_fake):
    fake = await make_fake(media={"pad_output_bytes": 300_000})
    job_id, data = await download(fake, "wan2.1-t2v", FIXED)
    assert len(data) == 300_000
    assert probe(data)["frames"] == 16
    assert read_tags(data)["request_id"] == job_id
    part = await fake.http.get(f"/files/{job_id}.mp4", headers={"Range": "bytes=299990-"})
    assert part.content == data[299_990:]


async def test_an_uploaded_image_gets_a_url_on_this_server_usable_for_image_to_video(fake, seed_payloads):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    uploaded = await fake.http.post("/upload-asset", json={"data_urls": [data_url, data_url]}, headers=KEY)
    assert uploaded.status_code == 200
    urls = uploaded.json()["file_urls"]
    assert urls[0] == urls[1]
    assert urls[0].startswith("http://mock.test/files/")
    served = await fake.http.get(urls[0])
    assert (served.content, served.headers["content-type"]) == (png, "image/png")
    job_id = await fake.submit_ok("wan2.1-i2v-480p", {**seed_payloads["wan2.1-i2v-480p"], "image": urls[0]})
    assert (await fake.finish(job_id))["status"] == "COMPLETED"


@pytest.mark.parametrize(
    "body",
    [{}, {"data_urls": []}, {"data_urls": ["http://x/y.png"]}, {"data_urls": ["data:image/png;base64,@@"]}],
)
async def test_a_bad_upload_is_400(fake, body):
    response = await fake.http.post("/upload-asset", json=body, headers=KEY)
    assert response.status_code == 400
    assert response.json()["error"]


FIXED = {"prompt": "a lighthouse", "aspect_ratio": "16:9", "base_model": "14b", "video_length": 2}


@pytest.mark.slow
async def test_two_thousand_jobs_stay_cheap_because_pictures_are_cached(make_fake):
    fake = await make_fake(keys={"mock-key": 1e6})
    ids = [await fake.submit_ok("wan-2.2-t2v-fast", {"prompt": f"p{n % 20}", "seed": n % 5}) for n in range(2000)]
    await fake.advance(60)
    tags = [read_tags((await fake.http.get(f"/files/{job_id}.mp4")).content)["request_id"] for job_id in ids]
    assert tags == ids
    # 20 distinct pictures (n % 20 fixes n % 5, the seed), each encoded once: not 2,000 encodes.
    assert fake.app.state.mock.media.encoded == 20

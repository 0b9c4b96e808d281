"""Hostile servers and settings: the key goes only to the API, and every answer is bounded.

Each test stands up a small host on a loopback alias (a file host on 127.0.0.2, a redirector, a
logger, an API that echoes headers or never stops talking) next to the fake, runs the real CLI
or the client against it, and judges from the hosts' own records.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.api.answers import JobState
from reconciler.api.client import RateFloor, SegmindApi
from reconciler.errors import ApiServerError, ApiUnreachable
from tests.e2e.conftest import KEY, TIME_SCALE, Fake, serving_fake, spec, specs_file
from tests.hostile.conftest import MEMORY_LIMIT
from tests.hostile.hosts import Echo, FileHost, Flood, Logger, Redirector, serve

ONE = specs_file(spec("cat", "a cat on a windowsill"))
SECRET = "SG_5ecret0f1this9account"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[Fake]:
    with serving_fake() as served:
        yield served


def env_for(fake: Fake, **overrides: str) -> dict[str, str]:
    return {**fake.env(), **overrides}


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def attempt_states(project: Path) -> list[str]:
    path = project / ".reconciler" / "state.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    try:
        return [state for (state,) in db.execute("SELECT state FROM attempts")]
    finally:
        db.close()


def store_bytes(project: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (project / ".reconciler").glob("state.sqlite*"))


# ---- issue 12 §1: the key reaches only the API's own hosts


@pytest.mark.timeout(60)
def test_apply_never_sends_the_key_to_the_host_that_serves_the_videos(project, write, cli, fake, monkeypatch):
    write("specs/a.yaml", ONE)
    files = FileHost(origin=fake.url)
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url)
        use(monkeypatch, fake.env())
        run = cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    assert (project / "out" / "cat.mp4").stat().st_size > 0
    assert [s.method for s in files.seen] == ["GET"]
    assert files.with_header("x-api-key") == []


@pytest.mark.timeout(60)
def test_apply_never_follows_a_redirect_off_the_api_with_the_key_or_the_paid_body(project, write, cli, monkeypatch):
    write("specs/a.yaml", ONE)
    logger = Logger()
    with serve(logger.app(), host="127.0.0.2") as elsewhere:
        redirector = Redirector(target=elsewhere)
        with serve(redirector.app()) as api:
            use(monkeypatch, {"SEGMIND_API_KEY": SECRET, "SEGMIND_BASE_URL": api,
                              "SEGMIND_HISTORY_URL": api, "SEGMIND_UPLOAD_URL": api})  # fmt: skip
            run = cli("apply", "--yes")
    assert [s.method for s in redirector.seen if s.method == "POST"] == ["POST"]
    assert logger.seen == []  # neither the key nor the submit's body went there
    assert "Traceback" not in run.out + run.err
    assert run.code in (1, 4), run.out + run.err
    assert "off the API's hosts" in run.out + run.err
    assert SECRET not in run.out + run.err


@pytest.mark.timeout(60)
def test_a_server_that_echoes_the_key_never_puts_it_in_the_store_nor_in_plan(project, write, cli, monkeypatch):
    write("specs/a.yaml", ONE)
    plain_key = "a-key-with-no-telltale-shape-0042"
    for key in (SECRET, plain_key):
        echo = Echo()
        with serve(echo.app()) as api:
            use(monkeypatch, {"SEGMIND_API_KEY": key, "SEGMIND_BASE_URL": api,
                              "SEGMIND_HISTORY_URL": api, "SEGMIND_UPLOAD_URL": api})  # fmt: skip
            applied = cli("apply", "--yes", "--retry-failed")
        assert key in echo.seen[0].headers["x-api-key"]  # the server did have it to echo
        assert applied.code == 1, applied.out + applied.err
        assert "HTTP 400" in applied.out
        assert "[redacted]" in applied.out
        shown = cli("plan").out + cli("plan", "--json").out
        assert "failed" in shown
        for text in (applied.out + applied.err, shown):
            assert key not in text
        assert key.encode() not in store_bytes(project)


@pytest.mark.timeout(60)
def test_an_output_url_with_a_password_is_not_fetched_and_the_paid_job_is_kept(project, write, cli, fake, monkeypatch):
    write("specs/a.yaml", ONE)
    files = FileHost(origin=fake.url)
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url.replace("http://", "http://user:hunter2@"))
        use(monkeypatch, fake.env())
        refused = cli("apply", "--yes")
        assert refused.code == 1, refused.out + refused.err
        assert "user name or password" in refused.out
        assert "hunter2" not in refused.out + refused.err
        assert files.seen == []
        assert attempt_states(project) == ["completed"]

    assert len(fake.submits()) == 1


# ---- issue 13 "Servers": bounded answers


FLOOD_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from reconciler.api.client import SegmindApi
    from reconciler.errors import ApiServerError

    async def main(url):
        async with SegmindApi(api_key="k-12345678", base_url=url, history_url=url, upload_url=url) as api:
            try:
                await api.status("r1")
            except ApiServerError as error:
                print(error)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.timeout(60)
def test_a_status_that_streams_json_forever_is_a_server_error_in_bounded_memory(project):
    flood = Flood()
    with serve(flood.app()) as url:
        done = subprocess.run(
            [sys.executable, "-c", FLOOD_SCRIPT, url],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=50,
            preexec_fn=lambda: __import__("resource").setrlimit(
                __import__("resource").RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)
            ),
            check=False,
        )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0
    assert "status of request r1: the answer (HTTP 200) is larger than 8,388,608 bytes" in done.stdout


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_history_that_claims_a_billion_pages_is_read_only_up_to_the_cap():
    flood = Flood()
    with serve(flood.app()) as url:
        async with SegmindApi(api_key="k-12345678", base_url=url, history_url=url, upload_url=url) as api:
            with pytest.raises(ApiServerError, match="claims 1,000,000,000 pages"):
                await api.history(model="wan-2.2-t2v-fast", since=time.time() - 3600, until=time.time())
    assert len(flood.seen) == 100


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_a_download_trickling_a_byte_at_a_time_is_given_up_by_the_rate_floor(fake):
    files = FileHost(origin=fake.url, mode="trickle", trickle_s=0.2)
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url)
        floor = RateFloor(min_bytes=4096, window_s=1.0)
        async with SegmindApi(api_key=KEY, base_url=fake.url, history_url=fake.url, upload_url=fake.url,
                              download_floor=floor) as api:  # fmt: skip
            output = await _finished_output(api, fake)
            started = time.monotonic()
            with pytest.raises(ApiUnreachable, match="slower than 4,096 bytes in 1 s") as caught:
                await api.download(output, lambda chunk: None, max_bytes=10**8)
            assert time.monotonic() - started < 5
    assert not caught.value.maybe_sent
    assert len(files.seen) == 1


def test_the_default_rate_floor_gives_up_on_a_byte_every_five_seconds_within_a_minute():
    floor = RateFloor()
    assert floor.window_s <= 60
    assert floor.min_bytes > floor.window_s / 5  # a byte every 5 s never fills a window


@pytest.mark.timeout(90)
def test_the_first_ctrl_c_abandons_a_trickling_download_and_the_next_apply_fetches_it_unpaid(project, write, fake):
    write("specs/a.yaml", ONE)
    files = FileHost(origin=fake.url, mode="trickle", trickle_s=1.0)
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url)
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--yes"],
            cwd=project, env={**os.environ, **fake.env()},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 40
            while not files.seen and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert files.seen, "the download never started"
            time.sleep(0.5)
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            out, err = process.communicate(timeout=30)
            took = time.monotonic() - interrupted
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, out + err
    assert took < 10, f"the first Ctrl-C took {took:.1f} s to stop a trickling download"
    assert "Traceback" not in out + err
    assert "completed" in attempt_states(project)
    assert not (project / "out" / "cat.mp4").exists()

    fake.configure(public_url=None)
    again = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--yes"],
        cwd=project, env={**os.environ, **fake.env()}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert (project / "out" / "cat.mp4").stat().st_size > 0
    assert len(fake.submits()) == 1


@pytest.mark.timeout(60)
def test_a_gzipping_file_host_does_not_break_the_whole_video_check(project, write, cli, fake, monkeypatch):
    write("specs/a.yaml", ONE)
    files = FileHost(origin=fake.url, mode="gzip")
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url)
        use(monkeypatch, fake.env())
        run = cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    assert [s.headers.get("accept-encoding") for s in files.seen] == ["identity"]
    assert (project / "out" / "cat.mp4").read_bytes()[4:8] == b"ftyp"


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_a_file_host_that_gzips_unasked_is_decoded_and_its_length_checked(fake):
    files = FileHost(origin=fake.url, mode="gzip-always")
    with serve(files.app(), host="127.0.0.2") as url:
        fake.configure(public_url=url)
        async with SegmindApi(api_key=KEY, base_url=fake.url, history_url=fake.url, upload_url=fake.url) as api:
            output = await _finished_output(api, fake)
            chunks: list[bytes] = []
            size = await api.download(output, chunks.append, max_bytes=10**8)
    video = b"".join(chunks)
    assert size == len(video)
    assert video == fake.http.get(f"/files/{output.rsplit('/', 1)[1]}").content


# ---- issue 13: bad settings are one sentence, exit 1, nothing claimed


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("SEGMIND_BASE_URL", "http://[::1", "SEGMIND_BASE_URL"),
        ("SEGMIND_BASE_URL", "http://127.0.0.1:70000", "SEGMIND_BASE_URL"),
        ("SEGMIND_HISTORY_URL", "ftp://127.0.0.1/", "SEGMIND_HISTORY_URL"),
        ("SEGMIND_API_KEY", "clé-du-compte", "U+00E9"),
        ("SEGMIND_API_KEY", "   ", "the API key (SEGMIND_API_KEY / --api-key) is blank"),
    ],
)
def test_a_bad_setting_is_one_sentence_and_exit_1_with_nothing_claimed(
    project, write, hostile, fake, setting, value, said
):
    write("specs/a.yaml", ONE)
    run = hostile("apply", "--yes", env=env_for(fake, **{setting: value}))
    run.assert_clean_error(said)
    assert attempt_states(project) == []
    assert fake.submits() == []
    if setting == "SEGMIND_API_KEY":
        assert value.strip() == "" or value not in run.text


async def _finished_output(api: SegmindApi, fake: Fake) -> str:
    submitted = await api.submit("wan-2.2-t2v-fast", json.dumps({"prompt": "a fox", "seed": 3}))
    for _ in range(400):
        if (await api.status(submitted.request_id)).state is JobState.COMPLETED:
            break
        fake.advance(1 / TIME_SCALE)
    result = await api.result(submitted.request_id)
    assert result.output_url is not None
    return result.output_url

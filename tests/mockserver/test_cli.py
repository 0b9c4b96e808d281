"""The `mockserver` command as a real process: its first line, its options, its clock."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

pytestmark = pytest.mark.slow

FIRST_LINE = re.compile(r"^mockserver listening on (http://127\.0\.0\.1:(\d+)) \(api key: (.+)\)$")


@contextmanager
def mockserver(*args: str) -> Iterator[tuple[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = FIRST_LINE.match(line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        yield match[1], match[3]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()
            process.stderr.close()


def test_the_command_prints_its_url_and_key_first_and_serves_the_api_in_real_time():
    with mockserver() as (url, key), httpx.Client(base_url=url, headers={"x-api-key": key}) as http:
        assert key == "mock-key"
        config = http.get("/_mock/config").json()
        assert (config["time_scale"], config["retention_s"], config["seed"]) == (0.01, 3600, 0)
        assert config["block_list"] == ["nsfw"]
        assert config["keys"] == {"mock-key": 1000.0}
        assert config["faults"] == []
        assert http.get("/_mock/clock").json()["mode"] == "real"
        submitted = http.post("/v2/wan-2.2-t2v-fast", json={"prompt": "x"}).json()
        status = http.get(submitted["status_url"])
        assert status.json()["status"] in ("QUEUED", "PROCESSING", "COMPLETED")


def test_polls_over_a_kept_alive_connection_take_well_under_the_delayed_ack_time():
    with mockserver("--clock", "virtual") as (url, key), httpx.Client(base_url=url, headers={"x-api-key": key}) as http:
        status_url = http.post("/v2/wan-2.2-t2v-fast", json={"prompt": "x"}).json()["status_url"]
        http.get(status_url)
        start = time.perf_counter()
        for _ in range(25):
            assert http.get(status_url).status_code == 200
        # Without TCP_NODELAY each answer waits ~40 ms for a delayed ACK: 25 polls would take > 1 s.
        assert time.perf_counter() - start < 0.5


def test_the_options_shape_the_configuration(tmp_path):
    config_file = tmp_path / "mock.json"
    config_file.write_text(json.dumps({"media": {"fps": 4}, "retention_s": 5}))
    args = [
        *("--api-key", "one", "--api-key", "two", "--credits", "5", "--rate-limit", "30"),
        *("--time-scale", "0.5", "--retention", "60", "--block", "dragon", "--seed", "9"),
        *("--fault-rate", "0.8", "--config", str(config_file), "--clock", "virtual"),
        *("--failure-rate", "0.25", "--failure-error", "an exception was raised"),
    ]
    with mockserver(*args) as (url, keys), httpx.Client(base_url=url) as http:
        assert keys == "one, two"
        config = http.get("/_mock/config").json()
        assert config["keys"] == {"one": 5.0, "two": 5.0}
        assert config["rate_limit"]["per_minute"] == 30
        assert (config["time_scale"], config["retention_s"], config["seed"]) == (0.5, 60, 9)
        assert config["block_list"] == ["dragon"]
        assert config["media"]["fps"] == 4
        assert sum(config["faults"][0]["probabilities"].values()) == pytest.approx(0.8)
        assert config["faults"][0]["phase"] == "either"
        assert http.get("/_mock/clock").json()["mode"] == "virtual"
        assert (config["failure_rate"], config["failure_error"]) == (0.25, "an exception was raised")


def test_a_bad_option_is_a_usage_error_not_a_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "mockserver", "--fault-rate", "2"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert "fault-rate" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_port_in_use_is_a_one_line_error():
    with mockserver() as (url, _):
        port = url.rsplit(":", 1)[1]
        completed = subprocess.run(
            [sys.executable, "-m", "mockserver", "--port", port],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    assert completed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "Traceback" not in completed.stderr

"""Benchmark: how fast the fake answers `GET /v2/requests/{id}/status`.

    python bench/mock_polls.py [--seconds 5] [--connections 16] [--calls 20000] [--write]

Three figures:
  * the cost of a job's video: encoding a new picture (the seed pages' wan2.7 request: 5 s,
    160x90, 8 fps), and stamping a cached picture with another job's request id;
  * server time per poll: the ASGI app called directly, in process (no sockets, no client), the
    median over `--calls` polls of one job;
  * polls per second over loopback: `python -m mockserver` under uvicorn pinned to one core
    (`taskset -c 0`), driven for `--seconds` by a raw asyncio HTTP/1.1 keep-alive client pinned to
    the other core with `--connections` connections, every answer checked to be a 200.
Prints its section of RESULTS.md, and with --write replaces it there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from machine import describe_machine, publish

from mockserver.app import create_app
from mockserver.clock import VirtualClock
from mockserver.config import Media, MockConfig
from mockserver.media import MediaCache, picture_for
from reconciler import catalog

BODY = {"prompt": "a benchmark", "duration": 5}
SLUG = "wan2.7-t2v"


def video_costs(count: int) -> tuple[float, float, int]:
    """(ms to encode a new picture, ms per further job of a cached picture, bytes per video)."""
    model = catalog.BY_SLUG[SLUG]
    cache = MediaCache(entries=count + 1)
    encodes = []
    for n in range(count):
        params, _ = catalog.check(model, {**BODY, "prompt": f"picture {n}"}, fill_defaults=True)
        picture = picture_for(model, params, 42, Media())
        start = time.perf_counter()
        video = cache.video(picture, request_id=f"{n:036d}", digest="0" * 64)
        encodes.append(time.perf_counter() - start)
    stamps = []
    for n in range(count * 10):
        start = time.perf_counter()
        cache.video(picture, request_id=f"{n:036x}", digest="f" * 64)
        stamps.append(time.perf_counter() - start)
    return statistics.median(encodes) * 1e3, statistics.median(stamps) * 1e3, video.size


async def server_time_per_poll(calls: int) -> list[float]:
    """Seconds per poll, each one the app handling one ASGI request end to end."""
    app = create_app(MockConfig(), VirtualClock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        job_id = (await http.post(f"/v2/{SLUG}", json=BODY, headers={"x-api-key": "mock-key"})).json()["request_id"]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v2/requests/{job_id}/status",
        "raw_path": f"/v2/requests/{job_id}/status".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"x-api-key", b"mock-key")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await app(scope, receive, send)
        samples.append(time.perf_counter() - start)
    assert set(statuses) == {200}, set(statuses)
    return samples


async def hammer(host: str, port: int, path: str, seconds: float, connections: int) -> tuple[int, float]:
    """(answers, elapsed): keep-alive GETs of `path` on `connections` connections for `seconds`."""
    request = f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: mock-key\r\n\r\n".encode()
    length = re.compile(rb"content-length: (\d+)", re.IGNORECASE)
    deadline = time.perf_counter() + seconds
    counts = [0] * connections

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"unexpected answer: {head[:60]!r}")
                match = length.search(head)
                assert match is not None
                await reader.readexactly(int(match[1]))
                counts[index] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    return sum(counts), time.perf_counter() - start


def loopback(seconds: float, connections: int) -> tuple[int, float, str]:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    command = [*pin, sys.executable, "-m", "mockserver", "--port", "0", "--clock", "virtual"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)", line)
        assert match, line
        host, port = match[1], int(match[2])
        with httpx.Client(base_url=f"http://{host}:{port}", headers={"x-api-key": "mock-key"}) as http:
            job_id = http.post(f"/v2/{SLUG}", json=BODY).json()["request_id"]
        if pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        path = f"/v2/requests/{job_id}/status"
        asyncio.run(hammer(host, port, path, 1.0, connections))  # warm up
        answers, elapsed = asyncio.run(hammer(host, port, path, seconds, connections))
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    return answers, elapsed, "server pinned to core 0 and client to core 1 (taskset)" if pin else "not pinned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--write", action="store_true", help="replace the section in bench/RESULTS.md")
    args = parser.parse_args()

    encode_ms, stamp_ms, video_bytes = video_costs(50)
    samples = asyncio.run(server_time_per_poll(args.calls))
    median_us = statistics.median(samples) * 1e6
    p99_us = statistics.quantiles(samples, n=100)[98] * 1e6
    answers, elapsed, pinning = loopback(args.seconds, args.connections)
    rate = answers / elapsed

    command = "python bench/mock_polls.py" + (" --write" if args.write else "")
    if (args.seconds, args.connections, args.calls) != (5.0, 16, 20_000):
        command += f" --seconds {args.seconds:g} --connections {args.connections} --calls {args.calls}"
    section = f"""## mockserver: status polls

{describe_machine()}; `nproc` = {os.cpu_count()}

Command: `{command}` (uvicorn {_version("uvicorn")} with its pure-Python h11 parser, Starlette {_version("starlette")})

| measure | result | goal |
| --- | --- | --- |
| server time per poll (ASGI app called in process, median of {args.calls:,}) | {median_us:.0f} µs (p99 {p99_us:.0f} µs) | well under 1 ms |
| polls per second over loopback, uvicorn on one core ({args.connections} keep-alive connections, {args.seconds:g} s) | {rate:,.0f}/s ({answers:,} answers, all 200) | ≥ 1,500/s |
| a job's video, new picture (5 s, 160x90, 8 fps, H.264; median of 50) | {encode_ms:.1f} ms ({video_bytes:,} bytes) | cheap for thousands of jobs |
| a job's video, cached picture stamped with the job's request id (median of 500) | {stamp_ms * 1000:.0f} µs | |

Over loopback: {pinning}. Each poll goes through the whole gateway (key check, rate limit, fault schedule, journal entry) and computes the job's state from its timestamps and the clock.
"""
    publish(section, write=args.write)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()

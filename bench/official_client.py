"""The official client (segmind 1.3.0) making videos the way its docs show, as one measured process.

    python bench/official_client.py --url URL --jobs N [--threads T] [--interval S] --out DIR

For each of N distinct prompts: `submit_async`, then `job.wait(interval=S)` (the SDK's default
interval is 1.0 s), then the video a user wants, streamed into DIR with httpx. With --threads 1
the jobs run one after another; otherwise a ThreadPoolExecutor of T threads shares one client, as
a script that wants many videos at once would. Prints one JSON line: the videos written and any
failures. bench/throughput.py runs it and takes its wall time and peak memory from outside.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from segmind import DEFAULT_POLL_INTERVAL_S, SegmindClient

MODEL = "wan-2.2-t2v-fast"


def make_one(client: SegmindClient, http: httpx.Client, n: int, interval: float, out: Path) -> int:
    """Submit, wait, download one video; returns its size in bytes."""
    job = client.submit_async(MODEL, prompt=f"scene {n}", seed=n)
    result = job.wait(timeout=600, interval=interval)
    path = out / f"v{n}.mp4"
    with http.stream("GET", result["output"]) as response, path.open("wb") as file:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            file.write(chunk)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the fake's base URL")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--interval", type=float, default=DEFAULT_POLL_INTERVAL_S)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    client = SegmindClient(api_key="mock-key", base_url=f"{args.url}/v1")
    http = httpx.Client(timeout=60)
    failures: list[str] = []
    sizes: list[int] = []

    def one(n: int) -> None:
        try:
            sizes.append(make_one(client, http, n, args.interval, args.out))
        except Exception as exc:  # counted and reported: the benchmark then fails
            failures.append(f"{n}: {exc!r}")

    try:
        if args.threads == 1:
            for n in range(args.jobs):
                one(n)
        else:
            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                list(pool.map(one, range(args.jobs)))
    finally:
        http.close()
        client._client.close()
    print(json.dumps({"videos": len(sizes), "bytes": sum(sizes), "failures": failures[:5]}))


if __name__ == "__main__":
    main()

"""Benchmark: 200 videos of about 5 s each over loopback, the reconciler against the official client.

    python bench/throughput.py [--jobs 200] [--concurrency 64] [--sequential-jobs 10] [--write]

The fake runs as its own process (`python -m mockserver`, real clock) at a time scale where a
wan-2.2-t2v-fast job takes 5 s on average (its queue and run times each jittered +/-20 %), so
its CPU is not the clients' CPU: with two cores or more, the fake is pinned to core 0 and each
client to core 1. Three clients, each a fresh process against a fresh fake (POST /_mock/reset),
each making every video and writing it to disk:

  * `reconciler apply --yes --concurrency 64` on `--jobs` specs with distinct prompts, told the
    fake's time scale (RECONCILER_LATENCY_SCALE) as a user's run knows the catalog's latencies;
  * the official client (segmind 1.3.0) as its docs show: `submit_async`, `job.wait()` at the
    SDK's default interval (1.0 s), then the download (bench/official_client.py), in a
    ThreadPoolExecutor of `--concurrency` threads on the same `--jobs` prompts;
  * the same one job at a time, on `--sequential-jobs` prompts only (200 would take 17 minutes);
    its wall for `--jobs` is extrapolated from its time per job, and labelled so.

Requests are counted from the fake's journal (submit, status, result, download and anything else);
wall time is the whole client process; peak RSS is its `ru_maxrss` from wait4. The ideal wall is
the average job time x ceil(jobs / concurrency).
Prints its section of RESULTS.md, and with --write replaces it there.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from machine import describe_machine, publish

from reconciler import catalog
from reconciler.engine.policy import TokenBucket

MODEL = "wan-2.2-t2v-fast"
JOB_S = 5.0
SCALE = JOB_S / catalog.BY_SLUG[MODEL].avg_latency_s
HERE = Path(__file__).resolve().parent
PINNED = bool(shutil.which("taskset")) and (os.cpu_count() or 1) > 1
KINDS = ("submit", "status", "result", "download", "other")


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command] if PINNED else command


class Fake:
    """`python -m mockserver` in its own process, on the wall clock at the benchmark's time scale."""

    def __init__(self, scale: float = SCALE) -> None:
        command = [sys.executable, "-m", "mockserver", "--port", "0", "--time-scale", repr(scale)]
        self.process = subprocess.Popen(pinned(0, command), stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        if match is None:
            self.process.kill()
            raise SystemExit(f"mockserver did not start: {line!r}")
        self.url = match[0]
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def reset(self, *, seed: int | None = None) -> None:
        """Forget every job; with `seed`, new jobs draw other ids and timings than the last run's."""
        if seed is not None:
            self.http.put("/_mock/config", json={"seed": seed}).raise_for_status()
        self.http.post("/_mock/reset").raise_for_status()

    def requests(self) -> collections.Counter[str]:
        """The journal since the last reset, by kind; a refused request counts under its status too."""
        journal = self.http.get("/_mock/journal").json()
        if journal["dropped"]:
            raise SystemExit(f"the fake's journal dropped {journal['dropped']} entries: raise journal_limit")
        kinds: collections.Counter[str] = collections.Counter()
        for entry in journal["entries"]:
            path = entry["path"]
            kinds[
                "status" if path.endswith("/status")
                else "result" if path.startswith("/v2/requests/")
                else "submit" if path.startswith("/v2/")
                else "download" if path.startswith("/files/")
                else "other"
            ] += 1  # fmt: skip
            if entry["status"] not in (200, 206):
                kinds[f"HTTP {entry['status']}"] += 1
        return kinds

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass(frozen=True)
class Measured:
    """One client process: what it cost from outside."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str


def measure(command: list[str], *, cwd: Path, env: dict[str, str]) -> Measured:
    """Run `command` on core 1 and take its wall time, CPU time and peak RSS (wait4)."""
    with tempfile.TemporaryFile(mode="w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            pinned(1, command), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        assert process.stdout is not None
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        if process.returncode != 0:
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} exited {process.returncode}: {stderr.read()[-2000:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout)


@dataclass(frozen=True)
class Contender:
    label: str
    jobs: int
    concurrency: int
    measured: Measured
    kinds: collections.Counter[str]

    @property
    def requests(self) -> int:
        return sum(self.kinds[kind] for kind in KINDS)

    @property
    def per_job(self) -> float:
        return self.requests / self.jobs

    def ideal_s(self, jobs: int) -> float:
        return JOB_S * math.ceil(jobs / self.concurrency)


def reconciler(fake: Fake, jobs: int, concurrency: int) -> Contender:
    fake.reset()
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        project = Path(tmp)
        (project / "specs").mkdir()
        (project / "specs" / "bench.yaml").write_text(
            "videos:\n"
            + "".join(f"  v{n}:\n    model: {MODEL}\n    prompt: scene {n}\n    seed: {n}\n" for n in range(jobs))
        )
        env = {
            **os.environ,
            "SEGMIND_API_KEY": "mock-key",
            "SEGMIND_BASE_URL": fake.url,
            "SEGMIND_HISTORY_URL": fake.url,
            "SEGMIND_UPLOAD_URL": fake.url,
            "RECONCILER_LATENCY_SCALE": repr(SCALE),
        }
        command = [sys.executable, "-m", "reconciler", "apply", "--yes", "--json", "--concurrency", str(concurrency)]
        measured = measure(command, cwd=project, env=env)
        summary: dict[str, Any] = json.loads(measured.stdout.strip().splitlines()[-1])
        videos = len(list((project / "out").glob("*.mp4")))
        if summary.get("exit_code") != 0 or videos != jobs:
            raise SystemExit(f"apply laid out {videos} of {jobs} videos: {summary.get('counts')}")
    return Contender(f"`reconciler apply --concurrency {concurrency}`", jobs, concurrency, measured, fake.requests())


def official(fake: Fake, jobs: int, threads: int) -> Contender:
    fake.reset()
    with tempfile.TemporaryDirectory(prefix="bench-official-") as tmp:
        command = [sys.executable, str(HERE / "official_client.py"), "--url", fake.url, "--jobs", str(jobs)]
        command += ["--threads", str(threads), "--out", tmp]
        measured = measure(command, cwd=Path(tmp), env=dict(os.environ))
        report = json.loads(measured.stdout.strip().splitlines()[-1])
        if report["videos"] != jobs:
            raise SystemExit(f"the official client made {report['videos']} of {jobs} videos: {report['failures']}")
    label = "official client, one at a time" if threads == 1 else f"official client, {threads} threads"
    return Contender(label, jobs, threads, measured, fake.requests())


def row(contender: Contender, jobs: int, pool: Contender) -> str:
    wall = contender.measured.wall_s
    shown = f"{wall:.1f} s"
    if contender.jobs != jobs:
        wall = wall / contender.jobs * jobs
        shown = f"{wall:.0f} s extrapolated ({shown} for {contender.jobs})"
    ideal = contender.ideal_s(jobs)
    detail = ", ".join(
        f"{kind} {contender.kinds[kind] / contender.jobs:.2f}" for kind in KINDS if contender.kinds[kind]
    )
    refused = ", ".join(f"{k} x{n}" for k, n in sorted(contender.kinds.items()) if k.startswith("HTTP"))
    return (
        f"| {contender.label} | {contender.jobs} | {shown} | {ideal:.0f} s | {wall / ideal:.2f}x"
        f" | {contender.per_job:.2f} ({detail}{'; ' + refused if refused else ''})"
        f" | {'' if contender is pool else f'{pool.per_job / contender.per_job:.2f}x'}"
        f" | {contender.measured.peak_rss_mb:.0f} MB"
        f" | {contender.measured.cpu_s / contender.jobs * 1000:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sequential-jobs", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    args = parser.parse_args()

    fake = Fake()
    try:
        ours = reconciler(fake, args.jobs, args.concurrency)
        pool = official(fake, args.jobs, args.concurrency)
        one = official(fake, args.sequential_jobs, 1)
    finally:
        fake.close()

    command = "python bench/throughput.py"
    if (args.jobs, args.concurrency, args.sequential_jobs) != (200, 64, 10):
        command += f" --jobs {args.jobs} --concurrency {args.concurrency} --sequential-jobs {args.sequential_jobs}"
    ratio = ours.measured.wall_s / ours.ideal_s(args.jobs)
    fewer = pool.per_job / ours.per_job
    walls = ours.measured.wall_s / pool.measured.wall_s
    bucket = TokenBucket.for_concurrency(args.concurrency)
    lines = [
        f"## throughput: {args.jobs} videos of about {JOB_S:g} s, the reconciler and the official client",
        "",
        describe_machine() + f"; segmind {version('segmind')}, httpx {version('httpx')}",
        "",
        f"Command: `{command}`. A fake in its own process (`python -m mockserver --time-scale {SCALE:.4f}`,"
        f" real clock): a {MODEL} job takes {JOB_S:g} s on average, queue and run times each jittered +/-20 %."
        + (" The fake is pinned to core 0, each client to core 1 (taskset)." if PINNED else " Nothing pinned.")
        + " Each client is a fresh process against a freshly reset fake and writes every video to disk;"
        " requests are counted from the fake's journal, peak RSS and CPU from wait4.",
        "",
        "| client | jobs | wall (whole process) | ideal | wall / ideal | requests per job | fewer requests than the thread pool | peak RSS | CPU per job |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        row(ours, args.jobs, pool),
        row(pool, args.jobs, pool),
        row(one, args.jobs, pool),
        "",
        f"Ideal = {JOB_S:g} s x ceil(jobs / concurrency). The official client runs as its docs show:"
        " `submit_async(...)`, `job.wait()` at the SDK's default `interval` of 1.0 s, then the video"
        " streamed to a file; its first status poll is sent right after the submit. Against the real"
        f" API, where this model averages {catalog.BY_SLUG[MODEL].avg_latency_s:g} s, the same 1 s interval"
        f" would cost it about {catalog.BY_SLUG[MODEL].avg_latency_s:.0f} status polls per job; at this time scale"
        f" it costs {pool.kinds['status'] / pool.jobs:.1f}, so the comparison flatters it. The sequential client's"
        " wall for"
        f" {args.jobs} jobs is extrapolated from its {one.jobs} (wall / {one.jobs} x {args.jobs}).",
        "",
        f"The reconciler sends every request of a run through one token bucket, at concurrency {args.concurrency}"
        f" at most {bucket.ceiling:g} requests/s (burst {bucket.burst:g}; `TokenBucket.for_concurrency` in"
        f" reconciler/engine/policy.py): its {ours.requests} requests need at least {ours.requests / bucket.ceiling:.0f} s at that"
        f" rate, against the ideal's {ours.ideal_s(args.jobs):.0f} s"
        + (
            ", so at this time scale the bucket, not the jobs, sets its wall."
            if ours.requests / bucket.ceiling > ours.ideal_s(args.jobs)
            else ": the bucket does not hold it back."
        ),
        "",
        "| goal | measured | met |",
        "| --- | ---: | :---: |",
        f"| wall within 1.25x of ideal at concurrency {args.concurrency} | {ratio:.2f}x | {'yes' if ratio <= 1.25 else 'no'} |",
        f"| at most 5 requests per job | {ours.per_job:.2f} | {'yes' if ours.per_job <= 5 else 'no'} |",
        f"| at least 2x fewer requests than the thread pool at equal wall time (within 10 %) | {fewer:.2f}x fewer, at {walls:.2f}x its wall"
        f" | {'yes' if fewer >= 2 and walls <= 1.1 else 'no'} |",
        "",
    ]
    publish("\n".join(lines), write=args.write)


if __name__ == "__main__":
    main()

"""Benchmark: the shared store (s3://) against the local one, on moto's S3 server over loopback.

    python bench/remote_store.py [--specs 10000] [--jobs 200] [--big-jobs 3] [--big-mb 200] [--runs 3] [--write]

Three figures (issue 15), each whole-process `reconciler` against the same work on a local store:
  * plan of `--specs` specs, all stored, in a bucket of as many output records (warm parse cache),
    twice: with a warm local cache (it holds every output: no request to the bucket) and with an
    empty one (every answer comes from the bucket's listing, bounded by the S3 server's listing
    speed). Goal: at most 2x local;
  * apply of `--jobs` jobs against the fake (in this process, real sockets), wall time and the S3
    requests per video (the server's own count, the open's probe and listing included). Goals:
    within 1.1x of local, at most 6 requests per video;
  * peak RSS of an apply process with a remote store making `--big-jobs` videos of `--big-mb` MB
    (downloaded, then uploaded to the bucket, both streamed). Goal: under 150 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, measured_apply, publish
from plan import fill
from validate import make_specs

from mockserver.app import create_app
from mockserver.clock import RealClock
from mockserver.config import Media, MockConfig
from mockserver.serving import in_thread
from reconciler import keys
from reconciler.records import Output
from reconciler.spec import load
from reconciler.store.claims import output_name, record_bytes
from tests.conftest import S3Server

SCALE = 0.002


def run(cwd: Path, env: dict[str, str], *args: str) -> float:
    return timed(cwd, env, *args)[0]


def timed(cwd: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the reconciler process itself) of `reconciler ARGS`.

    The CPU figure leaves out the time spent waiting for the S3 server (moto, in this process).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], check=False, cwd=cwd, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"reconciler {' '.join(args)} failed: {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def bucket_of(s3: S3Server, wanted: list[str]) -> str:
    """A new bucket holding an output record (prefix `team/`) of each key in `wanted`; its name."""
    bucket = s3.new_bucket()
    client = s3.client()
    digest = "sha256:" + "ab" * 32
    for key in wanted:
        record = Output(key, digest, 5_000_000, "wan2.7-t2v", "req", 0.5, "segmind", None, time.time())
        client.put_object(Bucket=bucket, Key=f"team/{output_name(key, digest, 5_000_000)}", Body=record_bytes(record))
    return bucket


def plan_figures(s3: S3Server, specs: int, runs: int) -> tuple[float, float, float, float, float]:
    """Median seconds of a plan of `specs` stored specs: local, remote with a warm local cache, remote with an
    empty one; then the median CPU seconds of the local plan's process and of the empty-cache one's."""
    work = Path(tempfile.mkdtemp(prefix="bench-remote-plan-"))
    try:
        (work / "specs").mkdir()
        make_specs(work / "specs", files=specs // 100, per_file=100)
        wanted = [keys.entry_key(keys.SEGMIND, e) for e in load([work / "specs"]).entries]
        fill(work / ".reconciler", wanted, 0)
        bucket = bucket_of(s3, wanted)
        local_env = {**os.environ}
        # Warm: the local cache (.reconciler/) holds every output; empty: a cache directory of its own.
        warm_env = {**os.environ, **s3.env(), "RECONCILER_STORE": f"s3://{bucket}/team"}
        empty_env = {**warm_env, "RECONCILER_CACHE": "cache"}
        for env in (local_env, warm_env, empty_env):
            run(work, env, "plan")  # warm the parse cache of each
        local = [timed(work, local_env, "plan") for _ in range(runs)]
        warm = [run(work, warm_env, "plan") for _ in range(runs)]
        empty = [timed(work, empty_env, "plan") for _ in range(runs)]
        return (
            statistics.median(w for w, _ in local), statistics.median(warm), statistics.median(w for w, _ in empty),
            statistics.median(c for _, c in local), statistics.median(c for _, c in empty),
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def apply_once(s3: S3Server, jobs: int, *, remote: bool, pad_bytes: int = 0) -> tuple[float, int, float]:
    """(wall seconds, S3 requests, peak RSS MB) of one `reconciler apply --yes` of `jobs` new videos."""
    config = MockConfig(time_scale=SCALE, media=Media(pad_output_bytes=pad_bytes) if pad_bytes else Media())
    with tempfile.TemporaryDirectory() as tmp, in_thread(create_app(config, RealClock())) as url:
        project = Path(tmp)
        (project / "specs").mkdir()
        (project / "specs" / "many.yaml").write_text(
            "videos:\n"
            + "".join(
                f"  v{n}:\n    model: wan-2.2-t2v-fast\n    prompt: video {n}\n    seed: {n}\n" for n in range(jobs)
            )
        )
        env = {
            **os.environ, "SEGMIND_API_KEY": "mock-key", "SEGMIND_BASE_URL": url, "SEGMIND_HISTORY_URL": url,
            "SEGMIND_UPLOAD_URL": url, "RECONCILER_LATENCY_SCALE": str(SCALE),
        }  # fmt: skip
        if remote:
            env |= {**s3.env(), "RECONCILER_STORE": f"s3://{s3.new_bucket()}/team"}
        before = len(s3.requests)
        rss_mb, wall = measured_apply(project, env, "--concurrency", "16")
        if len(list((project / "out").glob("*.mp4"))) != jobs:
            raise SystemExit("apply did not lay out every video")
        return wall, len(s3.requests) - before, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--big-jobs", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    s3 = S3Server()
    try:
        local_plan, warm_plan, empty_plan, local_cpu, empty_cpu = plan_figures(s3, options.specs, options.runs)
        local_walls = [apply_once(s3, options.jobs, remote=False)[0] for _ in range(options.runs)]
        remote_runs = [apply_once(s3, options.jobs, remote=True) for _ in range(options.runs)]
        big = apply_once(s3, options.big_jobs, remote=True, pad_bytes=options.big_mb << 20)
    finally:
        s3.close()
    local_apply = statistics.median(local_walls)
    remote_apply = statistics.median(r[0] for r in remote_runs)
    per_video = max(r[1] for r in remote_runs) / options.jobs
    command = (
        f"python bench/remote_store.py --specs {options.specs} --jobs {options.jobs} --big-jobs {options.big_jobs}"
        f" --big-mb {options.big_mb} --runs {options.runs}"
    )
    section = "\n".join(
        [
            "## shared store (s3://) against the local store",
            "",
            describe_machine(),
            "",
            f"Command: `{command}` (moto's S3 server, one request at a time, on loopback in the benchmark's"
            f" process; the fake at time scale {SCALE}; whole processes, medians of {options.runs} runs)",
            "",
            "| measure | local | remote | ratio | goal |",
            "| --- | --- | --- | --- | --- |",
            f"| plan of {options.specs:,} stored specs, warm local cache (it holds every output) | {local_plan:.2f} s"
            f" | {warm_plan:.2f} s | {warm_plan / local_plan:.2f}x | ≤ 2x |",
            f"| plan of {options.specs:,} stored specs, empty local cache (listings of the bucket; moto-bound)"
            f" | {local_plan:.2f} s | {empty_plan:.2f} s | {empty_plan / local_plan:.2f}x | ≤ 2x |",
            f"| the same, CPU of the plan process alone (what is not waiting for moto)"
            f" | {local_cpu:.2f} s | {empty_cpu:.2f} s | {empty_cpu / local_cpu:.2f}x | |",
            f"| apply of {options.jobs} jobs against the fake, concurrency 16 | {local_apply:.2f} s | {remote_apply:.2f} s"
            f" | {remote_apply / local_apply:.2f}x | ≤ 1.1x |",
            f"| S3 requests per video (worst run, probe and listings included) | | {per_video:.2f} | | ≤ 6 |",
            f"| peak RSS of apply, {options.big_jobs} videos of {options.big_mb} MB, remote store | | {big[2]:.0f} MB"
            " | | < 150 MB |",
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

"""Benchmark: what one apply costs in requests, memory and time.

    python bench/apply.py [--jobs 100] [--big-jobs 20] [--big-mb 200] [--write]

Three figures:
  * requests per job: the engine against the fake on one simulated clock (tests/engine/simulation.py),
    `--jobs` jobs per model at concurrency 8, the fake's job times within +/-20 % of the catalog's
    average latency; every request the client sends is counted (submit, polls, result, download);
  * peak memory of a real `reconciler apply` process downloading `--big-jobs` videos of `--big-mb`
    MB each over loopback from a fake served in this process (the fake pads its MP4s), against the
    same run with small videos: streamed, so it should not grow with the video size (goal: under
    150 MB for 20 of 200 MB). The videos land in a temporary directory, removed at the end;
  * the quick start: `reconciler apply --mock` of the example specs in a fresh directory, whole process.
Prints its section of RESULTS.md, and with --write replaces it there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from latency import kinds_of
from machine import ROOT, describe_machine, measured_apply, publish

from mockserver.app import create_app
from mockserver.clock import RealClock
from mockserver.config import Media, MockConfig
from mockserver.serving import in_thread
from tests.engine.simulation import Simulation

MODELS = ("wan-2.2-t2v-fast", "wan2.1-t2v", "wan2.7-t2v")


def requests_per_job(jobs: int) -> list[tuple[str, float, dict[str, float]]]:
    rows = []
    for model in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            sim = Simulation(Path(tmp), MockConfig(time_scale=1.0, jitter=0.2))
            text = "videos:\n" + "".join(
                f"  v{i}:\n    model: {model}\n    prompt: scene {i}\n    seed: {i}\n" for i in range(jobs)
            )
            works = sim.works(text)
            outcomes, _ = sim.run(works, concurrency=8, seed=1)
            if any(o.phase.value != "stored" for o in outcomes):
                raise SystemExit(f"{model}: not every job was stored")
            kinds = kinds_of(sim.requests)
            rows.append((model, len(sim.requests) / jobs, {k: v / jobs for k, v in sorted(kinds.items())}))
    return rows


def apply_peak_rss(jobs: int, pad_bytes: int) -> tuple[float, float]:
    """(peak RSS in MB of an apply process, its wall seconds) making `jobs` videos of about pad_bytes."""
    config = MockConfig(time_scale=0.002, media=Media(pad_output_bytes=pad_bytes))
    with tempfile.TemporaryDirectory() as tmp, in_thread(create_app(config, RealClock())) as url:
        project = Path(tmp)
        free = shutil.disk_usage(project).free
        if free < jobs * pad_bytes + (1 << 30):
            raise SystemExit(f"{jobs} videos of {pad_bytes:,} bytes need more than the {free >> 20:,} MB free in {tmp}")
        (project / "specs").mkdir()
        (project / "specs" / "big.yaml").write_text(
            "videos:\n"
            + "".join(
                f"  v{n}:\n    model: wan-2.2-t2v-fast\n    prompt: video {n}\n    seed: {n}\n" for n in range(jobs)
            )
        )
        env = {
            **os.environ,
            "SEGMIND_API_KEY": "mock-key",
            "SEGMIND_BASE_URL": url,
            "SEGMIND_HISTORY_URL": url,
            "SEGMIND_UPLOAD_URL": url,
            "RECONCILER_LATENCY_SCALE": "0.002",
        }
        rss_mb, wall = measured_apply(project, env)
        sizes = [p.stat().st_size for p in (project / "out").glob("*.mp4")]
        if len(sizes) != jobs or min(sizes) < pad_bytes:
            raise SystemExit(f"apply laid out {len(sizes)} videos, not {jobs} of {pad_bytes} bytes")
        return rss_mb, wall


def quick_start() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "specs", Path(tmp) / "specs")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "reconciler", "apply", "--mock"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--big-jobs", type=int, default=20)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    rows = requests_per_job(args.jobs)
    small_rss, small_wall = apply_peak_rss(args.big_jobs, 0)
    big = args.big_mb << 20
    big_rss, big_wall = apply_peak_rss(args.big_jobs, big)
    quick = quick_start()

    lines = [
        "## reconciler apply: requests per job, memory, the quick start",
        "",
        describe_machine(),
        "",
        f"Requests per job (`python bench/apply.py --jobs {args.jobs}`; simulated clock, {args.jobs} jobs per model,",
        "concurrency 8, job times within +/-20 % of the model's average; goal: about 4-5):",
        "",
        "| model | requests per job | of which |",
        "| --- | ---: | --- |",
    ]
    for model, per_job, kinds in rows:
        detail = ", ".join(f"{kind} {count:.2f}" for kind, count in kinds.items())
        lines.append(f"| {model} | {per_job:.2f} | {detail} |")
    lines += [
        "",
        f"Peak memory of one `reconciler apply --yes` process (default concurrency, 4 downloads at once) making"
        f" {args.big_jobs} videos over loopback, streamed to disk (`--big-jobs {args.big_jobs} --big-mb {args.big_mb}`):",
        "",
        "| videos | in all | peak RSS | wall | goal |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| {args.big_jobs} x ~20 KB | {args.big_jobs * 20 / 1024:.1f} MB | {small_rss:.0f} MB | {small_wall:.1f} s | |",
        f"| {args.big_jobs} x {args.big_mb} MB | {args.big_jobs * big / 2**30:.1f} GiB | {big_rss:.0f} MB"
        f" | {big_wall:.1f} s ({args.big_jobs * big / 2**20 / big_wall:.0f} MB/s) | under 150 MB |",
        "",
        f"Quick start (`reconciler apply --mock` of `specs/`, 11 videos, whole process, fresh directory): {quick:.1f} s",
        "",
    ]
    section = "\n".join(lines)
    publish(section, write=args.write)


if __name__ == "__main__":
    main()

"""Benchmark: what one apply costs in requests, memory and time.

    python bench/apply.py [--jobs 100] [--write]

Three figures:
  * requests per job: the engine against the fake on one simulated clock (tests/engine/simulation.py),
    `--jobs` jobs per model at concurrency 8, the fake's job times within +/-20 % of the catalog's
    average latency; every request the client sends is counted (submit, polls, result, download);
  * peak memory of a real `reconciler apply` process downloading two 300 MB videos over loopback
    from a fake served in this process, against the same run with small videos (streamed, so it
    should not grow with the video size);
  * the quick start: `reconciler apply --mock` of the example specs in a fresh directory, whole process.
Prints its section of RESULTS.md, and with --write replaces it there.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, publish

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mockserver.app import create_app  # noqa: E402
from mockserver.clock import RealClock  # noqa: E402
from mockserver.config import Media, MockConfig  # noqa: E402
from mockserver.serving import in_thread  # noqa: E402
from tests.engine.simulation import Simulation  # noqa: E402

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
            kinds: collections.Counter[str] = collections.Counter()
            for request in sim.requests:
                path = request.url.path
                kinds[
                    "status" if path.endswith("/status")
                    else "result" if "/requests/" in path
                    else "download" if "/files/" in path
                    else "submit" if request.method == "POST"
                    else "other"
                ] += 1  # fmt: skip
            rows.append((model, len(sim.requests) / jobs, {k: v / jobs for k, v in sorted(kinds.items())}))
    return rows


def apply_peak_rss(pad_bytes: int) -> tuple[float, float]:
    """(peak RSS in MB of an apply process, its wall seconds) making two videos of about pad_bytes."""
    config = MockConfig(time_scale=0.002, media=Media(pad_output_bytes=pad_bytes))
    with tempfile.TemporaryDirectory() as tmp, in_thread(create_app(config, RealClock())) as url:
        project = Path(tmp)
        (project / "specs").mkdir()
        (project / "specs" / "big.yaml").write_text(
            "videos:\n"
            "  one:\n    model: wan-2.2-t2v-fast\n    prompt: one\n    seed: 1\n"
            "  two:\n    model: wan-2.2-t2v-fast\n    prompt: two\n    seed: 2\n"
        )
        env = {
            **os.environ,
            "SEGMIND_API_KEY": "mock-key",
            "SEGMIND_BASE_URL": url,
            "SEGMIND_HISTORY_URL": url,
            "SEGMIND_UPLOAD_URL": url,
            "RECONCILER_LATENCY_SCALE": "0.002",
        }
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter();"
            "code = subprocess.call([sys.executable, '-m', 'reconciler', 'apply', '--yes'],"
            " stdout=subprocess.DEVNULL); wall = time.perf_counter() - t;"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, wall, code)"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], check=False, cwd=project, env=env, capture_output=True, text=True
        )
        rss_kb, wall, code = out.stdout.split()
        if code != "0":
            raise SystemExit(f"apply failed: {out.stderr}")
        sizes = [p.stat().st_size for p in (project / "out").glob("*.mp4")]
        if len(sizes) != 2 or min(sizes) < pad_bytes:
            raise SystemExit(f"apply laid out {sizes}, not two videos of {pad_bytes} bytes")
        return int(rss_kb) / 1024, float(wall)


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
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    rows = requests_per_job(args.jobs)
    small_rss, small_wall = apply_peak_rss(0)
    big = 300 << 20
    big_rss, big_wall = apply_peak_rss(big)
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
        "Peak memory of one `reconciler apply --yes` process making two videos over loopback (streamed to disk):",
        "",
        "| video size | peak RSS | wall |",
        "| --- | ---: | ---: |",
        f"| ~20 KB | {small_rss:.0f} MB | {small_wall:.1f} s |",
        f"| {big >> 20} MB | {big_rss:.0f} MB | {big_wall:.1f} s |",
        "",
        f"Quick start (`reconciler apply --mock` of `specs/`, 11 videos, whole process, fresh directory): {quick:.1f} s",
        "",
    ]
    section = "\n".join(lines)
    publish(section, write=args.write)


if __name__ == "__main__":
    main()

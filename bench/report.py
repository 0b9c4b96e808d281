"""Benchmark: whole-process `reconciler report` of 1,000 stored videos, and the page in headless Chromium.

    python bench/report.py [--videos 1000] [--runs 3] [--write]

The store is filled through its public API: a distinct tiny MP4 per spec (the fake's own encoder,
160x90, 5 s at 8 fps), `blob_writer`, `record_output`, and `layout` into out/. Cold is a report with
no poster cache (every poster decoded and encoded), warm the next one (posters cached by digest).
Goals (issue 16): cold within 10 s, warm under 1 s, the HTML under 2 MB, and the page interactive
(its script has run: filters armed) in headless Chromium within 2 s.
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

from machine import describe_machine, publish, timing_table

from mockserver.config import Media
from mockserver.media import encode, picture_for
from reconciler import catalog, keys
from reconciler.spec import load
from reconciler.store import Store
from tests.conftest import put_blob

MODEL = "wan-2.2-t2v-fast"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def make_project(work: Path, videos: int) -> None:
    (work / "specs").mkdir()
    per_file = 100
    for start in range(0, videos, per_file):
        lines = ["videos:"]
        for n in range(start, min(videos, start + per_file)):
            tag = ("coast", "city", "forest")[n % 3]
            lines += [f"  scene-{n:04d}:", f"    model: {MODEL}", f"    prompt: scene number {n}, a slow pan",
                      f"    seed: {n + 1}", f"    tags: [{tag}]"]  # fmt: skip
        (work / "specs" / f"s{start // per_file:03d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = catalog.BY_SLUG[MODEL]
    entries = load([work / "specs"]).entries
    with Store.open(work / ".reconciler") as store:
        wanted = {}
        for entry in entries:
            key = keys.entry_key(keys.SEGMIND, entry)
            params, _ = catalog.check(model, dict(entry.params), fill_defaults=True)
            video = encode(picture_for(model, params, int(entry.params["seed"]), Media()), f"bench {entry.name}")
            blob = put_blob(store, [video])
            store.record_output(key, digest=blob.digest, size=blob.size, model=MODEL, request_id=f"req-{entry.name}",
                                cost_usd=model.avg_cost_usd, namespace=keys.SEGMIND, name_hint=entry.name)  # fmt: skip
            wanted[entry.name] = blob.digest
        store.layout(work / "out", wanted)


def timed_report(work: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole `reconciler report` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "reconciler", "report"], cwd=work, capture_output=True, text=True,
                          check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"report failed: {done.stderr[:2000]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def interactive(index: Path, runs: int) -> list[float]:
    """Seconds from navigation to the page's script having armed the filters, in a fresh page each run."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("no chromium on PATH: apt-get install chromium")
    samples = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            start = time.perf_counter()
            page.goto(index.as_uri(), wait_until="commit")
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)
            samples.append(time.perf_counter() - start)
            page.close()
        browser.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        began = time.perf_counter()
        make_project(work, options.videos)
        filled = time.perf_counter() - began
        colds, warms, cold_cpu, warm_cpu = [], [], [], []
        for _ in range(options.runs):
            shutil.rmtree(work / ".reconciler" / "cache" / "posters", ignore_errors=True)
            shutil.rmtree(work / "report", ignore_errors=True)
            for walls, cpus in ((colds, cold_cpu), (warms, warm_cpu)):
                wall, cpu = timed_report(work)
                walls.append(wall)
                cpus.append(cpu)
        index = work / "report" / "index.html"
        size = index.stat().st_size
        posters = sum(p.stat().st_size for p in (work / "report" / "posters").iterdir())
        ready = interactive(index, options.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_now = os.getloadavg()[0]
    section = "\n".join(
        [
            f"## reconciler report: {options.videos:,} stored videos",
            "",
            describe_machine() + f"; load average {load_now:.2f} when it finished (the machine is shared)",
            "",
            f"Command: `python bench/report.py --videos {options.videos} --runs {options.runs}` (whole process,"
            f" median of {options.runs} runs; store filled through its public API in {filled:.1f} s, one distinct"
            " 160x90 5 s H.264 video per spec, laid out in out/)",
            "",
            *timing_table(
                [
                    ("cold (no poster cached: every poster decoded), wall", colds, "≤ 10 s"),
                    ("cold, CPU time (user + system)", cold_cpu, ""),
                    ("warm (posters cached by blob digest), wall", warms, "< 1 s"),
                    ("warm, CPU time (user + system)", warm_cpu, ""),
                    ("page interactive in headless Chromium (navigation to filters armed)", ready, "≤ 2 s"),
                ]
            ),
            "",
            f"index.html: {size / 1e6:.2f} MB (goal < 2 MB); posters: {posters / 1e6:.2f} MB in"
            f" {options.videos:,} files; median interactive {statistics.median(ready):.2f} s.",
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

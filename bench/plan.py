"""Benchmark: whole-process `reconciler plan` with 10,000 specs, all stored, in a store of 100,000 outputs.

    python bench/plan.py [--runs 5] [--write]

Cold is the first run (no parse cache), warm is a run with no spec file changed. Goals (issue 4):
warm at most 1 s, cold at most 2.5 s on a 2-core machine, store lookups a small part of it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, publish, timing_table
from validate import make_specs

from reconciler import keys
from reconciler.records import OUTPUT_COLUMNS
from reconciler.spec import load
from reconciler.store import Store
from reconciler.store.db import Database


def fill(root: Path, wanted: list[str], extra: int) -> None:
    Store.open(root).close()
    now = time.time()
    filler = ("sha256:" + hashlib.sha256(f"other-{n}".encode()).hexdigest() for n in range(extra))
    with Database.open(root / "state.sqlite", readonly=False) as db, db.write() as tx:
        tx.executemany(
            f"INSERT INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (k, "sha256:" + "ab" * 32, 5_000_000, "wan2.7-t2v", "req", 0.5, "segmind", None, now)
                for k in [*wanted, *filler]
            ),
        )


def timed(cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan"], cwd=cwd, capture_output=True, check=False, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"plan failed: {done.stderr[:2000]}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    try:
        (work / "specs").mkdir()
        make_specs(work / "specs")
        wanted = [keys.entry_key(keys.SEGMIND, e) for e in load([work / "specs"]).entries]
        fill(work / ".reconciler", wanted, 100_000 - len(wanted))
        colds, warms = [], []
        last = ""
        for _ in range(options.runs):
            shutil.rmtree(work / ".reconciler" / "cache", ignore_errors=True)
            colds.append(timed(work)[0])
            seconds, last = timed(work)
            warms.append(seconds)
        section = "\n".join(
            [
                "## reconciler plan: 10,000 specs, all stored, 100,000 outputs in the store",
                "",
                describe_machine(),
                "",
                f"Command: `python bench/plan.py --runs {options.runs}` (whole process, median of {options.runs} runs; "
                f"the plan's last line: `{last}`)",
                "",
                *timing_table(
                    [("cold (no parse cache)", colds, "≤ 2.5 s"), ("warm (no spec changed)", warms, "≤ 1 s")]
                ),
                "",
            ]
        )
        publish(section, write=options.write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

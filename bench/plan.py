"""Benchmark: whole-process `reconciler plan` with 10,000 and 100,000 specs, all stored.

    python bench/plan.py [--specs 10000 100000] [--outputs 100000] [--runs 5] [--write]

For each size, the specs are 100 per file (the shape of bench/validate.py) and every one of them
is stored, in a store of at least `--outputs` outputs (the rest orphans). Cold is a run with no
parse cache, warm a run with no spec changed. Goals (issue 4), for 10,000 specs on a 2-core
machine: warm at most 1 s, cold at most 2.5 s; 100,000 shows how it scales (no goal set).
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
from tests.conftest import put_blob


def fill(root: Path, wanted: list[str], extra: int) -> None:
    with Store.open(root) as store:
        digest = put_blob(store, [b"one video for every output"]).digest  # plan checks that the blob is there
    now = time.time()
    filler = ("sha256:" + hashlib.sha256(f"other-{n}".encode()).hexdigest() for n in range(extra))
    with Database.open(root / "state.sqlite", readonly=False) as db, db.write() as tx:
        tx.executemany(
            f"INSERT INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((k, digest, 5_000_000, "wan2.7-t2v", "req", 0.5, "segmind", None, now) for k in [*wanted, *filler]),
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


def measure(specs: int, outputs: int, runs: int) -> tuple[list[float], list[float], str]:
    """(cold seconds, warm seconds, the plan's last line) for `specs` specs, all stored."""
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    try:
        (work / "specs").mkdir()
        make_specs(work / "specs", files=specs // 100, per_file=100)
        wanted = [keys.entry_key(keys.SEGMIND, e) for e in load([work / "specs"]).entries]
        fill(work / ".reconciler", wanted, max(0, outputs - len(wanted)))
        colds, warms = [], []
        last = ""
        for _ in range(runs):
            shutil.rmtree(work / ".reconciler" / "cache", ignore_errors=True)
            colds.append(timed(work)[0])
            seconds, last = timed(work)
            warms.append(seconds)
        return colds, warms, last
    finally:
        shutil.rmtree(work, ignore_errors=True)


GOALS = {10_000: ("≤ 2.5 s", "≤ 1 s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, nargs="+", default=[10_000, 100_000], help="sizes, multiples of 100")
    parser.add_argument("--outputs", type=int, default=100_000, help="at least this many outputs in the store")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    rows: list[tuple[str, list[float], str]] = []
    lasts = []
    for size in options.specs:
        colds, warms, last = measure(size, options.outputs, options.runs)
        cold_goal, warm_goal = GOALS.get(size, ("", ""))
        rows += [(f"{size:,} specs, cold (no parse cache)", colds, cold_goal)]
        rows += [(f"{size:,} specs, warm (no spec changed)", warms, warm_goal)]
        lasts.append(f"`{last}`")
    command = "python bench/plan.py"
    if options.specs != [10_000, 100_000]:
        command += " --specs " + " ".join(map(str, options.specs))
    if options.outputs != 100_000:
        command += f" --outputs {options.outputs}"
    command += f" --runs {options.runs}"
    section = "\n".join(
        [
            "## reconciler plan: " + " and ".join(f"{n:,}" for n in options.specs) + " specs, all stored",
            "",
            describe_machine(),
            "",
            f"Command: `{command}` (whole process, median of {options.runs} runs; specs 100 to a file, every one"
            f" stored, in a store of at least {options.outputs:,} outputs; the plans' last lines: {', '.join(lasts)})",
            "",
            *timing_table(rows),
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

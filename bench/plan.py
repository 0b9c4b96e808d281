"""Benchmark: whole-process `reconciler plan` with 10, 10,000 and 100,000 specs, all stored.

    python bench/plan.py [--specs 10 10000 100000] [--outputs 100000] [--runs 5] [--cold-runs N]
                         [--before REVISION] [--write]

For each size, the specs are 100 per file (the shape of bench/validate.py) and every one of them
is stored, in a store of at least `--outputs` outputs (the rest orphans), each output its own
blob file. Cold is a run with no parse cache (nor any other cache), warm a run with no spec changed.
Runs alternate cold and warm; `--cold-runs N` makes only the first N runs of each size cold (the
cold 100,000-spec plan takes ten seconds a run, and `python -m bench` has ten minutes for all). `--before REVISION`
measures the reconciler of that git revision too, taking turns with this one. Each run is one process, measured from outside:
wall and CPU seconds, peak RSS. Goals on a 2-core machine: issue 4, 10,000 specs warm at most
1 s and cold at most 2.5 s; issue 17, 100,000 specs warm at most 1.5 s in under 400 MB, and a warm
plan of 10,000 specs at most 1.5 times a warm plan of 10.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import ROOT, Measured, describe_machine, measured, publish
from startup import checkout, environment
from validate import make_specs

from reconciler import keys
from reconciler.records import OUTPUT_COLUMNS
from reconciler.spec import load
from reconciler.store.db import Database

SIZES = [10, 10_000, 100_000]
WALL_GOALS = {10_000: ("≤ 2.5 s", "≤ 1 s"), 100_000: ("", "≤ 1.5 s")}
RSS_GOALS = {100_000: "< 400 MB"}


def fill(root: Path, wanted: list[str], extra: int, tree: Path = ROOT) -> None:
    """Every wanted key stored, and `extra` other outputs: each its own small blob, as in a real store
    (plan looks at every stored video's file, so one blob shared by all would flatter it). The store is
    made by the reconciler of `tree`, in its schema: an older reconciler refuses a newer store."""
    create = f"from pathlib import Path; from reconciler.store import Store; Store.open(Path({str(root)!r})).close()"
    subprocess.run([sys.executable, "-c", create], cwd=root.parent, env=environment(tree), check=True)
    objects = root / "objects" / "sha256"
    for n in range(256):
        (objects / f"{n:02x}").mkdir(exist_ok=True)
    base = str(objects)
    now = time.time()
    filler = ("sha256:" + hashlib.sha256(f"other-{n}".encode()).hexdigest() for n in range(extra))
    rows = []
    for n, key in enumerate([*wanted, *filler]):
        data = b"one video for output %d" % n
        hexdigest = hashlib.sha256(data).hexdigest()
        with open(f"{base}/{hexdigest[:2]}/{hexdigest[2:]}", "wb") as blob:
            blob.write(data)
        rows.append((key, f"sha256:{hexdigest}", len(data), "wan2.7-t2v", "req", 0.5, "segmind", None, now))
    with Database.open(root / "state.sqlite", readonly=False) as db, db.write() as tx:
        tx.executemany(f"INSERT INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def measure(
    specs: int, outputs: int, runs: int, trees: list[Path], cold_runs: int | None = None
) -> list[tuple[list[Measured], list[Measured]]]:
    """(cold runs, warm runs) of `plan` over `specs` specs, all stored, for the reconciler of each tree.

    Each tree plans its own copy of the project (a parse cache is its code's own); the trees take
    turns run by run, so a burst of load elsewhere falls on all of them alike.
    """
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    try:
        projects = []
        for n, tree in enumerate(trees):
            project = work / str(n)
            (project / "specs").mkdir(parents=True)
            make_specs(project / "specs", files=max(1, specs // 100), per_file=min(specs, 100))
            wanted = [keys.entry_key(keys.SEGMIND, e) for e in load([project / "specs"]).entries]
            fill(project / ".reconciler", wanted, max(0, outputs - len(wanted)), tree)
            projects.append(project)
        results: list[tuple[list[Measured], list[Measured]]] = [([], []) for _ in trees]
        for run in range(runs):
            for tree, project, (colds, warms) in zip(trees, projects, results, strict=True):
                if cold_runs is None or run < max(1, cold_runs):
                    shutil.rmtree(project / ".reconciler" / "cache", ignore_errors=True)
                    colds.append(measured(project, environment(tree), "plan"))
                warms.append(measured(project, environment(tree), "plan"))
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def row(label: str, runs: list[Measured], wall_goal: str, rss_goal: str) -> str:
    walls = [r.wall_s for r in runs]
    cpu = statistics.median(r.cpu_s for r in runs)
    rss = max(r.rss_mb for r in runs)
    return (
        f"| {label} | {statistics.median(walls):.2f} s | {min(walls):.2f} s | {max(walls):.2f} s | {cpu:.2f} s"
        f" | {rss:.0f} MB | {' · '.join(g for g in (wall_goal, rss_goal) if g)} |"
    )


def _sizes(sizes: list[int]) -> str:
    shown = [f"{n:,}" for n in sizes]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, nargs="+", default=SIZES, help="sizes (100 specs to a file)")
    parser.add_argument("--outputs", type=int, default=100_000, help="at least this many outputs in the store")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-runs", type=int, metavar="N", help="only the first N runs of each size are cold")
    parser.add_argument("--before", metavar="REVISION", help="also measure this git revision, taking turns with it")
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    rows = ["| run | median | best | worst | CPU (median) | peak RSS | goal |", *["| --- " * 7 + "|"]]
    lasts = []
    warm: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-plan-before-") as elsewhere:
        trees = [("", ROOT)]
        old = checkout(options.before, Path(elsewhere) / "before") if options.before else None
        if old is not None:
            trees.append((f", before: {options.before}", old))
        for size in options.specs:
            results = measure(size, options.outputs, options.runs, [tree for _, tree in trees], options.cold_runs)
            cold_goal, warm_goal = WALL_GOALS.get(size, ("", ""))
            for (suffix, _), (colds, warms) in zip(trees, results, strict=True):
                goals = ("", "", "") if suffix else (cold_goal, warm_goal, RSS_GOALS.get(size, ""))
                rows.append(row(f"{size:,} specs, cold (no parse cache){suffix}", colds, goals[0], ""))
                rows.append(row(f"{size:,} specs, warm (no spec changed){suffix}", warms, goals[1], goals[2]))
                warm[size, suffix] = statistics.median(r.wall_s for r in warms)
            lasts.append(f"`{results[0][1][-1].last_line}`")
    ratio = []
    for suffix, _ in trees:
        if (10, suffix) in warm and (10_000, suffix) in warm:
            ratio.append(
                f"Warm 10,000 specs / warm 10 specs{suffix}: {warm[10_000, suffix] / warm[10, suffix]:.2f}x"
                + ("" if suffix else " (goal ≤ 1.5x).")
            )
    if ratio:
        ratio.insert(0, "")
    command = "python bench/plan.py"
    if options.specs != SIZES:
        command += " --specs " + " ".join(map(str, options.specs))
    if options.outputs != 100_000:
        command += f" --outputs {options.outputs}"
    command += f" --runs {options.runs}" + (f" --cold-runs {options.cold_runs}" if options.cold_runs else "")
    command += f" --before {options.before}" if old is not None else ""
    section = "\n".join(
        [
            "## reconciler plan: " + _sizes(options.specs) + " specs, all stored",
            "",
            describe_machine(),
            "",
            f"Command: `{command}` (whole process, median of {options.runs} runs"
            f"{f' ({options.cold_runs} cold)' if options.cold_runs else ''}; peak RSS the largest; specs 100"
            f" to a file, every one stored, in a store of at least {options.outputs:,} outputs, each its own blob; the plans' last"
            f" lines: {', '.join(lasts)})",
            "",
            *rows,
            *ratio,
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

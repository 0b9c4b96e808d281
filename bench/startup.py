"""Benchmark: how long the small commands take as whole processes, beside Python's own start-up.

    python bench/startup.py [--runs 20] [--label TEXT] [--write]

A copy of the repository's specs/ (11 videos) is applied once with `--mock`, so `plan --mock` is
warm: everything stored, nothing to do, parse cache filled. Then each command runs `--runs` times,
the commands taking turns (so a burst of load elsewhere falls on all of them alike), output piped
(never a terminal), each `reconciler` command as its console script runs it. `python -c pass` is
the floor no command can go under, `import click` the floor of any click program. Goals (issue 17):
`reconciler --help` at most 0.06 s and `reconciler plan` of specs/ at most 0.10 s. Prints a
markdown section for bench/RESULTS.md; `--write` replaces that section in the file.
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

from machine import ROOT, describe_machine, publish

# What the `reconciler` console script runs (`-m reconciler` would add runpy's own start-up).
ENTRY = "from reconciler.cli import main; main()"

COMMANDS: list[tuple[str, list[str], str]] = [
    ("`python -c pass` (the floor)", ["-c", "pass"], ""),
    ("`python -c 'import click'` (the floor of a click program)", ["-c", "import click"], ""),
    ("`reconciler --help`", ["-c", ENTRY, "--help"], "≤ 0.060 s"),
    ("`reconciler validate specs/`", ["-c", ENTRY, "validate", "specs/"], ""),
    ("`reconciler plan --mock` (warm, no changes)", ["-c", ENTRY, "plan", "--mock"], "≤ 0.100 s"),
]


# As installed: bytecode compiled once and read from __pycache__ (PYTHONDONTWRITEBYTECODE, set in
# some shells and CI images, would have every process compile the package from source).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(cwd: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(work: Path) -> str:
    """Compile the packages, copy specs/ into `work` and apply it against the fake; return the warm plan's last line."""
    for package in ("reconciler", "mockserver"):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / package)], env=ENV, check=True)
    shutil.copytree(ROOT / "specs", work / "specs")
    subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--mock", "--yes"],
        cwd=work,
        env=ENV,
        capture_output=True,
        check=True,
    )
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--mock", "--detailed-exitcode"],
        cwd=work,
        env=ENV,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the plan after apply --mock is not empty:\n{done.stdout.decode()}{done.stderr.decode()}")
    return done.stdout.decode().strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--label", default="", help="a word on what was measured (e.g. before, after)")
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        last = prepare(work)
        walls: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
        cpus: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
        load_before = os.getloadavg()[0]
        for _ in range(options.runs):
            for label, args, _ in COMMANDS:
                wall, cpu = timed(work, args)
                walls[label].append(wall)
                cpus[label].append(cpu)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor = statistics.median(walls[COMMANDS[0][0]])
    rows = [
        "| command | median | best | worst | median over the floor | CPU median | CPU best | goal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, _, goal in COMMANDS:
        wall, cpu = walls[label], cpus[label]
        median = statistics.median(wall)
        over = "" if label == COMMANDS[0][0] else f"{median - floor:+.3f} s"
        rows.append(
            f"| {label} | {median:.3f} s | {min(wall):.3f} s | {max(wall):.3f} s | {over}"
            f" | {statistics.median(cpu):.3f} s | {min(cpu):.3f} s | {goal} |"
        )
    section = "\n".join(
        [
            "## Start-up: the small commands as whole processes" + (f" ({options.label})" if options.label else ""),
            "",
            describe_machine(),
            "",
            f"Command: `python bench/startup.py --runs {options.runs}` ({options.runs} runs of each, taking turns;"
            f" output piped; each `reconciler` command run as its console script does, from this checkout, its bytecode compiled beforehand as an install has it; the warm plan's last line: `{last}`)."
            f" Wall time, then CPU time (user + system) of the same runs, which a loaded machine inflates less."
            f" Load average (1 min) {load_before:.2f} before and {load_after:.2f} after: anything past 1 means"
            " other work ran meanwhile (2 cores) and the wall figures are pessimistic.",
            "",
            *rows,
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

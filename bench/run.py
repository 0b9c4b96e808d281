"""Every benchmark in one command, each rewriting its section of bench/RESULTS.md.

    python -m bench            (from the repository root)
    python bench/run.py [--only NAME ...]

Runs each script as its own process, one after another (they time things, so never two at once),
with `--write`, then records how long each took in a last section of RESULTS.md. Sized to finish
within 10 minutes on a 2-core machine: plan takes 3 runs per size instead of its default 5, and
only the first of them cold (the cold 100,000-spec runs were most of its time); startup measures the
code before issue 17 beside this one, 10 runs of each instead of 20 (it measures every command twice:
with this interpreter and in a fresh virtual environment); the others run at their defaults. A benchmark that fails is reported and the others still
run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from machine import ROOT, describe_machine, publish

BENCHMARKS: dict[str, list[str]] = {
    "startup": ["--runs", "10", "--before", "22d9b9c"],  # 22d9b9c: the last commit before issue 17's start-up work
    "validate": ["--runs", "5"],
    "plan": ["--runs", "3", "--cold-runs", "1"],
    "store_lookups": [],
    "mock_polls": [],
    "apply": [],
    "watch": [],
    "throughput": [],
    "report": ["--runs", "3"],
    "latency": [],
}
BUDGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run just these")
    args = parser.parse_args()
    chosen = args.only or list(BENCHMARKS)

    load_before = os.getloadavg()[0]
    print(f"{describe_machine()}; load average {load_before:.2f}", flush=True)
    took: list[tuple[str, str, float, int]] = []
    start = time.perf_counter()
    for name in chosen:
        command = [sys.executable, f"bench/{name}.py", *BENCHMARKS[name], "--write"]
        shown = "python " + " ".join(command[1:])
        print(f"\n$ {shown}", flush=True)
        began = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT)
        took.append((name, shown, time.perf_counter() - began, code))
    total = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    failed = [name for name, _, _, code in took if code != 0]
    print(f"\n{len(took) - len(failed)} of {len(took)} benchmarks ran in {total:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    if args.only is None:
        lines = [
            "## python -m bench: every benchmark in one command",
            "",
            describe_machine(),
            "",
            f"Load average (1 min) {load_before:.2f} before and {load_after:.2f} after: the benchmarks themselves"
            " keep one or two cores busy, anything more means something else ran meanwhile and the figures"
            " are pessimistic.",
            "",
            "| benchmark | command | took |",
            "| --- | --- | ---: |",
            *(
                f"| {name} | `{shown}` | {seconds:.0f} s{'' if code == 0 else f' (failed, exit {code})'} |"
                for name, shown, seconds, code in took
            ),
            f"| all | `python -m bench` | {total:.0f} s (goal: under {BUDGET_S:.0f} s) |",
            "",
        ]
        publish("\n".join(lines), write=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

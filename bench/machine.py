"""What every benchmark prints: the machine it ran on, and how it writes its section of RESULTS.md.

Importing it also makes a benchmark measure the code of this checkout, in its own process and in
every process it starts (`python -m reconciler ...`, `python -m mockserver`), whatever copy of the
packages is installed: an editable install may point at another directory, or at none.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _measure_this_checkout() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])


_measure_this_checkout()


def describe_machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return f"Machine: {os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def timing_table(rows: list[tuple[str, list[float], str]]) -> list[str]:
    """Markdown rows of median, best and worst seconds per run kind, with the goal."""
    import statistics

    lines = ["| run | median | best | worst | goal |", "| --- | --- | --- | --- | --- |"]
    for label, samples, goal in rows:
        lines.append(
            f"| {label} | {statistics.median(samples):.2f} s | {min(samples):.2f} s | {max(samples):.2f} s | {goal} |"
        )
    return lines


def replace_section(path: Path, section: str) -> None:
    """Replace the `## title` section of a results file (or append it), leaving the others as they are."""
    title = section.splitlines()[0]
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    parts = re.split(r"(?m)^(?=## )", text)
    replaced = False
    for index, part in enumerate(parts):
        if part.splitlines()[:1] == [title]:
            parts[index] = section.rstrip() + "\n\n"
            replaced = True
    if not replaced:
        parts[-1] = parts[-1].rstrip() + "\n\n"  # a blank line before the new section
        parts.append(section.rstrip() + "\n\n")
    path.write_text("".join(parts).rstrip() + "\n", encoding="utf-8")


def publish(section: str, *, write: bool) -> None:
    """Print a results section; with `write`, also put it in bench/RESULTS.md in place of its old self."""
    print(section)
    if write:
        replace_section(Path(__file__).with_name("RESULTS.md"), section)


def measured_apply(project: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one `reconciler apply --yes ARGS` process in `project`."""
    run = measured(project, env, "apply", "--yes", *args)
    return run.rss_mb, run.wall_s


@dataclass(frozen=True)
class Measured:
    """One whole `reconciler` process: its peak RSS, wall and CPU seconds, and its last line of output."""

    rss_mb: float
    wall_s: float
    cpu_s: float  # user + system: less sensitive than wall to other work on a loaded machine
    last_line: str


def measured(project: Path, env: dict[str, str] | None, *args: str) -> Measured:
    """One `reconciler ARGS` process in `project`, measured by a small parent process.

    The parent reads its children's peak RSS and CPU time, so the figures are the command's own,
    not this benchmark's. Exits with the command's stderr when it fails.
    """
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        f"done = subprocess.run([sys.executable, '-m', 'reconciler', *{list(args)!r}], capture_output=True,"
        " text=True); wall = time.perf_counter() - t; use = resource.getrusage(resource.RUSAGE_CHILDREN);"
        "lines = done.stdout.strip().splitlines() or [''];"
        "print(use.ru_maxrss, wall, use.ru_utime + use.ru_stime, done.returncode, lines[-1]);"
        "sys.stderr.write(done.stderr[-2000:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=project, env=env, capture_output=True, text=True
    )
    rss_kb, wall, cpu, code, last = out.stdout.rstrip("\n").split(" ", 4)
    if code != "0":
        raise SystemExit(f"reconciler {' '.join(args)} failed: {out.stderr}")
    return Measured(int(rss_kb) / 1024, float(wall), float(cpu), last)

"""Benchmark: whole-process `reconciler validate` on 10,000 entries across 100 files.

Cold is the first run (no parse cache), warm is a run with no file changed. Goals (issue 2):
cold at most 2 s, warm at most 0.5 s on a 2-core machine. Issue 17 measures cold against PyYAML's
C loader parsing the same files in-process: at most 1.0x (the goal beyond, 0.5x). Each round times
PyYAML, a cold and a warm process, and an in-process cold load (`spec.load` without a cache, the
same files as TOML too) one after the other, so a machine loaded by other work weighs on all alike;
CPU seconds (user + system) are given beside wall seconds for that reason. The processes keep
Python's bytecode cache (in the temporary directory), as an installed package has. `--profile`
prints where a cold validate's time goes instead (see validate_phases.py). Prints a markdown
section for bench/RESULTS.md; `python bench/validate.py --write` replaces that section in the file.
"""

from __future__ import annotations

import argparse
import json
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

ENTRY = """  clip-{i:05d}:
    model: {model}
    prompt: "Shot {i}: a slow dolly through a rain-soaked neon market at night, reflections, crowds, steam, cinematic"
    negative_prompt: blurry, low quality, distorted, watermark
    seed: {i}
    tags: [batch-{b}, bench]
{extra}"""
EXTRAS = {
    "wan2.1-t2v": '    video_length: 3\n    aspect_ratio: "16:9"\n    steps: 30\n',
    "wan2.7-t2v": '    duration: 5\n    ratio: "16:9"\n    resolution: 720P\n',
    "wan-2.5-t2v": '    duration: "5"\n    size: "1280*720"\n',
    "wan-2.2-t2v-fast": "    num_frames: 81\n    frames_per_second: 16\n    resolution: 480p\n",
}


TOML_ENTRY = """[videos.clip-{i:05d}]
model = "{model}"
prompt = "Shot {i}: a slow dolly through a rain-soaked neon market at night, reflections, crowds, steam, cinematic"
negative_prompt = "blurry, low quality, distorted, watermark"
seed = {i}
tags = ["batch-{b}", "bench"]
{extra}
"""


def make_specs(root: Path, files: int = 100, per_file: int = 100) -> int:
    models = list(EXTRAS)
    size = 0
    for f in range(files):
        lines = ["videos:\n"]
        for j in range(per_file):
            i = f * per_file + j
            model = models[i % len(models)]
            lines.append(ENTRY.format(i=i, model=model, b=f, extra=EXTRAS[model]))
        text = "".join(lines)
        size += len(text.encode())
        (root / f"batch-{f:03d}.yaml").write_text(text, encoding="utf-8")
    return size


def make_toml_specs(root: Path, files: int = 100, per_file: int = 100) -> None:
    """The same entries as make_specs, written as TOML."""
    models = list(EXTRAS)
    for f in range(files):
        parts = []
        for j in range(per_file):
            i = f * per_file + j
            model = models[i % len(models)]
            extra = EXTRAS[model].replace("    ", "").replace(": ", " = ").replace("720P", '"720P"')
            extra = extra.replace("480p", '"480p"')
            parts.append(TOML_ENTRY.format(i=i, model=model, b=f, extra=extra))
        (root / f"batch-{f:03d}.toml").write_text("".join(parts), encoding="utf-8")


Sample = tuple[float, float]  # (wall seconds, CPU seconds)


def child_env(work: Path) -> dict[str, str]:
    """The environment of the measured processes: Python's bytecode cached, in `work`.

    An installed package has its modules compiled; a process started with PYTHONDONTWRITEBYTECODE
    (as here) would compile every module of the reconciler on every run and be measured for it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def timed(cwd: Path, *args: str) -> Sample:
    """Wall and CPU (user + system) seconds of one `reconciler validate` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args],
        cwd=cwd,
        env=child_env(cwd),
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"validate failed: {done.stderr.decode()[:2000]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def pyyaml_seconds(specs: Path) -> Sample:
    import yaml

    start, cpu = time.perf_counter(), time.process_time()
    for path in sorted(specs.iterdir()):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - start, time.process_time() - cpu


def load_seconds(specs: Path) -> Sample:
    """A cold load in this process: read, parse, resolve every file, no parse cache, no start-up."""
    from reconciler.spec import load

    start, cpu = time.perf_counter(), time.process_time()
    entries = len(load([str(specs)]).entries)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    if entries != 10_000:
        raise SystemExit(f"expected 10,000 entries, loaded {entries}")
    return elapsed


def median(samples: list[Sample], index: int) -> float:
    return statistics.median(sample[index] for sample in samples)


def ratio_row(label: str, samples: list[Sample], pyyaml: list[Sample], goal: str) -> str:
    wall, cpu = median(samples, 0) / median(pyyaml, 0), median(samples, 1) / median(pyyaml, 1)
    return f"| {label} | {median(samples, 0):.2f} s | {median(samples, 1):.2f} s | {wall:.2f}x | {cpu:.2f}x | {goal} |"


PHASES = Path(__file__).with_name("validate_phases.py")


def phases(cwd: Path, runs: int) -> list[tuple[str, float]]:
    """Median CPU seconds of each phase of a cold `reconciler validate` (see validate_phases.py)."""
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        shutil.rmtree(cwd / ".reconciler", ignore_errors=True)
        done = subprocess.run(
            [sys.executable, str(PHASES)], cwd=cwd, env=child_env(cwd), capture_output=True, text=True, check=True
        )
        samples.append(json.loads(done.stdout.splitlines()[-1]))

    def at(name: str) -> float:
        return statistics.median(sample.get(name, 0.0) for sample in samples)

    imports, load, save, total = (
        at("start-up and imports"),
        at("spec.load (all)"),
        at("parse cache written"),
        at("process (all)"),
    )
    parse, resolve, finish = (
        at("parse: bytes to values (all of documents.parse)"),
        at("resolve_file (parse + entries)"),
        at("local files, entries made"),
    )
    ryml, names = at("rapidyaml parse (C++)"), at("entry names' lines (scan)")
    return [
        ("start-up and imports", imports),
        ("rapidyaml's parse (C++)", ryml),
        ("the tree to Python values (walk, scalars, limits)", parse - ryml - names),
        ("entry names' lines (scan of the text)", names),
        ("entries: defaults, matrix, catalog check, canonical JSON", resolve - parse),
        ("local files and entries made", finish),
        ("discover, read and hash the files", load - resolve - finish),
        ("parse cache written (pickle)", save),
        ("keys, summary, exit", total - imports - load - save),
        ("the process", total),
    ]


def top_functions(cwd: Path, count: int = 10) -> list[str]:
    """Markdown rows of the functions with the most time of their own under cProfile."""
    shutil.rmtree(cwd / ".reconciler", ignore_errors=True)
    done = subprocess.run(
        [sys.executable, str(PHASES), "--cprofile", str(count)],
        cwd=cwd,
        env=child_env(cwd),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(done.stdout.splitlines()[-1])
    return [f"| `{name}` | {calls:,} | {share:.0%} |" for name, _, share, calls in rows]


def profile(work: Path, runs: int) -> None:
    """Print where the time of a cold validate goes: phases, then cProfile's top functions."""
    table = phases(work, runs)
    total = table[-1][1]
    lines = ["| phase | CPU | share |", "| --- | --- | --- |"]
    lines += [f"| {name} | {seconds:.3f} s | {seconds / total:.0%} |" for name, seconds in table]
    lines += ["", "| function (cProfile, own time) | calls | share |", "| --- | --- | --- |", *top_functions(work)]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite this section of bench/RESULTS.md")
    parser.add_argument("--profile", action="store_true", help="print where a cold validate's time goes, and stop")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        (work / "specs").mkdir()
        if options.profile:
            make_specs(work / "specs")
            timed(work)  # compiles the modules once, as installing them would
            profile(work, options.runs)
            return
        (work / "toml").mkdir()
        size = make_specs(work / "specs")
        make_toml_specs(work / "toml")
        os.chdir(work)  # in-process loads show paths as the processes do
        timed(work)  # compiles the modules once, as installing them would
        pyyamls: list[Sample] = []
        colds: list[Sample] = []
        warms: list[Sample] = []
        loads: list[Sample] = []
        tomls: list[Sample] = []
        for _ in range(options.runs):
            pyyamls.append(pyyaml_seconds(work / "specs"))
            shutil.rmtree(work / ".reconciler", ignore_errors=True)
            colds.append(timed(work))
            warms.append(timed(work))
            loads.append(load_seconds(Path("specs")))
            tomls.append(load_seconds(Path("toml")))
        section = "\n".join(
            [
                "## reconciler validate: 10,000 entries in 100 files",
                "",
                describe_machine(),
                "",
                f"Command: `python bench/validate.py --runs {options.runs}` "
                f"({size / 1e6:.1f} MB of YAML, whole process, median of {options.runs} runs)",
                "",
                *timing_table(
                    [
                        ("cold (no parse cache)", [wall for wall, _ in colds], "≤ 2 s"),
                        ("warm (no file changed)", [wall for wall, _ in warms], "≤ 0.5 s"),
                    ]
                ),
                "",
                "Against PyYAML's C loader parsing the same files in this process (issue 17), medians:",
                "",
                "| run | wall | CPU | wall / PyYAML | CPU / PyYAML | goal |",
                "| --- | --- | --- | --- | --- | --- |",
                f"| PyYAML C loader, in-process | {median(pyyamls, 0):.2f} s | {median(pyyamls, 1):.2f} s | 1.00x | 1.00x | |",
                ratio_row("cold `validate` process", colds, pyyamls, "≤ 1.0x (beyond: 0.5x)"),
                ratio_row("cold `spec.load`, in-process", loads, pyyamls, ""),
                ratio_row("the same entries as TOML, `spec.load`", tomls, pyyamls, ""),
                "",
            ]
        )
        publish(section, write=options.write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

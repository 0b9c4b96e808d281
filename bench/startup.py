"""Benchmark: how long the small commands take as whole processes, beside Python's own start-up.

    python bench/startup.py [--runs 20] [--before REVISION] [--instructions] [--write]

`--before REVISION` measures the reconciler of that git revision too, taking turns with this one:
a fair before and after on a machine whose load changes from one minute to the next.

A copy of the repository's specs/ (11 videos) is applied once with `--mock`, so `plan --mock` is
warm: everything stored, nothing to do, parse cache filled. Then each command runs `--runs` times,
the commands taking turns (so a burst of load elsewhere falls on all of them alike), output piped
(never a terminal), each `reconciler` command as its console script runs it. `python -c pass` is
the floor no command can go under, `import click` the floor of any click program. Every row runs
twice: with this interpreter as it is, and in a fresh virtual environment of it that sees the same
installed packages but none of the `.pth` files of its site-packages (a machine's own start-up hooks,
such as a sandbox's certificate set-up, or an editable install's import finder, run in every process
of the first and belong to no command). Goals (issue 17):
`reconciler --help` at most 0.06 s and `reconciler plan` of specs/ at most 0.10 s. Prints a
markdown section for bench/RESULTS.md; `--write` replaces that section in the file.

`--instructions` also counts the instructions each command executes once, under valgrind's
callgrind: a count a loaded machine does not change (within a fraction of a percent), to compare two
revisions when the wall times of a shared machine swing by half.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from machine import ROOT, describe_machine, publish


def entry(tree: Path) -> str:
    """What the tree's `reconciler` console script runs (`-m reconciler` would add runpy's own start-up)."""
    module, function = tomllib.loads((tree / "pyproject.toml").read_text())["project"]["scripts"]["reconciler"].split(
        ":"
    )
    return f"from {module} import {function}; {function}()"


FLOORS: list[tuple[str, list[str]]] = [
    ("`python -c pass` (the floor)", ["-c", "pass"]),
    ("`python -c 'import click'` (the floor of a click program)", ["-c", "import click"]),
]
COMMANDS: list[tuple[str, list[str], str]] = [  # the arguments after the console script's own
    ("`reconciler --help`", ["--help"], "≤ 0.060 s"),
    ("`reconciler validate specs/`", ["validate", "specs/"], ""),
    ("`reconciler plan --mock` (warm, no changes)", ["plan", "--mock"], "≤ 0.100 s"),
]


# What each import costs alone, for the table of where start-up time goes: the parsers a cold run
# loads, the standard modules plan needs, the pure core (the catalog and spec packages load a name
# when it is first used, so their modules are named), and what only apply and watch should load.
IMPORTS = [
    "click",
    "yaml",
    "ryml",
    "tomllib",
    "sqlite3",
    "json",
    "pickle",
    "reconciler.catalog.models",
    "reconciler.spec.loading",
    "reconciler.spec.documents",
    "reconciler.plan.diff",
    "reconciler.store.store",
    "reconciler.cli",
    "httpx",
    "rich.console",
    "reconciler.engine.run",
    "watchfiles",
    "av",
    "boto3",
]


LOADED = (
    ": the machine was loaded by other work running in parallel, so every figure is pessimistic (the best"
    " of the runs least so); the rows took turns, so they compare fairly with one another."
)

WHERE_THE_TIME_GOES = [
    "Before issue 17 every command imported every command module, so `--help` paid for the API client"
    " (httpx, which imports rich and pygments for its own command line), the engine, asyncio, the lock"
    " format, tomllib and statistics. Now the group maps each command to"
    " its module and help line and imports one command when it runs (`--help` imports none); the API"
    " backend loads for `plan --refresh`, apply and watch; the store package loads a name when it is"
    " first used, and gc, layout and verify with the methods that run them; the lock format, tomllib,"
    " statistics, tempfile, secrets, socket and difflib load only in the branch that needs them."
    " `tests/cli/test_import_boundary.py` holds the line. What is left: click itself (inspect, uuid,"
    " datetime and gettext at import), and the frozen dataclasses of the values plan needs (spec,"
    " records, plan, catalog), each made by exec-ing its generated methods at import; YAML and TOML"
    " parsers load only when a file is parsed (a warm run parses none).",
    "",
    "The second round of issue 17: the spec and catalog packages, like the store, load a name when it is"
    " first used (`reconciler/exports.py`), so a warm plan imports neither the parsers (documents,"
    " positions, yamldoc, tomldoc, expansion, resolution) nor the catalog's rules; `atomic.py` imports"
    " tempfile (with shutil, random, bz2 and lzma) only when it replaces a file, which a warm plan never"
    " does; a command's modules load with the cycle collector paused and are then frozen out of its sight"
    " (it walked them while they loaded, and on every later pass); and six small records made at start-up"
    " (Settings, Identity, Start, Restored, Estimate, catalog.Param) are NamedTuples, because Python 3.11"
    " makes a frozen dataclass by compiling each of its generated methods: about a millisecond each, six"
    " times a NamedTuple. What is left of ours: some twenty frozen dataclasses of the values a plan works"
    " with (spec values, records, the plan, errors, the catalog's Model), sqlite3, json, and hashlib (the"
    " repository's specs name a local image, hashed on every load).",
    "",
    "The third round: `reconciler --help`, `-h` and `--version` are answered without click"
    " (`reconciler/cli/front.py`): `import click` alone, then its help machinery (gettext, shutil for the"
    " terminal's width, textwrap), cost more than the goal; the group's help is laid out from the command"
    " map as click lays it out, and `tests/cli/test_command_map.py` holds it equal to click's own at every"
    " terminal width. A command's own `--help` is click's. The store keeps each namespace's count and bytes"
    " of outputs (schema version 2), so a warm plan's orphan line reads no rows it does not list.",
]


def environment(code: Path) -> dict[str, str]:
    """The environment of a process that runs the reconciler of `code`, as installed: bytecode compiled
    once and read from __pycache__ (PYTHONDONTWRITEBYTECODE, set in some shells and CI images, would
    have every process compile the package from source)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p) != ROOT]
    env["PYTHONPATH"] = os.pathsep.join([str(code), *paths])
    return env


def fresh_python(work: Path) -> Path:
    """The python of a new virtual environment of this interpreter, which imports the packages this one
    has installed (its site-packages named in a .pth file of the venv: a path line, which Python adds to
    sys.path without running the .pth files it holds) and nothing else at start-up."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([python, "-c", ask], capture_output=True, text=True, check=True).stdout.strip()
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    (Path(purelib) / "installed-packages.pth").write_text("".join(f"{p}\n" for p in installed if Path(p).is_dir()))
    return python


def start_up_hooks() -> list[str]:
    """The .pth files of this interpreter's site-packages that run code in every process it starts."""
    return sorted(
        p.name
        for folder in site.getsitepackages()
        for p in Path(folder).glob("*.pth")
        if any(line.startswith("import") for line in p.read_text(errors="replace").splitlines())
    )


def timed(cwd: Path, command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def checkout(revision: str, into: Path) -> Path | None:
    """The reconciler of a git revision (with its fake, and its pyproject.toml, which names its console
    script entry), exported into `into` (to measure it beside this checkout);
    None when this checkout does not have that revision (a shallow clone, a copy without .git)."""
    archive = subprocess.run(
        ["git", "archive", revision, "reconciler", "mockserver", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        print(f"not measuring {revision}: {archive.stderr.decode().strip()}", file=sys.stderr)
        return None
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def prepare(work: Path, tree: Path) -> str:
    """Compile the tree, copy specs/ into `work` and apply it there against the fake with the tree's own
    reconciler (a store's schema is its code's own: an older reconciler refuses a newer store); the warm
    plan's last line."""
    for package in ("reconciler", "mockserver"):  # the fake imports the catalog: each tree has its own
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / package)], check=True)
    shutil.copytree(ROOT / "specs", work / "specs")
    env = environment(tree)
    apply = [sys.executable, "-m", "reconciler", "apply", "--mock", "--yes"]
    subprocess.run(apply, cwd=work, env=env, capture_output=True, check=True)
    plan = [sys.executable, "-m", "reconciler", "plan", "--mock", "--detailed-exitcode"]
    done = subprocess.run(plan, cwd=work, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the plan after apply --mock is not empty:\n{done.stdout.decode()}{done.stderr.decode()}")
    return done.stdout.decode().strip().splitlines()[-1]


def import_seconds(python: Path, module: str, env: dict[str, str], runs: int) -> float:
    """The least time `import module` took in a fresh process over `runs` runs (-X importtime, cumulative)."""
    best = float("inf")
    for _ in range(runs):
        command = [str(python), "-X", "importtime", "-c", f"import {module}"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                best = min(best, int(parts[1]) / 1e6)
    return best


def instructions(cwd: Path, command: list[str], env: dict[str, str]) -> int | None:
    """The instructions one process (`command`, its python first) executes (valgrind's callgrind), or None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if done.returncode == 0 and found else None


def row(label: str, wall: list[float], cpu: list[float], goal: str, count: int | None = None) -> str:
    cell = "" if count is None else f" {count / 1e6:.1f} M |"
    return (
        f"| {label} | {statistics.median(wall):.3f} s | {min(wall):.3f} s | {max(wall):.3f} s"
        f" | {statistics.median(cpu):.3f} s | {min(cpu):.3f} s |{cell} {goal} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", metavar="REVISION", help="also measure this git revision, taking turns with it")
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    parser.add_argument("--write", action="store_true", help="replace this section of bench/RESULTS.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        trees = [("", ROOT)]
        old = checkout(options.before, work / "before") if options.before else None
        if old is not None:
            trees.append((f", before: {options.before}", old))
        projects = [work / f"project-{n}" for n, _ in enumerate(trees)]
        last = [prepare(project, tree) for project, (_, tree) in zip(projects, trees, strict=True)][0]  # noqa: RUF015  # every tree's project is prepared
        # (label, the process's command, its environment, its directory, the goal)
        runs: list[tuple[str, list[str], dict[str, str], Path, str]] = []
        fresh = fresh_python(work)
        for python, where in ((Path(sys.executable), ""), (fresh, ", fresh venv")):
            runs += [
                (label + where, [str(python), *args], environment(ROOT), projects[0], "") for label, args in FLOORS
            ]
            for label, args, goal in COMMANDS:
                runs += [
                    (label + suffix + where, [str(python), "-c", entry(tree), *args], environment(tree), project, mark)
                    for (suffix, tree), project, mark in zip(trees, projects, [goal, ""], strict=False)
                ]
        walls: dict[str, list[float]] = {label: [] for label, *_ in runs}
        cpus: dict[str, list[float]] = {label: [] for label, *_ in runs}
        load_before = os.getloadavg()[0]
        for _ in range(options.runs):
            for label, command, env, cwd, _ in runs:
                wall, cpu = timed(cwd, command, env)
                walls[label].append(wall)
                cpus[label].append(cpu)
        counts = (
            {label: instructions(cwd, command, env) for label, command, env, cwd, _ in runs}
            if options.instructions
            else {}
        )
        costs = {
            module: import_seconds(fresh, module, environment(ROOT), max(5, options.runs // 2)) for module in IMPORTS
        }
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    command = (
        f"python bench/startup.py --runs {options.runs}"
        + (f" --before {options.before}" if old is not None else "")
        + (" --instructions" if options.instructions else "")
    )
    hooks = start_up_hooks()
    with_counts = bool(counts) and all(count is not None for count in counts.values())
    section = "\n".join(
        [
            "## Start-up: the small commands as whole processes",
            "",
            describe_machine(),
            "",
            f"Command: `{command}` ({options.runs} runs of each, taking turns; output piped; each `reconciler`"
            " command run as its console script does, its bytecode compiled beforehand as an install has it;"
            f" the warm plan's last line: `{last}`). Wall time, then CPU time (user + system) of the same runs,"
            f" which a loaded machine inflates less. Load average (1 min) {load_before:.2f} before and"
            f" {load_after:.2f} after{LOADED if max(load_before, load_after) > 1 else '.'}",
            "",
            "| command | median | best | worst | CPU median | CPU best |"
            + (" instructions |" if with_counts else "")
            + " goal |",
            "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if with_counts else "") + " --- |",
            *(
                row(label, walls[label], cpus[label], goal, counts[label] if with_counts else None)
                for label, _, _, _, goal in runs
            ),
            "",
            "This interpreter's start-up hooks (.pth files that import code in every process): "
            + (", ".join(f"`{name}`" for name in hooks) or "none")
            + ". The fresh venv runs none of them.",
            "",
            f"What one import costs alone, in the fresh venv (`python -X importtime -c 'import M'`, cumulative, the least of"
            f" {max(5, options.runs // 2)} runs; shared modules such as re or typing count in each):",
            "",
            "| module | import |",
            "| --- | ---: |",
            *(f"| `{module}` | {seconds * 1000:.1f} ms |" for module, seconds in costs.items()),
            "",
            *WHERE_THE_TIME_GOES,
            "",
        ]
    )
    publish(section, write=options.write)


if __name__ == "__main__":
    main()

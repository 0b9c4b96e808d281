"""Benchmark: whole-process `reconciler validate` on 10,000 entries across 100 files.

Cold is the first run (no parse cache), warm is a run with no file changed. Goals (issue 2):
cold at most 2 s, warm at most 0.5 s on a 2-core machine. Prints a markdown section for
bench/RESULTS.md; `python bench/validate.py --write` replaces that section in the file.
"""

from __future__ import annotations

import argparse
import shutil
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


def timed(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args], cwd=cwd, capture_output=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"validate failed: {done.stderr.decode()[:2000]}")
    return elapsed


def pyyaml_seconds(specs: Path) -> float:
    import yaml

    start = time.perf_counter()
    for path in sorted(specs.iterdir()):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite this section of bench/RESULTS.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        (work / "specs").mkdir()
        size = make_specs(work / "specs")
        pyyaml = pyyaml_seconds(work / "specs")
        colds, warms = [], []
        for _ in range(options.runs):
            shutil.rmtree(work / ".reconciler", ignore_errors=True)
            colds.append(timed(work))
            warms.append(timed(work))
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
                    [("cold (no parse cache)", colds, "≤ 2 s"), ("warm (no file changed)", warms, "≤ 0.5 s")]
                ),
                "",
                f"For scale: PyYAML's C loader alone takes {pyyaml:.2f} s to load the same files in-process "
                "(rapidyaml with the walk to Python values is only a little faster on many small files; "
                "it wins on large ones and reads YAML 1.2).",
                "",
            ]
        )
        publish(section, write=options.write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark: the empty-local-cache plan against a bucket, for code trees side by side (before / after a change).

    python bench/remote_plan.py [--specs 10000] [--rounds 5] NAME=TREE ...

A plan of `--specs` stored specs whose records are only in the bucket (moto's S3 server, one request
at a time, in this process), run as a whole `reconciler plan` process from each TREE in turn (its
PYTHONPATH: a checkout of another commit, e.g. `git archive HEAD~3 | tar -x -C /tmp/before`), the
trees interleaved round after round so a loaded machine weighs on each alike. Prints the median wall
and the median CPU of the plan process (what is not waiting for moto) per tree, and the local plan's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from plan import fill
from remote_store import bucket_of, timed
from validate import make_specs

from reconciler import keys
from reconciler.spec import load
from tests.conftest import S3Server

HERE = str(Path(__file__).resolve().parent.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("trees", nargs="+", metavar="NAME=TREE")
    options = parser.parse_args()
    trees = dict(item.split("=", 1) for item in options.trees)
    s3 = S3Server()
    work = Path(tempfile.mkdtemp(prefix="bench-remote-plan-"))
    try:
        (work / "specs").mkdir()
        make_specs(work / "specs", files=options.specs // 100, per_file=100)
        wanted = [keys.entry_key(keys.SEGMIND, e) for e in load([work / "specs"]).entries]
        fill(work / ".reconciler", wanted, 0)
        bucket = bucket_of(s3, wanted)
        local_env = {**os.environ}
        empty_env = {**os.environ, **s3.env(), "RECONCILER_STORE": f"s3://{bucket}/team", "RECONCILER_CACHE": "cache"}
        timed(work, {**local_env, "PYTHONPATH": HERE}, "plan")  # the parse cache
        local: list[tuple[float, float]] = []
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for _ in range(options.rounds):
            local.append(timed(work, {**local_env, "PYTHONPATH": HERE}, "plan"))
            for name, tree in trees.items():
                runs[name].append(timed(work, {**empty_env, "PYTHONPATH": tree}, "plan"))
    finally:
        s3.close()
        shutil.rmtree(work, ignore_errors=True)
    base_wall = statistics.median(w for w, _ in local)
    base_cpu = statistics.median(c for _, c in local)
    print(f"local plan: {base_wall:.2f} s wall, {base_cpu:.2f} s CPU (median of {options.rounds})")
    for name, measured in runs.items():
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        print(
            f"{name}: empty-cache plan {wall:.2f} s wall ({wall / base_wall:.2f}x local),"
            f" {cpu:.2f} s CPU ({cpu / base_cpu:.2f}x local)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Several machines on one bucket, SIGKILLed at seeded moments, against a fake failing 20 % of requests.

Three checkouts (each its own directory and local cache) apply the same 30 specs at once through
`python -m reconciler apply --yes --store s3://...`, on one fake and one S3 API server (moto over
HTTP). Some applies are killed with -9 at seeded random moments and started again, until each
checkout has one run that exits 0. The verdict comes from outside the processes: the fake's jobs
(each key bought exactly once, every job delivered), the bucket's own records and blobs, every
checkout's out/, and `reconciler verify` (which re-hashes the bucket too) in each checkout.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from mockserver.media import read_tags
from tests.conftest import run_process
from tests.e2e.conftest import Processes, finished, spec, specs_file

SCALE = 0.01
MACHINES = 3
MAX_APPLIES = 12  # per machine
PATIENCE_S = 240.0  # only a hung apply gets near this (pytest-timeout is 300 s)
FAULT_KINDS = ("429", "500", "502", "504", "latency", "drop", "truncate", "garbage")
FAULTS = {
    "route": "any",
    "probabilities": {kind: 0.2 / len(FAULT_KINDS) for kind in FAULT_KINDS},
    "phase": "either",
    "latency_s": 0.2,
    "retry_after_s": 0,
}


def thirty_specs() -> str:
    fast = [spec(f"fast-{i:02}", f"a red fox number {i}", seed=i) for i in range(20)]
    slow = [
        spec(f"wan21-{i:02}", f"a grey owl, take {i}", model="wan2.1-t2v", seed=i, video_length=1) for i in range(10)
    ]
    return specs_file(*fast, *slow)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_machines_on_one_bucket_killed_at_random_buy_each_video_once_and_all_end_stored(
    seed, fake, s3, project, monkeypatch
) -> None:
    rng = random.Random(seed)
    bucket = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{bucket}/team")
    fake.configure(seed=seed, time_scale=SCALE, faults=[FAULTS])
    checkouts = []
    for number in range(MACHINES):
        root = project / f"machine-{number}"
        (root / "specs").mkdir(parents=True)
        (root / "specs" / "videos.yaml").write_text(thirty_specs(), encoding="utf-8")
        checkouts.append(Processes(root, fake))
    try:
        running = {index: machine.apply("--concurrency", "16", scale=SCALE) for index, machine in enumerate(checkouts)}
        kills = {index: rng.randint(0, 2) for index in running}
        applies = dict.fromkeys(running, 1)
        done: set[int] = set()
        # Bounded by applies, not by seconds: a loaded machine makes each apply slower, never fewer.
        deadline = time.monotonic() + PATIENCE_S
        while len(done) < MACHINES and time.monotonic() < deadline and max(applies.values()) <= MAX_APPLIES:
            time.sleep(rng.uniform(0.2, 1.5))
            for index, process in list(running.items()):
                if kills[index] and process.poll() is None:
                    kills[index] -= 1
                    checkouts[index].kill(process)
                    running[index] = checkouts[index].apply("--concurrency", "16", scale=SCALE)
                    applies[index] += 1
                elif process.poll() is not None:
                    run = finished(process)
                    assert "Traceback" not in run.out + run.err, run.err
                    if run.code == 0:
                        done.add(index)
                        del running[index]
                    else:  # in doubt or unfinished under faults: the next apply settles it
                        running[index] = checkouts[index].apply("--concurrency", "16", scale=SCALE)
                        applies[index] += 1
        assert done == set(range(MACHINES)), f"not every machine converged: {sorted(done)}"
    finally:
        for machine in checkouts:
            machine.close()
    # Each key bought once, and every job made is one the bucket records as stored.
    jobs = fake.jobs()
    assert {k: n for k, n in Counter(job["key"] for job in jobs).items() if n > 1} == {}
    client = s3.client()
    records = [
        json.loads(client.get_object(Bucket=bucket, Key=name)["Body"].read())
        for name in s3.names(bucket, "team/outputs/")
    ]
    assert len(records) == 30
    assert sorted(r["request_id"] for r in records) == sorted(job["id"] for job in jobs)
    assert s3.names(bucket, "team/claims/") == []
    by_hint = {r["name_hint"]: r["request_id"] for r in records}
    for machine in checkouts:
        root: Path = machine.project
        for name, request_id in by_hint.items():
            assert read_tags(root / "out" / f"{name}.mp4")["request_id"] == request_id
        verify = run_process("verify", cwd=root)
        assert verify.code == 0, verify.out + verify.err

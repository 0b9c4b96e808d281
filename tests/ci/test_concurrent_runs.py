"""Two CI jobs applying on one store at once (a self-hosted runner, one workspace): each video is paid
once, both runs succeed, and the lock both of them write ends whole and complete.

(Two runners restored from one cache hold two copies of the store, which claims cannot coordinate:
the example workflow runs one apply at a time for that reason; see docs/ci.md.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import run_process
from tests.e2e.conftest import spec, specs_file

NAMES = ("cat", "dog", "fox", "owl")


@pytest.mark.slow
def test_two_applies_on_one_store_pay_once_per_video_and_leave_one_whole_lock(fake, write, project) -> None:
    write("specs/a.yaml", specs_file(*(spec(name, f"a {name} on a hill") for name in NAMES)))
    fake.configure(time_scale=0.01)  # jobs of about a second: the two runs overlap
    env = {**os.environ, **fake.env(), "RECONCILER_LATENCY_SCALE": "0.01"}
    assert run_process("plan", "--update-lock", cwd=project).code == 0  # the lock as a pull request commits it
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--yes", "--json", "--locked"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    summaries = []
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, out + err
        summaries.append(json.loads(out.splitlines()[-1]))
    assert len(fake.submits()) == len(NAMES)
    assert sum(s["submitted"] for s in summaries) == len(NAMES)  # the other run waited for, or found, the rest

    videos = tomllib.loads((project / "reconciler.lock").read_text())["videos"]
    assert sorted(videos) == sorted(NAMES)
    for name in NAMES:
        data = (project / "out" / f"{name}.mp4").read_bytes()
        assert videos[name]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert videos[name]["size"] == len(data)
    assert [p.name for p in project.iterdir() if p.name.startswith(".reconciler.lock")] == []

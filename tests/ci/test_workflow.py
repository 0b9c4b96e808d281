"""docs/github-actions.yml cannot rot: its `run:` steps are run here, verbatim and in order, against the fake.

Each job's steps run as GitHub runs them (`bash --noprofile --norc -eo pipefail`, in the checkout,
with `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`), with the workflow's environment and its
secrets taken from the fake. `pip` is a stand-in that installs nothing and `reconciler` is this
checkout. Steps that use actions (checkout, cache, comment, upload) are skipped; their settings are
asserted instead. One project directory plays the repository across runs, its `.reconciler/` the
store that the cache carries from one run to the next.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_process
from tests.e2e.conftest import Fake

REPO = Path(__file__).parents[2]
WORKFLOW = REPO / "docs" / "github-actions.yml"
SECRET = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
SHARED_STORE_SECRETS = (
    "RECONCILER_STORE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"
)  # fmt: skip


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


@dataclass
class JobRun:
    ran: list[str] = field(default_factory=list)  # names of the run steps that ran
    failed: str | None = None  # the run step that failed, if one did
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step id -> $GITHUB_OUTPUT
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.failed is None


class Runner:
    """Runs one job's `run:` steps the way a GitHub runner does."""

    def __init__(self, project: Path, fake: Fake, scratch: Path) -> None:
        self.project = project
        self.scratch = scratch
        self.secrets = {"SEGMIND_API_KEY": fake.env()["SEGMIND_API_KEY"]}
        # No shared store unless a test gives one: the secrets GitHub expands to "" when unset.
        self.secrets |= dict.fromkeys(SHARED_STORE_SECRETS, "")
        bin_dir = scratch / "bin"
        bin_dir.mkdir()
        self.pip_log = scratch / "pip.log"
        shim(bin_dir / "reconciler", f'exec "{sys.executable}" -m reconciler "$@"')
        shim(bin_dir / "pip", f'echo "$@" >> "{self.pip_log}"')
        # The API is the fake (its hosts and speed), but its key comes only from the workflow's secrets.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SEGMIND_", "RECONCILER_", "GITHUB_", "AWS_"))}
        hosts = {k: v for k, v in fake.env().items() if k != "SEGMIND_API_KEY"}
        self.base_env = base | hosts | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CI": "true"}

    def job(self, name: str) -> JobRun:
        document = workflow()
        job = document["jobs"][name]
        summary = self.scratch / f"{name}-summary.md"
        summary.write_text("")
        result = JobRun()
        for index, step in enumerate(job["steps"]):
            if "run" not in step:
                continue
            output = self.scratch / f"{name}-{index}.out"
            output.write_text("")
            env = (
                self.base_env
                | self.expand(document.get("env", {}))
                | self.expand(job.get("env", {}))
                | self.expand(step.get("env", {}))
                | {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
            )
            label = step.get("name", step["run"])
            completed = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.project,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            result.ran.append(label)
            result.log += f"--- {label} (exit {completed.returncode})\n{completed.stdout}{completed.stderr}"
            if "id" in step:
                lines = output.read_text().splitlines()
                result.outputs[step["id"]] = dict(line.split("=", 1) for line in lines)
            if completed.returncode != 0:
                result.failed = label
                break  # later steps run only with `if: always()`, and those are all actions here
        return result

    def expand(self, env: dict[str, Any]) -> dict[str, str]:
        expanded = {}
        for name, value in env.items():
            text = SECRET.sub(lambda match: self.secrets[match.group(1)], str(value))
            assert "${{" not in text, f"{name}: only secrets are substituted in this test: {value}"
            expanded[name] = text
        return expanded


def shim(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def runner(fake: Fake, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    shutil.copytree(REPO / "specs", project / "specs", dirs_exist_ok=True)
    return Runner(project, fake, tmp_path_factory.mktemp("runner"))


def locked_videos(project: Path) -> dict[str, dict[str, Any]]:
    return tomllib.loads((project / "reconciler.lock").read_text())["videos"]


def test_the_example_workflow_plans_pull_requests_and_applies_main_against_the_fake(
    runner: Runner, fake: Fake, project: Path
) -> None:
    # A pull request adds the specs and the lock of their keys (written without paying).
    assert run_process("plan", "--update-lock", cwd=project).code == 0
    names = sorted(locked_videos(project))
    assert len(names) == 11

    pull = runner.job("plan")
    assert pull.ok, pull.log
    assert pull.outputs["plan"]["exitcode"] == "2"
    comment = (project / "plan.md").read_text()
    assert comment.startswith("### reconciler plan")
    assert "**11 to create" in comment
    assert "| `golden-eagle` | wan2.7-t2v | $0.625 | not stored |" in comment
    assert "`reconciler.lock` matches the specs." in comment
    assert (runner.scratch / "plan-summary.md").read_text() == comment
    assert fake.journal() == []  # a plan makes no request at all

    main = runner.job("apply")
    assert main.ok, main.log
    assert sorted(str(p.relative_to(project / "out"))[:-4] for p in (project / "out").rglob("*.mp4")) == names
    assert all("digest" in video for video in locked_videos(project).values())
    paid = len(fake.submits())
    assert paid == len({video["key"] for video in locked_videos(project).values()})
    assert runner.pip_log.read_text().splitlines() == ["install reconciler==0.1.0"] * 2

    # The next pull request, with main's store restored from the cache, has nothing to make.
    quiet = runner.job("plan")
    assert quiet.ok, quiet.log
    assert quiet.outputs["plan"]["exitcode"] == "0"
    assert "**nothing to create; 11 up to date**" in (project / "plan.md").read_text()

    # A pull request that changes a spec but not the lock fails, and its comment says what differs.
    showcase = project / "specs" / "showcase.yaml"
    showcase.write_text(showcase.read_text().replace("seed: [7, 8]", "seed: [7, 9]"))
    stale = runner.job("plan")
    assert stale.failed == "Plan", stale.log
    assert stale.outputs["plan"]["exitcode"] == "1"
    assert "- added: tide-9\n- removed: tide-8" in (project / "plan.md").read_text()
    assert "error: reconciler.lock does not match the specs:" in (project / "plan.err").read_text()

    # Pushed to main as it is, the stale lock stops apply before it pays for anything.
    pushed = runner.job("apply")
    assert pushed.failed == "Apply", pushed.log
    assert len(fake.submits()) == paid


def test_the_example_workflow_is_wired_as_its_docs_say() -> None:
    document = workflow()
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    assert document["defaults"]["run"]["shell"] == "bash"
    plan, apply = document["jobs"]["plan"], document["jobs"]["apply"]
    assert "pull_request" in plan["if"]
    assert "refs/heads/main" in apply["if"]
    assert apply["concurrency"]["cancel-in-progress"] is False  # one apply at a time, none cancelled mid-payment

    uses = {name: [s for s in job["steps"] if "uses" in s] for name, job in document["jobs"].items()}
    for name, job in document["jobs"].items():
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step)
            assert "${{" not in step.get("run", ""), "expressions go through env:, never into a script"
        (restore,) = [s for s in uses[name] if s["uses"].startswith("actions/cache/restore@")]
        assert restore["with"]["path"] == ".reconciler"
        assert "hashFiles('reconciler.lock')" in restore["with"]["key"]
        assert "github.run_id" in restore["with"]["key"]  # a cache entry is immutable: each run saves its own
        assert restore["with"]["restore-keys"].splitlines() == [
            "reconciler-${{ hashFiles('reconciler.lock') }}-",  # the last store of these very specs
            "reconciler-",  # else the latest store of all
        ]
    assert "SEGMIND_API_KEY" not in str(plan)  # pull requests never see the key
    assert not [s for s in uses["plan"] if s["uses"].startswith("actions/cache/save@")]
    (comment,) = [s for s in uses["plan"] if s["uses"].startswith("actions/github-script@")]
    assert "always()" in comment["if"]
    assert "plan.md" in comment["with"]["script"]

    (save,) = [s for s in uses["apply"] if s["uses"].startswith("actions/cache/save@")]
    assert save["if"] == "always()"  # a failed or stopped apply still keeps the record of what it paid for
    assert save["with"]["path"] == ".reconciler"
    assert save["with"]["key"] == "${{ steps.store.outputs.cache-primary-key }}"
    (upload,) = [s for s in uses["apply"] if s["uses"].startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    assert "out/" in upload["with"]["path"].split()
    assert apply["steps"][[s.get("name") for s in apply["steps"]].index("Apply")]["env"] == {
        "SEGMIND_API_KEY": "${{ secrets.SEGMIND_API_KEY }}"
    }


def test_with_a_shared_store_applies_on_several_runners_at_once_and_a_lost_cache_cost_nothing(
    fake: Fake, project: Path, s3: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bucket = s3.new_bucket()
    shared = {"RECONCILER_STORE": f"s3://{bucket}/videos", **s3.env()}
    shutil.copytree(REPO / "specs", project / "specs", dirs_exist_ok=True)
    assert run_process("plan", "--update-lock", cwd=project).code == 0

    def runner_on(name: str) -> Runner:
        # A runner of its own: a fresh checkout with no cache restored (nothing under .reconciler/).
        checkout = project.parent / name
        shutil.copytree(project, checkout, ignore=shutil.ignore_patterns(".reconciler"))
        runner = Runner(checkout, fake, tmp_path_factory.mktemp(name))
        runner.secrets |= shared
        return runner

    first, second = runner_on("runner-1"), runner_on("runner-2")
    with ThreadPoolExecutor(2) as pool:
        jobs = list(pool.map(lambda runner: runner.job("apply"), (first, second)))
    for job in jobs:
        assert job.ok, job.log
    keys = {video["key"] for video in locked_videos(project).values()}
    assert len(fake.submits()) == len(keys)  # two runners at once, each video bought once

    late = runner_on("runner-3")
    pull = late.job("plan")
    assert pull.ok, pull.log
    assert pull.outputs["plan"]["exitcode"] == "0"
    main = late.job("apply")
    assert main.ok, main.log
    assert len(fake.submits()) == len(keys)  # a lost cache costs nothing
    assert len(list((late.project / "out").rglob("*.mp4"))) == 11

"""What a CI job sees: real processes with no terminal (stdin, stdout and stderr are pipes), their exit
codes, and not one colour code or spinner frame in their output.

Exit codes pinned elsewhere, not repeated here:
    plan 0, 2 with --detailed-exitcode, 1 on an unknown --target   tests/cli/test_plan_verify_gc.py
    plan --locked 1 when the lock disagrees or is missing           tests/ci/test_lock_cli.py
    apply 1 (blocked prompt), 1 without --yes off a terminal        tests/e2e/test_apply_basics.py
    apply 1 (bad key), 3 (--max-cost, credits), 4 (in doubt)        tests/e2e/test_apply_faults.py
    apply 130 (Ctrl-C, SIGTERM)                                     tests/e2e/test_apply_processes.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Run
from tests.e2e.conftest import spec, specs_file

THREE = specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl"))
ESC = "\x1b"


def ci(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """`reconciler ARGS` as a CI runner starts it: no terminal anywhere, a colour-capable TERM all the same."""
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TERM": "xterm-256color", **(env or {})},
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def assert_plain(run: Run) -> None:
    assert ESC not in run.out, run.out
    assert ESC not in run.err, run.err
    assert "\r" not in run.out + run.err  # no spinner or live table redrawing a line
    assert "Traceback" not in run.err


def test_plan_exits_2_with_something_to_make_then_0_once_apply_made_it(fake, write, project) -> None:
    write("specs/a.yaml", THREE)
    before = ci("plan", "--detailed-exitcode", cwd=project)
    assert before.code == 2, before.err
    assert before.out.splitlines()[-1].startswith("3 to create")
    assert ci("apply", "--yes", cwd=project, env=fake.env()).code == 0
    after = ci("plan", "--detailed-exitcode", "--locked", cwd=project)
    assert after.code == 0, after.err
    for run in (before, after):
        assert_plain(run)


def test_plan_exits_1_on_a_spec_mistake_even_with_detailed_exitcode(write, project) -> None:
    write("specs/a.yaml", "videos:\n  cat:\n    model: wan2.1-tv2\n    prompt: a cat\n")
    run = ci("plan", "--detailed-exitcode", cwd=project)
    assert run.code == 1
    assert 'specs/a.yaml:3:12: error: unknown model "wan2.1-tv2"' in run.err
    assert_plain(run)


def test_a_mistyped_option_exits_1_not_the_2_that_means_changes(write, project) -> None:
    write("specs/a.yaml", THREE)
    for args in (("plan", "--detailed-exitcode", "--formt", "markdown"), ("plan", "--format", "yaml")):
        run = ci(*args, cwd=project)
        assert run.code == 1, args
        assert "Error:" in run.err
        assert_plain(run)


def test_apply_exit_codes_as_a_process_agree_with_its_json_summary(fake, write, project) -> None:
    write("specs/a.yaml", THREE)
    stopped = ci("apply", "--yes", "--json", "--max-cost", "0.15", cwd=project, env=fake.env())
    assert stopped.code == 3, stopped.err
    events = [json.loads(line) for line in stopped.out.splitlines()]
    assert events[-1]["event"] == "summary"
    assert events[-1]["exit_code"] == 3
    assert events[-1]["stop"] == "budget"
    done = ci("apply", "--yes", "--json", cwd=project, env=fake.env())
    assert done.code == 0, done.err
    assert json.loads(done.out.splitlines()[-1])["exit_code"] == 0
    for run in (stopped, done):
        assert_plain(run)


def test_apply_prints_plain_progress_lines_with_no_colour_when_piped(fake, write, project) -> None:
    write("specs/a.yaml", THREE + "  bad:\n    model: wan-2.2-t2v-fast\n    prompt: an nsfw scene\n    seed: 1\n")
    run = ci("apply", "--yes", cwd=project, env=fake.env())
    assert run.code == 1  # the blocked prompt
    assert "stored" in run.out
    assert "failed" in run.out
    assert_plain(run)


def test_apply_without_yes_off_a_terminal_refuses_at_once_instead_of_waiting_for_an_answer(fake, write, project):
    write("specs/a.yaml", THREE)
    run = ci("apply", cwd=project, env=fake.env())
    assert run.code == 1
    assert "--yes" in run.err
    assert fake.submits() == []
    assert_plain(run)


def test_the_lock_errors_are_plain_too(write, project) -> None:
    write("specs/a.yaml", THREE)
    assert ci("plan", "--update-lock", cwd=project).code == 0
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = ci("plan", "--locked", "--format", "markdown", cwd=project)
    assert run.code == 1
    assert "error: reconciler.lock does not match the specs:" in run.err
    assert_plain(run)

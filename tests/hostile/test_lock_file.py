"""The lock file comes from a pull request like the specs: a hostile one is refused, never waited on."""

from __future__ import annotations

import os

GOOD_SPEC = "videos:\n  owl:\n    model: wan-2.2-t2v-fast\n    prompt: an owl at night\n    seed: 1\n"


def test_plan_locked_refuses_a_lock_file_that_is_a_fifo_without_waiting_for_a_writer(project, hostile) -> None:
    (project / "specs" / "a.yaml").write_text(GOOD_SPEC, encoding="utf-8")
    os.mkfifo(project / "reconciler.lock")
    hostile("plan", "--locked", timeout=30).assert_clean_error("reconciler.lock", "FIFO")


def test_plan_update_lock_refuses_to_overwrite_a_lock_that_is_a_fifo(project, hostile) -> None:
    (project / "specs" / "a.yaml").write_text(GOOD_SPEC, encoding="utf-8")
    os.mkfifo(project / "reconciler.lock")
    hostile("plan", "--update-lock", timeout=30).assert_clean_error("reconciler.lock", "FIFO")


def test_plan_locked_refuses_a_lock_nested_too_deeply_for_tomllib(project, hostile) -> None:
    (project / "specs" / "a.yaml").write_text(GOOD_SPEC, encoding="utf-8")
    depth = 5000
    (project / "reconciler.lock").write_text("x = " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    hostile("plan", "--locked", timeout=30).assert_clean_error("reconciler.lock", "nested too deeply")

"""Shared fixtures: run the real CLI in-process or as a real process, and write spec trees."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (a red CI is never luck); locally every run explores anew.
# `pytest --hypothesis-profile=long` is the nightly profile: many more examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("long", max_examples=2_000, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory that is the working directory of the test."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    return tmp_path


@pytest.fixture
def write(project: Path) -> Callable[[str, str], Path]:
    """Write a spec file (dedented) under the project; returns its path."""

    def _write(relative: str, text: str) -> Path:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `reconciler ARGS` in-process through its real entry point."""
    from reconciler.cli import main

    def _run(*args: str) -> Run:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        code = exit_info.value.code
        return Run(int(code) if isinstance(code, int) else 1, captured.out, captured.err)

    return _run


@pytest.fixture
def process() -> Callable[..., Run]:
    """Run `python -m reconciler ARGS` as a real process (to see exactly what a user sees)."""
    return run_process


def run_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)

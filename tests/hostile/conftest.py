"""Hostile input: run the real CLI as a process, bounded in time and memory, and judge its answer.

    def test_x(project, write, hostile):
        write("specs/a.yaml", BOMB)
        run = hostile("validate")                   # `python -m reconciler validate`, capped
        run.assert_clean_error("specs/a.yaml")      # exit 1, names the file, no traceback

Each run gets an address-space limit (`MEMORY_LIMIT`) and a wall-clock timeout, so a regression
shows as a failed test (a MemoryError or a timeout), never as a hung or swapping runner.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space: far more than any honest run needs
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Answer:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def assert_clean_error(self, *mentions: str, code: int = 1) -> None:
        """The run refused with exit `code`, said each of `mentions`, and printed no traceback."""
        assert "Traceback" not in self.text, self.text
        assert self.code == code, f"exit {self.code}, expected {code}:\n{self.text}"
        for mention in mentions:
            assert mention in self.text, f"{mention!r} not in:\n{self.text}"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture
def hostile(project: Path) -> Callable[..., Answer]:
    """`python -m reconciler ARGS` in the project, under a memory limit and a timeout."""

    def _run(*args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> Answer:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=project,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory,
            check=False,
        )
        return Answer(done.returncode, done.stdout, done.stderr)

    return _run

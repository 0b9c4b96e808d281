"""Commands run in-process (tests, a program embedding the CLI) leave the host as it was: its collector,
its hooks. A process that is one command (the console script) shows no traceback for a late Ctrl-C."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable

from click.testing import CliRunner

from reconciler.cli import cli as group


class Leak:
    """A cycle that only the collector frees; it says when it is freed."""

    freed: list[str]

    def __init__(self, freed: list[str]) -> None:
        self.freed = freed
        self.me = self

    def __del__(self) -> None:
        self.freed.append("freed")


def test_a_command_loaded_and_run_in_process_leaves_earlier_cycles_collectable(cli: Callable[..., object]) -> None:
    freed: list[str] = []
    Leak(freed)
    assert CliRunner().invoke(group, ["spend", "--help"]).exit_code == 0  # loads a command
    cli("plan", "--help")  # through the entry point tests and programs call
    gc.collect()
    assert freed == ["freed"], "a cycle alive while a command loaded was frozen: never collected"


FINALIZERS = """
from reconciler.cli import process
{own}
class Interrupted:
    def __del__(self):
        raise KeyboardInterrupt  # as a second Ctrl-C does when it lands while apply frees its event loop
class Failing:
    def __del__(self):
        raise RuntimeError("a real fault")
Interrupted()
Failing()
"""


def test_a_command_process_prints_no_traceback_for_a_ctrl_c_in_a_finalizer_and_still_shows_real_faults() -> None:
    def stderr(own: str) -> str:
        script = FINALIZERS.format(own=own)
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stderr

    assert stderr("").count("Traceback") == 2  # Python's own hook: both printed
    owned = stderr("process.own()")
    assert "KeyboardInterrupt" not in owned
    assert "RuntimeError: a real fault" in owned

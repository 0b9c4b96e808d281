"""Commands run in-process (tests, a program embedding the CLI) leave the host's collector as it was."""

from __future__ import annotations

import gc
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

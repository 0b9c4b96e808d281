"""The `reconciler` command line: parse options, build the runtime once, call one function, render.

    front.py   every command's name, home and help line; `--help` and `--version` answered without click
    group.py   the click group, and the one place errors become messages and exit codes
    lazy.py    the group's commands, each imported only when it runs
    process.py whether this process is one command start to end (the console script) or a host

The console script enters at `run`. The names below load on first use, so `reconciler --version`
imports neither click nor any command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from reconciler.cli import front, process
from reconciler.exports import exports

if TYPE_CHECKING:
    from reconciler.cli.front import COMMANDS
    from reconciler.cli.group import cli

__all__ = ["COMMANDS", "cli", "main", "run"]


def run() -> NoReturn:
    """The console script's entry (and `python -m reconciler`'s): this process is one command, start to end."""
    process.own()
    main()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: every user mistake ends as a message and an exit code, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    text = front.answer(args)
    if text is None:
        from reconciler.cli.group import main as through_click

        through_click(args)
    try:
        if sys.stdout is not None:  # None when started with stdout closed: click's echo then writes nothing
            sys.stdout.write(text)
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader had what it wanted (`reconciler --help | head -3`): nothing more to say, even at
        # exit, and the exit code click gives every other command whose reader went (1).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    sys.exit(0)


if not TYPE_CHECKING:  # type checkers read the names from the imports above, and so know each one's type
    __getattr__ = exports(__name__, {"reconciler.cli.front": ("COMMANDS",), "reconciler.cli.group": ("cli",)})

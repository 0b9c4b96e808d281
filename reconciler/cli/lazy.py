"""A click group whose commands are imported only when they run: start-up pays for one command, not all.

Each command lives in a module that imports what it needs (the API client, the engine, rich...).
The group knows every command by name, where it lives and its one-line help, so `reconciler --help`
lists them all without importing any, and `reconciler plan` imports the plan command alone. A test
holds each line here equal to the command's own help, so the two cannot drift.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import click

from reconciler.cli import process


class LazyCommand(NamedTuple):
    """Where a command lives (`package.module:attribute`) and the first sentence of its help."""

    target: str
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        # A command's modules make tens of thousands of objects that live as long as the process,
        # and no garbage: the cycle collector's passes over them while they load, and every later
        # pass of the command's own work, would walk them for nothing (validate: 7% of its start-up
        # instructions). So it is paused while they load, and they are set aside (see process.py).
        collecting = gc.isenabled()
        gc.disable()
        try:
            command = getattr(importlib.import_module(module), attribute)
        finally:
            process.set_aside()
            if collecting:
                gc.enable()
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section of --help from the map: a stand-in with the same help is cut as the command is."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name) or click.Command(name, help=self.lazy[name].short_help)
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

"""A click group whose commands are imported only when they run: start-up pays for one command, not all.

Each command lives in a module that imports what it needs (the API client, the engine, rich...).
The group knows every command by name, where it lives and its one-line help (front.py's map), so
its help lists them all without importing any, and `reconciler plan` imports the plan command
alone. A test holds each line of the map equal to the command's own help, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from reconciler.cli.front import LazyCommand


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
            self.add_command(command, cmd_name)
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

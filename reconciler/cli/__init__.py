"""The `reconciler` command line: parse options, build the runtime once, call one function, render.

Errors become messages and exit codes here and nowhere else: a ReconcilerError is printed as the
sentence it is (spec errors one per line with file:line:col), never as a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Final, NoReturn

import click

from reconciler import __version__
from reconciler.errors import ReconcilerError, SpecErrors

# Command name -> the module defining it. A command's module is imported only when that command
# runs (or help lists them all): `validate` should not pay for httpx, asyncio and rich at start-up,
# which only the commands that talk to the API or draw progress use.
COMMANDS: Final = {
    "validate": "reconciler.cli.inspect",
    "schema": "reconciler.cli.inspect",
    "models": "reconciler.cli.inspect",
    "plan": "reconciler.cli.plan",
    "apply": "reconciler.cli.apply",
    "watch": "reconciler.cli.watch",
    "verify": "reconciler.cli.store",
    "gc": "reconciler.cli.store",
    "layout": "reconciler.cli.store",
    "push": "reconciler.cli.store",
    "pull": "reconciler.cli.store",
    "report": "reconciler.cli.report",
    "spend": "reconciler.cli.report",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(module), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declare the videos you want in spec files; plan and apply them against Segmind's Wan models."""


def _report(error: ReconcilerError) -> int:
    if isinstance(error, SpecErrors):
        for item in error.errors:
            click.echo(f"{item.where}: " + click.style("error: ", fg="red", bold=True) + item.message, err=True)
            if item.hint:
                click.echo(f"  hint: {item.hint}", err=True)
        files = len({e.where.path for e in error.errors})
        click.echo(f"{error} ({files} file{'s' if files != 1 else ''})", err=True)
    else:
        click.echo(click.style("error: ", fg="red", bold=True) + str(error), err=True)
    return error.exit_code


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every user mistake ends as a message and an exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except ReconcilerError as error:
        sys.exit(_report(error))
    except click.UsageError as error:
        # Click's exit code for these is 2, which `plan --detailed-exitcode` means as "changes".
        error.show()
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)

"""The click group of every command, and the one place errors become messages and exit codes.

A ReconcilerError is printed as the sentence it is (spec errors one per line with file:line:col),
never as a traceback. The commands themselves load only when they run (lazy.py); `reconciler
--help` and `--version` are answered before this module is imported (front.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from reconciler import __version__
from reconciler.cli.front import ABOUT, COMMANDS, MAX_WIDTH
from reconciler.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from reconciler.errors import ReconcilerError


# Its help and version are front.py's, which answers `reconciler --help` and `--version` without click.
@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    help=ABOUT,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": MAX_WIDTH},
)
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    pass  # every command is one of the group's


def _report(error: ReconcilerError) -> int:
    from reconciler.errors import SpecErrors

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
    """Run one command through click: every user mistake ends as a message and an exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
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
    except Exception as error:
        # The error tree loads when something went wrong: a command that succeeds never imports it.
        from reconciler.errors import ReconcilerError

        if not isinstance(error, ReconcilerError):
            raise
        sys.exit(_report(error))
    sys.exit(0)

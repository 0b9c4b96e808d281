"""The `reconciler` command line: parse options, build the runtime once, call one function, render.

Errors become messages and exit codes here and nowhere else: a ReconcilerError is printed as the
sentence it is (spec errors one per line with file:line:col), never as a traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from reconciler import __version__
from reconciler.cli import process
from reconciler.cli.lazy import LazyCommand, LazyGroup

if TYPE_CHECKING:
    from reconciler.errors import ReconcilerError

# Every command, where it lives and its help's first sentence (a test holds each equal to the command's own).
COMMANDS = {
    "validate": LazyCommand(
        "reconciler.cli.inspect:validate", "Check spec files (default: specs/): load, resolve and key every video."
    ),
    "schema": LazyCommand(
        "reconciler.cli.inspect:schema", "Print the JSON Schema of spec files (for editor completion and checking)."
    ),
    "models": LazyCommand(
        "reconciler.cli.inspect:models", "List the models this tool knows, with their average cost and time."
    ),
    "plan": LazyCommand("reconciler.cli.plan:plan", "Show what apply would do for each spec, and what it would cost."),
    "apply": LazyCommand(
        "reconciler.cli.apply:apply",
        "Make what plan shows: submit what is missing, resume what is in flight, store and lay out the videos.",
    ),
    "watch": LazyCommand(
        "reconciler.cli.watch:watch",
        "Watch spec files (default: specs/) and apply every change as it is saved, until Ctrl-C.",
    ),
    "verify": LazyCommand(
        "reconciler.cli.store:verify",
        "Re-hash every stored blob; quarantine bad ones so the next apply fetches them again.",
    ),
    "gc": LazyCommand(
        "reconciler.cli.store:gc",
        "Remove stored outputs and blobs that no spec under PATHS needs (in-flight jobs are kept).",
    ),
    "layout": LazyCommand(
        "reconciler.cli.store:layout",
        "Make out/<name>.mp4 mirror the specs from what is stored; no network, nothing bought.",
    ),
    "push": LazyCommand(
        "reconciler.cli.store:push",
        "Copy the local store's outputs (blobs, then records) into the remote store, so a team starts from them.",
    ),
    "pull": LazyCommand(
        "reconciler.cli.store:pull",
        "Fetch the videos the specs need from the remote store into the local cache and lay out out/; no API key.",
    ),
    "report": LazyCommand(
        "reconciler.cli.report:report",
        "Write a static gallery of every declared video: posters, parameters, cost, status; no network.",
    ),
    "spend": LazyCommand(
        "reconciler.cli.report:spend",
        "What the videos cost, from the store's records: per model, per day, top specs, and the total.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declare the videos you want in spec files; plan and apply them against Segmind's Wan models."""


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


def run() -> NoReturn:
    """The console script's entry (and `python -m reconciler`'s): this process is one command, start to end."""
    process.own()
    main()


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every user mistake ends as a message and an exit code, never a traceback."""
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
        # The error tree loads when something went wrong: `--help` and `--version` never import it.
        from reconciler.errors import ReconcilerError

        if not isinstance(error, ReconcilerError):
            raise
        sys.exit(_report(error))
    sys.exit(0)

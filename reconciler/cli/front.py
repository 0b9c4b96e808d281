"""The front of the command line, without click: every command's name, home and help line, and the
answers to `reconciler --help`, `-h` and `--version`.

Those are the first things people type, and scripts ask for `--version` in every run. Importing
click costs more than the rest of those answers together (docs/speed.md), so the three are answered
here, in click's own words and layout at every terminal width: a test holds the text equal to what
click prints from every command's module. Anything else (`plan --help` included) goes to click.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from reconciler import __version__
from reconciler.cli import process

ABOUT = "Declare the videos you want in spec files; plan and apply them against Segmind's Wan models."

# Click's help is as wide as the terminal less 2, at most this (the group's max_content_width) and at least 50.
MAX_WIDTH = 100


class LazyCommand(NamedTuple):
    """Where a command lives (`package.module:attribute`) and the first sentence of its help."""

    target: str
    short_help: str

    def load(self) -> Any:
        """The command (the group checks it is a click command), its module imported now."""
        module, _, attribute = self.target.partition(":")
        # A command's modules make tens of thousands of objects that live as long as the process,
        # and no garbage: the cycle collector's passes over them while they load, and every later
        # pass of the command's own work, would walk them for nothing (validate: 7% of its start-up
        # instructions). So it is paused while they load, and they are set aside (see process.py).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return getattr(importlib.import_module(module), attribute)
        finally:
            process.set_aside()
            if collecting:
                gc.enable()


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

# The group's own options, as click lists them.
OPTIONS = (("--version", "Show the version and exit."), ("-h, --help", "Show this message and exit."))


def answer(args: Sequence[str]) -> str | None:
    """What `reconciler ARGS` prints, if it is the group's help or version; None for anything else."""
    if os.environ.get("_RECONCILER_COMPLETE"):
        return None  # click's shell completion, whatever the arguments
    if list(args) == ["--version"]:
        return f"reconciler, version {__version__}\n"
    if list(args) in (["--help"], ["-h"]):
        return group_help(help_width())
    return None


def help_width() -> int:
    """Click's help width, from the terminal's columns as shutil reads them: COLUMNS, else stdout's terminal, else 80.

    (shutil itself imports far more than this path needs: compression modules and re.)
    """
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(min(columns, MAX_WIDTH) - 2, 50)


def group_help(width: int) -> str:
    """`reconciler --help` at `width` columns, laid out as click's HelpFormatter lays out a group."""
    names = sorted(COMMANDS)
    limit = width - 6 - max(len(name) for name in names)
    return "\n".join(
        [
            "Usage: reconciler [OPTIONS] COMMAND [ARGS]...",
            "",
            *_wrapped(ABOUT, width, "  ", "  "),
            "",
            "Options:",
            *_table(OPTIONS, width),
            "",
            "Commands:",
            *_table([(name, short_help(COMMANDS[name].short_help, limit)) for name in names], width),
            "",
        ]
    )


def short_help(text: str, limit: int) -> str:
    """The text cut to `limit` as click cuts a command's help in a list: at the first sentence's end, else "..."."""
    words = text.split()
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word.endswith("."):
            return " ".join(words[: i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += len("...")
    while i > 0:
        total -= len(words[i]) + 1
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."


def _table(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    """Click's definition list (write_dl) at indent 2: terms padded to the longest, texts wrapped beside them."""
    first = max(len(term) for term, _ in rows) + 2
    lines = []
    for term, text in rows:
        wrapped = _wrapped(text, max(width - first - 2, 10), "", "")
        lines.append(f"  {term:<{first}}{wrapped[0]}")
        lines.extend(" " * (first + 2) + line for line in wrapped[1:])
    return lines


def _wrapped(text: str, width: int, first: str, rest: str) -> list[str]:
    """Greedy wrapping at spaces, as textwrap does for text with no hyphens and no word wider than the line.

    (textwrap imports re, which this path does not otherwise need; the help's texts have neither.)
    """
    lines: list[str] = []
    line = first
    for word in text.split():
        if line.strip() and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = rest
        line += (" " if line.strip() else "") + word
    lines.append(line)
    return lines

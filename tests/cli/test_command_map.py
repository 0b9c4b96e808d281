"""The command map behind `reconciler --help`: each line is the command's own, and every command runs.

`reconciler --help`, `-h` and `--version` are answered without click (front.py); click itself,
with every command's module imported, is the judge of what they print.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import click
import pytest

from reconciler.cli import COMMANDS
from reconciler.cli import cli as group


def command_at(target: str) -> click.Command:
    module, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    return command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_line_of_the_map_is_the_first_sentence_of_the_commands_own_help(name: str) -> None:
    command = command_at(COMMANDS[name].target)
    assert command.name == name
    assert COMMANDS[name].short_help == command.get_short_help_str(limit=10_000)


def eager_group() -> click.Group:
    """The group as click would make it with every command imported."""
    return click.Group(
        "reconciler",
        commands=[command_at(entry.target) for entry in COMMANDS.values()],
        help=group.help,
        params=group.params,
        context_settings=group.context_settings,
    )


def clicks_help(command: click.Group) -> str:
    with click.Context(command, info_name="reconciler", **group.context_settings) as context:
        return command.get_help(context) + "\n"


def test_help_reads_as_it_would_with_every_command_imported() -> None:
    assert clicks_help(group) == clicks_help(eager_group())


# Every width click lays out differently, and then some: it clamps the terminal's columns to 52..102.
WIDTHS = [1, 20, 49, *range(50, 106), 120, 300]


def test_help_without_click_reads_as_clicks_at_every_terminal_width(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    eager = eager_group()
    for columns in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(columns))
        for option in ("--help", "-h"):
            run = cli(option)
            assert run.code == 0, run.err
            assert run.out == clicks_help(eager), f"{option} at COLUMNS={columns}"


def test_version_without_click_reads_as_clicks(cli: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        group.main(["--version"], prog_name="reconciler")
    clicks = capsys.readouterr().out
    run = cli("--version")
    assert run.code == 0
    assert run.out == clicks
    assert run.out == f"reconciler, version {importlib.metadata.version('reconciler')}\n"


# `reconciler ARGS` answered by click, as before front.py: the group's own main.
CLICKS_MAIN = "import sys; from reconciler.cli.group import main; main(sys.argv[1:])"


def answered_both_ways(option: str, *, stdout: int, closed: bool = False) -> list[tuple[int, str]]:
    """(exit code, stderr) of `reconciler OPTION` as a process, answered by front.py and then by click.

    `stdout` is the file descriptor it writes to; with `closed`, it starts with no stdout at all (`>&-`).
    """
    answers = []
    for way in (["-m", "reconciler"], ["-c", CLICKS_MAIN]):
        argv = [sys.executable, *way, option]
        if closed:
            argv = ["sh", "-c", 'exec "$@" >&-', "sh", *argv]
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
        answers.append((done.returncode, done.stderr))
    return answers


@pytest.mark.parametrize("option", ["--help", "-h", "--version"])
def test_help_and_version_to_a_reader_that_has_gone_exit_as_clicks_with_nothing_on_stderr(option: str) -> None:
    reading, writing = os.pipe()
    os.close(reading)  # `reconciler --help | head -1`, head gone before a byte is written
    try:
        front, clicks = answered_both_ways(option, stdout=writing)
    finally:
        os.close(writing)
    assert front == clicks
    assert front[1] == ""  # no traceback, no "Exception ignored"


@pytest.mark.parametrize("option", ["--help", "-h", "--version"])
def test_help_and_version_with_stdout_closed_exit_0_with_nothing_on_stderr_as_click_does(option: str) -> None:
    # `reconciler --help >&-`: Python starts with sys.stdout None, and click's echo writes nothing.
    front, clicks = answered_both_ways(option, stdout=subprocess.DEVNULL, closed=True)
    assert front == clicks == (0, "")


def test_help_with_clicks_completion_variable_set_is_clicks(
    cli: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `_RECONCILER_COMPLETE=bash_source reconciler ...` asks click for the shell's completion script.
    monkeypatch.setenv("_RECONCILER_COMPLETE", "bash_source")
    with pytest.raises(SystemExit):
        group.main(["--help"], prog_name="reconciler")
    clicks = capsys.readouterr().out
    assert clicks.startswith("_reconciler_completion()")
    run = cli("--help")
    assert (run.code, run.out) == (0, clicks)


def test_help_after_anything_else_is_clicks(cli: Callable[..., Any]) -> None:
    run = cli("--help", "plan")
    assert run.code == 0, run.err
    assert run.out.startswith("Usage: reconciler [OPTIONS] COMMAND [ARGS]...")
    assert cli("--versions").code != 0  # a near miss is a usage error from click, not an answer


def test_every_command_of_the_reconciler_package_is_in_the_map() -> None:
    found = set()
    for module in ("inspect", "plan", "apply", "watch", "store", "report"):
        namespace = vars(importlib.import_module(f"reconciler.cli.{module}"))
        found |= {value.name for value in namespace.values() if isinstance(value, click.Command)}
    assert found == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_answers_its_own_help(name: str, cli: Callable[..., Any]) -> None:
    run = cli(name, "--help")
    assert run.code == 0, run.err
    assert f"Usage: reconciler {name}" in run.out

"""The command map behind `reconciler --help`: each line is the command's own, and every command runs."""

from __future__ import annotations

import importlib
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


def test_help_reads_as_it_would_with_every_command_imported() -> None:
    eager = click.Group(
        "reconciler",
        commands=[command_at(entry.target) for entry in COMMANDS.values()],
        help=group.help,
        params=group.params,
        context_settings=group.context_settings,
    )
    with click.Context(group, info_name="reconciler", **group.context_settings) as lazy_context:
        lazy = group.get_help(lazy_context)
    with click.Context(eager, info_name="reconciler", **group.context_settings) as eager_context:
        assert lazy == eager.get_help(eager_context)


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

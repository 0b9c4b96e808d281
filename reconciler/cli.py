"""The `reconciler` command line: parse options, build the runtime once, call one function, render.

Errors become messages and exit codes here and nowhere else: a ReconcilerError is printed as the
sentence it is (spec errors one per line with file:line:col), never as a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import __version__, catalog, keys
from reconciler.errors import ReconcilerError, SpecError, SpecErrors
from reconciler.spec import SpecSet, load
from reconciler.speccache import FileParseCache

DEFAULT_SPECS = "specs"
JSON_FORMAT_VERSION = 1


def _store_root(store: str | None) -> Path:
    return Path(store or os.environ.get("RECONCILER_STORE") or ".reconciler")


def store_option(func: Any) -> Any:
    return click.option(
        "--store",
        metavar="DIR",
        help="Store directory (default .reconciler, or $RECONCILER_STORE).",
    )(func)


def paths_argument(func: Any) -> Any:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=str))(func)


def load_specs(paths: tuple[str, ...], store: str | None, *, use_cache: bool = True) -> SpecSet:
    """Load specs through the parse cache kept in the store directory."""
    cache = FileParseCache(_store_root(store) / "cache" / "parse.pickle") if use_cache else None
    try:
        return load(list(paths) or [DEFAULT_SPECS], cache=cache)
    finally:
        if cache is not None:
            cache.save()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declare the videos you want in spec files; plan and apply them against Segmind's Wan models."""


@cli.command()
@paths_argument
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
@click.option("--no-cache", is_flag=True, help="Parse every file again, ignoring the parse cache.")
def validate(paths: tuple[str, ...], store: str | None, as_json: bool, no_cache: bool) -> None:
    """Check spec files (default: specs/): load, resolve and key every video.

    Exit 0 when everything is valid, 1 when any file has a mistake (all are listed, file:line:col).
    """
    try:
        specs = load_specs(paths, store, use_cache=not no_cache)
    except SpecErrors as exc:
        if as_json:
            _print_json({"format_version": JSON_FORMAT_VERSION, "valid": False, "errors": _errors_json(exc.errors)})
            raise SystemExit(1) from None
        raise
    distinct = {keys.entry_key(keys.SEGMIND, e) for e in specs.entries}
    by_model = Counter(e.model for e in specs.entries)
    if as_json:
        _print_json(
            {
                "format_version": JSON_FORMAT_VERSION,
                "valid": True,
                "videos": len(specs.entries),
                "distinct_requests": len(distinct),
                "files": len(specs.files),
                "by_model": dict(sorted(by_model.items())),
                "warnings": [
                    {"file": w.where.path, "line": w.where.line, "col": w.where.col, "message": w.message}
                    for w in specs.warnings
                ],
                "errors": [],
            }
        )
        return
    for warning in specs.warnings:
        click.echo(f"{warning.where}: " + click.style("warning: ", fg="yellow") + warning.message, err=True)
    files = f"{len(specs.files)} file{'s' if len(specs.files) != 1 else ''}"
    shared = f" ({len(distinct)} distinct requests)" if len(distinct) != len(specs.entries) else ""
    click.echo(click.style("valid: ", fg="green", bold=True) + f"{len(specs.entries)} videos{shared} in {files}")
    width = max((len(m) for m in by_model), default=0)
    for model, count in sorted(by_model.items()):
        click.echo(f"  {model:<{width}}  {count}")


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of spec files (for editor completion and checking)."""
    from reconciler.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@cli.command()
def models() -> None:
    """List the models this tool knows, with their average cost and time."""
    for model in catalog.MODELS:
        click.echo(
            f"{model.slug:<18} {model.task:<15} ~${model.avg_cost_usd:.3f}  ~{model.avg_latency_s:.0f} s  {model.title}"
        )


def _errors_json(errors: list[SpecError]) -> list[dict[str, Any]]:
    return [
        {"file": e.where.path, "line": e.where.line, "col": e.where.col, "message": e.message, "hint": e.hint}
        for e in errors
    ]


def _print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


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

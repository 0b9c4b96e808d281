"""Commands that read specs and the catalog: validate, schema, models."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from reconciler import catalog, keys
from reconciler.cli.common import JSON_FORMAT_VERSION, errors_json, load_specs, paths_argument, print_json, store_option
from reconciler.errors import SpecErrors
from reconciler.ui.format import plural


@click.command()
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
            print_json({"format_version": JSON_FORMAT_VERSION, "valid": False, "errors": errors_json(exc.errors)})
            raise SystemExit(1) from None
        raise
    distinct = {keys.entry_key(keys.SEGMIND, e) for e in specs.entries}
    by_model = Counter(e.model for e in specs.entries)
    if as_json:
        print_json(
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
    files = plural(len(specs.files), "file")
    shared = f" ({len(distinct)} distinct requests)" if len(distinct) != len(specs.entries) else ""
    videos = plural(len(specs.entries), "video")
    click.echo(click.style("valid: ", fg="green", bold=True) + f"{videos}{shared} in {files}")
    width = max((len(m) for m in by_model), default=0)
    for model, count in sorted(by_model.items()):
        click.echo(f"  {model:<{width}}  {count}")


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of spec files (for editor completion and checking)."""
    from reconciler.spec.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@click.command()
def models() -> None:
    """List the models this tool knows, with their average cost and time."""
    for model in catalog.MODELS:
        click.echo(
            f"{model.slug:<18} {model.task:<15} ~${model.avg_cost_usd:.3f}  ~{model.avg_latency_s:.0f} s  {model.title}"
        )

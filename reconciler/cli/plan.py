"""`reconciler plan`: what apply would do, and what it would cost."""

from __future__ import annotations

import click

from reconciler.cli.common import build_plan, paths_argument, show_plan, store_option, targeting


@click.command()
@paths_argument
@store_option
@targeting
@click.option("--json", "as_json", is_flag=True, help="Print the versioned JSON document (same as --format json).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    help="text: a table on a terminal, plain lines when piped; markdown: for a pull-request comment.",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when there is nothing to do, 2 when there is, 1 on error."
)
@click.option("--mock", is_flag=True, help="Plan against the bundled fake's namespace instead of the real API's.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="For the time estimate.")
@click.option("--retry-failed", is_flag=True, help="Plan to buy again what failed for good (e.g. content blocks).")
@click.option("--show-noop", is_flag=True, help="List up-to-date specs too (shown anyway when there are 20 or fewer).")
def plan(
    paths: tuple[str, ...],
    store: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    as_json: bool,
    fmt: str,
    detailed_exitcode: bool,
    mock: bool,
    concurrency: int,
    retry_failed: bool,
    show_noop: bool,
) -> None:
    """Show what apply would do for each spec, and what it would cost. Makes no network call."""
    from reconciler import render

    specs, _, result = build_plan(
        paths,
        store,
        mock=mock,
        targets=targets,
        excludes=excludes,
        concurrency=concurrency,
        retry_failed=retry_failed,
        orphan_limit=None if (as_json or fmt == "json") else 10,
    )
    if as_json or fmt == "json":
        click.echo(render.dumps(render.document(result) | {"warnings": [str(w) for w in specs.warnings]}))
    elif fmt == "markdown":
        click.echo(render.markdown(result), nl=False)
    else:
        show_plan(specs, result, show_noop=show_noop)
    if detailed_exitcode and result.has_changes():
        raise SystemExit(2)

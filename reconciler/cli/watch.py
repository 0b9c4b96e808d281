"""`reconciler watch`: keep the store and out/ in step with the specs while they are edited."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import (
    api_options,
    backend,
    concurrency_option,
    out_option,
    paths_argument,
    retry_failed_option,
    site,
    store_option,
    targeting,
)
from reconciler.cli.cost import COST_CAP
from reconciler.cli.report import hint
from reconciler.runtime.config import load_settings


@click.command()
@paths_argument
@store_option
@targeting
@click.option(
    "--yes", "-y", "--auto-approve", "yes", is_flag=True, help="Submit each batch of new videos without asking."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON event per line.")
@concurrency_option
@click.option("--max-cost", type=COST_CAP, metavar="USD", help="Cap on the session's estimated spend.")
@retry_failed_option
@out_option
@click.option(
    "--debounce-ms",
    type=click.IntRange(10, 10_000),
    default=200,
    show_default=True,
    help="Quiet time after the last change before specs are read again.",
)
@click.option(
    "--report", "with_report", is_flag=True, help="Rewrite the gallery after every stored video (it reloads itself)."
)
@click.option("--report-dir", metavar="DIR", default="report", show_default=True, help="The gallery's folder.")
@api_options
def watch(
    paths: tuple[str, ...],
    store: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    yes: bool,
    as_json: bool,
    mock: bool,
    concurrency: int,
    max_cost: float | None,
    retry_failed: bool,
    out_dir: str | None,
    debounce_ms: int,
    with_report: bool,
    report_dir: str,
    base_url: str | None,
    api_key: str | None,
    history_url: str | None,
    upload_url: str | None,
    latency_scale: float | None,
) -> None:
    """Watch spec files (default: specs/) and apply every change as it is saved, until Ctrl-C.

    Only new work is submitted: editing one spec of fifty submits that one. Jobs in flight always
    finish (they are paid for); out/ follows the specs as they are now. A save with a mistake is
    reported (file:line) and that file keeps its last good version. Without --yes, each batch is
    asked for on a terminal, and only shown otherwise.
    """
    from reconciler.runtime.watch import Settings, run_watch

    chosen = backend(
        mock=mock, api_key=api_key, base_url=base_url, history_url=history_url, upload_url=upload_url,
        latency_scale=latency_scale,
    )  # fmt: skip
    settings = Settings(
        paths=paths or tuple(load_settings().specs),
        site=site(store, chosen),
        out_dir=Path(out_dir or load_settings().out),
        targets=targets,
        excludes=excludes,
        concurrency=concurrency,
        max_cost=max_cost,
        retry_failed=retry_failed,
        debounce_ms=debounce_ms,
        report_dir=Path(report_dir) if with_report else None,
    )
    summary = run_watch(settings, yes=yes, as_json=as_json)
    if not as_json:
        click.echo(hint(mock), err=True)
    raise SystemExit(int(summary.exit_code))

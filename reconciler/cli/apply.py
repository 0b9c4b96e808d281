"""`reconciler apply`: make what plan shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli import lockfile
from reconciler.cli.common import (
    api_options,
    backend,
    build_plan,
    concurrency_option,
    out_option,
    paths_argument,
    retry_failed_option,
    show_plan,
    site,
    store_option,
    store_root,
    targeting,
)
from reconciler.cli.cost import COST_CAP
from reconciler.cli.report import hint
from reconciler.errors import UsageError
from reconciler.plan.diff import Plan
from reconciler.runtime.config import load_settings


@click.command()
@paths_argument
@store_option
@targeting
@click.option(
    "--yes", "-y", "--auto-approve", "yes", is_flag=True, help="Submit without asking (needed off a terminal)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON event per line, then a summary document.")
@concurrency_option
@click.option(
    "--max-cost",
    type=COST_CAP,
    metavar="USD",
    help="Stop submitting before the estimated spend of this run would pass USD (exit 3).",
)
@retry_failed_option
@click.option(
    "--resubmit-in-doubt",
    is_flag=True,
    help="When the request history cannot say whether a lost submit made a job, submit again (may pay twice).",
)
@lockfile.lock_options
@out_option
@api_options
def apply(
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
    resubmit_in_doubt: bool,
    locked: bool,
    lock_file: str | None,
    out_dir: str | None,
    base_url: str | None,
    api_key: str | None,
    history_url: str | None,
    upload_url: str | None,
    latency_scale: float | None,
) -> None:
    """Make what plan shows: submit what is missing, resume what is in flight, store and lay out the videos.

    Exit 0 when every targeted spec is stored, 1 when anything failed, 3 when --max-cost or the
    account's credits stopped it, 4 when a submit is in doubt, 130 when interrupted (apply again to
    resume: nothing is ever submitted twice).

    Writes reconciler.lock (every spec's key and stored video) when it changes; with --locked, first
    checks that the specs match it and submits nothing (exit 1) when they do not.
    """
    from reconciler.runtime.apply import ApplyRequest, run_apply
    from reconciler.ui import plans as render

    if mock:
        lockfile.no_lock_with_mock(("--locked", locked), ("--lock", lock_file))
    chosen = backend(
        mock=mock, api_key=api_key, base_url=base_url, history_url=history_url, upload_url=upload_url,
        latency_scale=latency_scale,
    )  # fmt: skip
    path = None if mock else lockfile.lock_path(lock_file, paths)
    if locked:
        path = lockfile.required_path(lock_file, paths, "--locked")
    specs, desired, result = build_plan(
        paths,
        store,
        mock=mock,
        targets=targets,
        excludes=excludes,
        concurrency=concurrency,
        retry_failed=retry_failed,
        latency_scale=latency_scale,
    )
    if path is not None and locked:
        check = lockfile.check(path, result, desired)
        lockfile.report(check)
        if not check.drift.agrees:
            click.echo("apply --locked: nothing was submitted", err=True)
            raise SystemExit(1)
    if as_json:
        document = {"event": "plan"} | render.document(result) | {"warnings": [str(w) for w in specs.warnings]}
        click.echo(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    else:
        show_plan(specs.warnings, result, show_noop=False)
    if result.has_changes() and not mock and not yes:
        _confirm(result)
    summary = run_apply(
        ApplyRequest(
            plan=result,
            desired=desired,
            out_dir=Path(out_dir or load_settings().out),
            concurrency=concurrency,
            max_cost=max_cost,
            resubmit_in_doubt=resubmit_in_doubt,
            retry_failed=retry_failed,
            as_json=as_json,
        ),
        site(store, chosen),
    )
    if path is not None:
        lockfile.refresh(path, result.namespace, desired, store_root(store))
    if not as_json:
        click.echo(hint(mock), err=True)
    raise SystemExit(int(summary.exit_code))


def _confirm(result: Plan) -> None:
    from reconciler.ui import plans as render

    if not sys.stdin.isatty():
        raise UsageError("apply submits paid jobs: confirm with --yes (or --auto-approve) when not at a terminal")
    if not click.confirm(f"\n{render.summary(result)}.\nApply this plan?", default=False, err=True):
        click.echo("apply cancelled: nothing was submitted", err=True)
        raise SystemExit(1)

"""`reconciler plan`: what apply would do, and what it would cost; `--locked` checks the lock file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.cli import lockfile
from reconciler.cli.common import (
    build_plan,
    key_options,
    paths_argument,
    plan_shown,
    show_plan,
    store_option,
    store_root,
    targeting,
)
from reconciler.plan.diff import ActionKind, Plan

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.api.backend import Backend, Endpoint
    from reconciler.plan.lock import Check
    from reconciler.spec import SpecWarning


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
@lockfile.lock_options
@click.option(
    "--update-lock",
    is_flag=True,
    help="Write the lock file from the specs (keys, and the videos this store has); pays nothing.",
)
@click.option("--mock", is_flag=True, help="Plan against the bundled fake's namespace instead of the real API's.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="For the time estimate.")
@click.option("--retry-failed", is_flag=True, help="Plan to buy again what failed for good (e.g. content blocks).")
@click.option("--show-noop", is_flag=True, help="List up-to-date specs too (shown anyway when there are 20 or fewer).")
@click.option(
    "--refresh",
    is_flag=True,
    help="Ask the account's request history (needs the API key) which creates it already paid for: shown as adopt, $0.",
)
@key_options
def plan(
    paths: tuple[str, ...],
    store: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    as_json: bool,
    fmt: str,
    detailed_exitcode: bool,
    locked: bool,
    lock_file: str | None,
    update_lock: bool,
    mock: bool,
    concurrency: int,
    retry_failed: bool,
    show_noop: bool,
    refresh: bool,
    base_url: str | None,
    api_key: str | None,
    history_url: str | None,
    upload_url: str | None,
    latency_scale: float | None,
) -> None:
    """Show what apply would do for each spec, and what it would cost. Makes no network call without --refresh.

    Exit 0, or 1 on any error; with --detailed-exitcode 0 when there is nothing to do and 2 when
    there is. With --locked, exit 1 (after showing the plan) when the specs do not match the lock.
    """
    from reconciler.errors import UsageError

    if mock:
        lockfile.no_lock_with_mock(("--locked", locked), ("--update-lock", update_lock), ("--lock", lock_file))
    if locked and update_lock:
        raise UsageError("--locked checks the lock and --update-lock rewrites it: use one or the other")
    if lock_file and not (locked or update_lock):
        raise UsageError("--lock names the lock file for --locked or --update-lock; give one of them")
    path = None
    if locked or update_lock:
        path = lockfile.required_path(lock_file, paths, "--locked" if locked else "--update-lock")
    orphan_limit = None if (as_json or fmt == "json") else 10
    if path is None and not refresh:  # the usual plan: shown again from memory while nothing changes
        warnings, result = plan_shown(
            paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=concurrency,
            retry_failed=retry_failed, orphan_limit=orphan_limit,
        )  # fmt: skip
        show(warnings, result, fmt="json" if as_json else fmt, show_noop=show_noop, check=None)
        if detailed_exitcode and result.has_changes():
            raise SystemExit(2)
        return
    specs, desired, result = build_plan(
        paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=concurrency,
        retry_failed=retry_failed, orphan_limit=orphan_limit,
    )  # fmt: skip
    if refresh:
        from reconciler.api.backend import Backend  # the API client: only --refresh talks to the network

        backend = Backend(
            mock=mock, api_key=api_key, base_url=base_url, history_url=history_url, upload_url=upload_url,
            latency_scale=latency_scale,
        )  # fmt: skip
        adoptable = refreshed(backend, result)
        specs, desired, result = build_plan(
            paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=concurrency,
            retry_failed=retry_failed, orphan_limit=orphan_limit, adoptable=adoptable,
        )  # fmt: skip
    check = lockfile.check(path, result, desired) if path is not None and locked else None
    show(specs.warnings, result, fmt="json" if as_json else fmt, show_noop=show_noop, check=check)
    if path is not None and update_lock:
        lockfile.refresh(path, result.namespace, desired, store_root(store))
    if check is not None:
        lockfile.report(check)
        if not check.drift.agrees:
            raise SystemExit(1)
    if detailed_exitcode and result.has_changes():
        raise SystemExit(2)


def show(warnings: Sequence[SpecWarning], result: Plan, *, fmt: str, show_noop: bool, check: Check | None) -> None:
    """Print the plan in `fmt` (text, json or markdown), with the specs' warnings and the lock's check."""
    from reconciler.ui import plans as render

    if fmt == "json":
        document = {"warnings": [str(w) for w in warnings], "lock": render.lock_document(check)}
        click.echo(render.dumps(render.document(result) | document))
    elif fmt == "markdown":
        click.echo(render.markdown(result, warnings=[str(w) for w in warnings], lock=check), nl=False)
    else:
        show_plan(warnings, result, show_noop=show_noop)


def refreshed(backend: Backend, result: Plan) -> dict[str, str]:
    """The creates of `result` the account's history already holds (one history read per model)."""
    import asyncio
    import time

    from reconciler.api.backend import connect
    from reconciler.engine.adopt import lookup

    wanted: dict[str, set[str]] = {}
    for action in result.actions:
        if action.kind is ActionKind.CREATE:
            wanted.setdefault(action.model, set()).add(action.key)
    if not wanted:
        return {}

    async def ask(endpoint: Endpoint) -> dict[str, str]:
        async with endpoint.client() as api:
            return await lookup(api, namespace=endpoint.namespace, wanted=wanted, now=time.time())

    with connect(backend) as endpoint:
        return asyncio.run(ask(endpoint))

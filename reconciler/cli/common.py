"""What the commands share: options, loading specs through the parse cache, building a plan, JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import click

from reconciler import catalog, keys
from reconciler.config import load_settings
from reconciler.embedded import MOCK_TIME_SCALE
from reconciler.errors import SpecError
from reconciler.plan import ActionKind, Desired, Plan
from reconciler.spec import SpecSet, load
from reconciler.speccache import FileParseCache

JSON_FORMAT_VERSION = 1


def store_root(store: str | None) -> Path:
    return Path(store or os.environ.get("RECONCILER_STORE") or load_settings().store)


def store_option(func: Any) -> Any:
    return click.option(
        "--store",
        metavar="DIR",
        help="Store directory (default: $RECONCILER_STORE, then reconciler.toml, then .reconciler).",
    )(func)


def paths_argument(func: Any) -> Any:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=str))(func)


def load_specs(paths: tuple[str, ...], store: str | None, *, use_cache: bool = True) -> SpecSet:
    """Load specs through the parse cache kept in the store directory."""
    cache = FileParseCache.in_store(store_root(store)) if use_cache else None
    settings = load_settings()
    try:
        return load(list(paths) or list(settings.specs), cache=cache, allow_outside_files=settings.allow_outside_files)
    finally:
        if cache is not None:
            cache.save()


def namespace_for(mock: bool) -> str:
    return keys.MOCK if mock else keys.SEGMIND


def targeting(func: Any) -> Any:
    func = click.option(
        "--exclude",
        "excludes",
        multiple=True,
        metavar="NAME|GLOB|tag:WORD",
        help="Leave these specs out (repeatable).",
    )(func)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="NAME|GLOB|tag:WORD",
        help="Only these specs (repeatable); a pattern that matches nothing is an error.",
    )(func)


class Planned(NamedTuple):
    specs: SpecSet
    desired: list[Desired]  # every spec with its key, targeted or not
    plan: Plan


def build_plan(
    paths: tuple[str, ...],
    store: str | None,
    *,
    mock: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    concurrency: int,
    retry_failed: bool,
    orphan_limit: int | None = 10,
) -> Planned:
    """Load specs, read the store without locking it, and diff: no network, nothing written but the parse cache."""
    from reconciler.plan import Orphan, OrphanSummary, diff, paid_jobs, select
    from reconciler.store import Store

    specs = load_specs(paths, store)
    namespace = namespace_for(mock)
    desired = [Desired(e, keys.entry_key(namespace, e)) for e in specs.entries]
    chosen = select(desired, targets=targets, excludes=excludes)
    wanted = {d.key for d in chosen}
    # Orphans are outputs no spec names in either namespace: the same roots gc uses.
    roots = {d.key for d in desired} | {keys.entry_key(namespace_for(not mock), e) for e in specs.entries}
    with Store.open_readonly(store_root(store)) as view:
        observed = view.observe(wanted)
        paid = paid_jobs(view.open_attempts(), {d.key for d in desired})
        stray = view.orphans(roots, limit=orphan_limit)
        scale = MOCK_TIME_SCALE if mock else 1.0
        latency = {m.slug: view.observed_latency(m.slug, namespace) or m.avg_latency_s * scale for m in catalog.MODELS}
    plan = diff(
        chosen,
        outputs=observed.outputs,
        attempts=observed.attempts,
        orphans=OrphanSummary(
            stray.count, stray.size, tuple(Orphan(o.key, o.model, o.size, o.digest) for o in stray.listed)
        ),
        paid=paid,
        namespace=namespace,
        concurrency=concurrency,
        retry_failed=retry_failed,
        latency=latency,
    )
    return Planned(specs, desired, plan)


def show_plan(specs: SpecSet, result: Plan, *, show_noop: bool) -> None:
    from reconciler import render

    for warning in specs.warnings:
        click.echo(f"{warning.where}: " + click.style("warning: ", fg="yellow") + warning.message, err=True)
    noop = show_noop or result.totals.counts[ActionKind.NOOP] <= 20
    stream = sys.stdout
    if stream.isatty():
        render.table(result, stream, show_noop=noop)
    else:
        render.plain(result, stream, show_noop=noop)


def errors_json(errors: list[SpecError]) -> list[dict[str, Any]]:
    return [
        {"file": e.where.path, "line": e.where.line, "col": e.where.col, "message": e.message, "hint": e.hint}
        for e in errors
    ]


def print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def api_options(func: Any) -> Any:
    """The backend options of apply and watch: the fake (--mock), or the real API's URLs and key."""
    options = [
        click.option(
            "--mock", is_flag=True, help="Run against the bundled fake, started in this process: free, offline."
        ),
        click.option("--base-url", envvar="SEGMIND_BASE_URL", metavar="URL", help="API base [env SEGMIND_BASE_URL]."),
        click.option(
            "--api-key",
            envvar="SEGMIND_API_KEY",
            metavar="KEY",
            help="Prefer the SEGMIND_API_KEY variable: a key on the command line ends up in shell history.",
        ),
        click.option("--history-url", envvar="SEGMIND_HISTORY_URL", metavar="URL", help="[env SEGMIND_HISTORY_URL]"),
        click.option("--upload-url", envvar="SEGMIND_UPLOAD_URL", metavar="URL", help="[env SEGMIND_UPLOAD_URL]"),
        click.option(
            "--latency-scale",
            type=click.FloatRange(min=0, min_open=True),
            envvar="RECONCILER_LATENCY_SCALE",
            hidden=True,
            help="Expect jobs to take this share of the catalog's latency (for a fast fake of your own).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func

"""What the commands share: options, loading specs through the parse cache, planning, JSON."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from reconciler import keys
from reconciler.cli import process
from reconciler.errors import SpecError, UsageError
from reconciler.runtime.config import load_settings
from reconciler.spec import SpecSet, SpecWarning, load
from reconciler.spec.cache import FileParseCache

if TYPE_CHECKING:
    from reconciler.api.backend import Backend
    from reconciler.plan.diff import Desired, Plan
    from reconciler.runtime.lastplan import LastPlan, Shown
    from reconciler.runtime.world import Site
    from reconciler.store.location import Remote

JSON_FORMAT_VERSION = 1


def store_location(store: str | None) -> str:
    return store or os.environ.get("RECONCILER_STORE") or load_settings().store


def store_remote(store: str | None) -> Remote | None:
    """The bucket the store option names, None for a local store; a bad URL is a UsageError."""
    location = store_location(store)
    if "://" not in location:
        return None  # a directory: no need to import the store package (validate never opens it)
    from reconciler.store.location import parse_remote

    return parse_remote(location)


def store_root(store: str | None) -> Path:
    """The local store directory: the store itself, or the cache of a remote one ($RECONCILER_CACHE)."""
    location = store_location(store)
    if store_remote(location) is not None:
        return Path(os.environ.get("RECONCILER_CACHE") or ".reconciler")
    return Path(location)


def lease_s() -> float | None:
    """How long a remote claim is held without renewal ($RECONCILER_LEASE_S; tests shorten it)."""
    text = os.environ.get("RECONCILER_LEASE_S")
    try:
        return float(text) if text else None
    except ValueError:
        raise UsageError(f"RECONCILER_LEASE_S must be a number of seconds, not {text!r}") from None


def open_store(store: str | None, *, clock: Any = None) -> Any:
    """The store to write (a RemoteStore for s3://...), opened once per command."""
    from reconciler.store.connect import open_store as _open

    return _open(store_root(store), store_remote(store), clock=clock, lease_s=lease_s())


def backend(
    *,
    mock: bool,
    api_key: str | None,
    base_url: str | None,
    history_url: str | None,
    upload_url: str | None,
    latency_scale: float | None,
) -> Backend:
    """The backend the api_options name, checked once here (a bad key or URL is one sentence, exit 1)."""
    from reconciler.api.backend import Backend

    return Backend(
        mock=mock, api_key=api_key, base_url=base_url, history_url=history_url, upload_url=upload_url,
        latency_scale=latency_scale,
    )  # fmt: skip


def site(store: str | None, chosen: Backend) -> Site:
    """Where apply and watch act: the backend, and the store the option names (its cache, for a bucket)."""
    from reconciler.runtime.world import Site

    return Site(chosen, store_root(store), store_remote(store), lease_s())


def store_option(func: Any) -> Any:
    return click.option(
        "--store",
        metavar="DIR|s3://BUCKET/PREFIX",
        help="Store directory or shared bucket (default: $RECONCILER_STORE, then reconciler.toml, then .reconciler).",
    )(func)


# The options apply and watch share, said once (plan's own say what they mean for an estimate).
concurrency_option = click.option(
    "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Jobs in flight."
)
retry_failed_option = click.option(
    "--retry-failed", is_flag=True, help="Buy again what failed for good (e.g. content blocks)."
)
out_option = click.option("--out", "out_dir", metavar="DIR", help="Where to lay out <name>.mp4 (default: out).")


def paths_argument(func: Any) -> Any:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=str))(func)


def load_specs(
    paths: tuple[str, ...],
    store: str | None,
    *,
    use_cache: bool = True,
    read: list[str] | None = None,
    cache: FileParseCache | None = None,
) -> SpecSet:
    """Load specs through the parse cache kept in the store directory (`read`: see `spec.load`);
    `cache` is that cache when the caller has it open already."""
    if use_cache and cache is None:
        cache = FileParseCache.in_store(store_root(store))
    settings = load_settings()
    try:
        return load(
            list(paths) or list(settings.specs),
            cache=cache,
            allow_outside_files=settings.allow_outside_files,
            derive=keys.EVERY_NAMESPACE if cache is not None else None,  # kept in the cache: a warm plan hashes nothing
            read=read,
        )
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
    adoptable: dict[str, str] | None = None,
    latency_scale: float | None = None,
    keep: LastPlan | None = None,
    cache: FileParseCache | None = None,
) -> Planned:
    """Load specs, read the store without locking it, and plan: no network, nothing written but caches.

    With `keep`, the plan is kept there for `plan_shown` to show again while nothing changes;
    `cache`, the parse cache if the caller has it open already.
    """
    from reconciler.api.embedded import MOCK_TIME_SCALE
    from reconciler.plan.assemble import assemble, desire
    from reconciler.plan.diff import select
    from reconciler.store.connect import open_view

    read: list[str] = []
    with many_values():
        specs = load_specs(paths, store, read=read, cache=cache)
        namespace = namespace_for(mock)
        desired = desire(specs.entries, namespace)
        chosen = select(desired, targets=targets, excludes=excludes)
        with open_view(store_root(store), store_remote(store)) as view:
            token = view.change_token() if keep is not None else None  # before the plan reads: any write changes it
            plan, observed = assemble(
                desired, chosen, view, namespace=namespace, concurrency=concurrency, retry_failed=retry_failed,
                latency_scale=latency_scale or (MOCK_TIME_SCALE if mock else None), orphan_limit=orphan_limit,
                adoptable=adoptable,
            )  # fmt: skip
            if keep is not None:
                keep.keep(view, token, specs, plan, observed, read=tuple(read))
    return Planned(specs, desired, plan)


def plan_shown(
    paths: tuple[str, ...],
    store: str | None,
    *,
    mock: bool,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    concurrency: int,
    retry_failed: bool,
    orphan_limit: int | None,
) -> Shown:
    """What `plan` shows (the specs' warnings, and the plan): the last plan again while nothing it was
    made from has changed (`runtime.lastplan`), else `build_plan`'s, kept for the next time."""
    from reconciler.runtime.lastplan import Asked, LastPlan
    from reconciler.spec import digests
    from reconciler.store.connect import open_view

    keep = cache = None
    if store_remote(store) is None:  # a bucket changes without its cache knowing: its plans are always made anew
        settings = load_settings()
        root = store_root(store)
        cache = FileParseCache.in_store(root)  # kept open: a plan made anew loads through it
        try:
            files = digests(list(paths) or list(settings.specs), cache, keys.EVERY_NAMESPACE)
        finally:
            cache.save()
        if files is not None:
            asked = (targets, excludes, concurrency, retry_failed, None, orphan_limit, settings.allow_outside_files)
            keep = LastPlan(root, Asked(namespace_for(mock), *asked, files))
            with many_values():
                if (shown := keep.recall(lambda: open_view(root, None))) is not None:
                    return shown
    specs, _, plan = build_plan(
        paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=concurrency,
        retry_failed=retry_failed, orphan_limit=orphan_limit, keep=keep, cache=cache,
    )  # fmt: skip
    return specs.warnings, plan


@contextlib.contextmanager
def many_values() -> Iterator[None]:
    """Make a plan's many small values without the cycle collector, then set them aside from it.

    A plan of 100,000 specs makes a million acyclic objects (entries, keys, outputs, actions);
    the collector's passes over them, each longer as they pile up, took a quarter of a warm plan.
    Reference counting frees them as usual. What is still alive after is set aside from the
    collector (`process.set_aside`, in a process that is the command's own): it lives as long as
    the command, so later passes (a long apply) need not walk it again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        process.set_aside()


def show_plan(warnings: Sequence[SpecWarning], result: Plan, *, show_noop: bool) -> None:
    from reconciler.plan.diff import ActionKind
    from reconciler.ui import plans as render

    for warning in warnings:
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


def api_options(func: Any, *, mock: bool = True) -> Any:
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
            help="Expect jobs to take this share of the catalog's latency until it is learned (a fast fake of"
            " your own); without it the first jobs of a model new to the backend look early [env"
            " RECONCILER_LATENCY_SCALE].",
        ),
    ]
    for option in reversed(options if mock else options[1:]):
        func = option(func)
    return func


def key_options(func: Any) -> Any:
    """The real API's URLs and key, for a command that has its own --mock (plan --refresh)."""
    return api_options(func, mock=False)

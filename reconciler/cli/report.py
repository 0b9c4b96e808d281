"""`reconciler report` (a static gallery of every declared video) and `reconciler spend` (what was paid)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.common import (
    build_plan,
    load_specs,
    namespace_for,
    open_store,
    paths_argument,
    print_json,
    store_option,
    store_remote,
    store_root,
    targeting,
)
from reconciler.errors import SpecErrors, UsageError
from reconciler.plan.diff import ActionKind, Plan
from reconciler.runtime.config import load_settings

if TYPE_CHECKING:
    from reconciler.store import StoreView


def hint(mock: bool) -> str:
    """The line apply and watch end with: where to look at what was made."""
    return f"look at the videos: reconciler report{' --mock' if mock else ''} --open"


@click.command()
@paths_argument
@store_option
@targeting
@click.option("-o", "--output", "output", metavar="DIR", help="Folder to write (default: report).")
@click.option("--out", "out_dir", metavar="DIR", help="Where apply laid out <name>.mp4 (default: out).")
@click.option("--copy", is_flag=True, help="Copy the videos into the folder, so it can be uploaded on its own.")
@click.option("--open", "open_it", is_flag=True, help="Open the page in the default browser.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as a versioned JSON document; write no folder.")
@click.option("--mock", is_flag=True, help="Report the bundled fake's videos (what `apply --mock` made).")
def report(
    paths: tuple[str, ...],
    store: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    copy: bool,
    open_it: bool,
    as_json: bool,
    mock: bool,
) -> None:
    """Write a static gallery of every declared video: posters, parameters, cost, status; no network.

    One card per spec in spec order (matrix entries as grids), including the ones not made yet. The
    folder works from file:// with no server; its videos link into out/ (or are copied with --copy).
    """
    import time

    from reconciler.ui import gallery
    from reconciler.ui import report as folder

    if as_json and (open_it or copy or output):
        raise UsageError("--json prints the report and writes no folder: drop --open, --copy and --output")
    specs, _, result = build_plan(
        paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=8, retry_failed=False
    )
    out = Path(out_dir or load_settings().out)
    target = Path(output or folder.DEFAULT_DIR)
    with _gallery_store(store, result) as view:
        if as_json:
            made, problems, _ = folder.collect(
                result, specs.entries, view, out_dir=out, report_dir=target, copy=False, now=time.time()
            )
            print_json(gallery.document(made) | {"problems": problems})
            return
        written = folder.write(result, specs.entries, view, out_dir=out, report_dir=target, copy=copy, now=time.time())
    for problem in written.problems:
        click.echo(click.style("warning: ", fg="yellow") + problem, err=True)
    t = written.gallery.totals
    click.echo(f"wrote {written.index} ({t.stored} of {t.specs} videos stored, {t.to_make} to make)")
    if open_it:
        import webbrowser  # (shlex, subprocess) only for --open

        webbrowser.open(written.index.resolve().as_uri())


def _gallery_store(store: str | None, result: Plan) -> StoreView:
    """The store the report reads: a local one as it is; a bucket's cache once it holds every stored video.

    Against a shared store the videos only the bucket holds are fetched into the local cache first
    (streamed and hash-checked, as pull does), so posters and links come from verified local files.
    """
    from reconciler.store import Store
    from reconciler.store.remote import RemoteStore
    from reconciler.store.sync import pull

    if store_remote(store) is None:
        return Store.open_readonly(store_root(store))
    opened = open_store(store)
    assert isinstance(opened, RemoteStore)  # the store names a bucket
    try:
        fetched = pull(opened, {action.key for action in result.actions if action.kind is ActionKind.NOOP}).fetched
    except BaseException:
        opened.close()
        raise
    if fetched:
        click.echo(f"fetched {len(fetched)} videos from {opened.bucket.url} into the local cache", err=True)
    return opened


@click.command()
@paths_argument
@store_option
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD", help="From this day (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD", help="To this day (UTC), inclusive.")
@click.option("--top", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Specs listed.")
@click.option("--json", "as_json", is_flag=True, help="Print a versioned JSON document.")
@click.option("--mock", is_flag=True, help="What the bundled fake billed (its namespace) instead of the real API.")
def spend(
    paths: tuple[str, ...],
    store: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    top: int,
    as_json: bool,
    mock: bool,
) -> None:
    """What the videos cost, from the store's records: per model, per day, top specs, and the total.

    Costs are those the API reported, estimates where it reported none; failed jobs were refunded
    and count as $0. Specs are named by the current spec files (PATHS) where they still match.
    """
    from reconciler import keys
    from reconciler.store.connect import open_view
    from reconciler.ui import spend as money

    if since and until and since > until:
        raise UsageError(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}")
    namespace = namespace_for(mock)
    names: dict[str, str] = {}
    try:
        for entry in load_specs(paths, store).entries:
            names.setdefault(keys.entry_key(namespace, entry), entry.name)
    except SpecErrors as errors:
        # Money already spent does not depend on the specs: name the jobs by their stored hints instead.
        click.echo(f"warning: {errors}; specs are named by their stored names", err=True)
    # Against a shared store the view's outputs are the bucket's records (read where the cache lacks them).
    with open_view(store_root(store), store_remote(store)) as view:
        billed = money.jobs(view.all_outputs(), view.all_attempts(), namespace=namespace, names=names)
    result = money.spend(
        billed,
        namespace=namespace,
        since=since.date() if since else None,
        until=until.date() if until else None,
        top=top,
    )
    if as_json:
        print_json(money.document(result))
    else:
        click.echo(money.text(result), nl=False)

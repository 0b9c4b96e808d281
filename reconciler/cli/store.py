"""Commands on the store alone: verify, gc, layout, and push / pull between the local cache and a bucket."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import keys
from reconciler.cli.common import (
    load_specs,
    namespace_for,
    open_store,
    paths_argument,
    store_option,
    store_remote,
    store_root,
)
from reconciler.errors import UsageError
from reconciler.runtime.config import load_settings

_out_option = click.option(
    "--out", "out_dir", metavar="DIR", help="Where to lay out <name>.mp4 (default: reconciler.toml, then out)."
)


def _named(paths: tuple[str, ...], store: str | None, mock: bool) -> dict[str, str]:
    """Every spec's name with its key on the backend chosen (--mock: the bundled fake's)."""
    namespace = namespace_for(mock)
    return {e.name: keys.entry_key(namespace, e) for e in load_specs(paths, store).entries}


@click.command()
@store_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="Restore the outputs of state.sqlite from the receipts kept with the blobs (a damaged one is kept aside).",
)
def verify(store: str | None, rebuild: bool) -> None:
    """Re-hash every stored blob; quarantine bad ones so the next apply fetches them again.

    With a remote store, the bucket's blobs are re-hashed too (streamed), and a bad one is replaced
    from a verified local copy. Exit 0 when the store is clean, 1 when something was repaired or is missing.
    """
    from reconciler.store import Store
    from reconciler.store.remote import RemoteStore
    from reconciler.store.sync import verify_remote

    remote_problems: tuple[object, ...] = ()
    if rebuild:
        if store_remote(store) is not None:
            raise UsageError("verify --rebuild repairs a local store's database; the shared bucket needs none")
        opened, moved = Store.rebuild_at(store_root(store))
        if moved is not None:
            click.echo(f"moved the damaged database aside to {moved}")
        restored = opened.restored
        if restored is not None:
            click.echo(
                f"restored {len(restored.restored)} outputs from their receipts"
                + (f"; {len(restored.missing_blob)} receipts name a blob that is gone" if restored.missing_blob else "")
                + (f"; {len(restored.unreadable)} receipts could not be read" if restored.unreadable else "")
            )
    else:
        opened = open_store(store)
    with opened:
        report = opened.verify()
        if isinstance(opened, RemoteStore):
            checked = verify_remote(opened)
            remote_problems = checked.problems
            click.echo(
                f"{opened.bucket.url}: {checked.blobs_checked} blobs ({checked.bytes_checked:,} bytes) re-hashed"
            )
    for problem in (*report.problems, *remote_problems):
        click.echo(str(problem))
    orphans = f"; {len(report.orphans)} blobs no output uses (reconciler gc)" if report.orphans else ""
    verdict = "clean" if report.clean else f"{len(report.problems)} problems repaired"
    click.echo(
        f"{verdict}: {report.blobs_checked} blobs ({report.bytes_checked:,} bytes) and "
        f"{report.outputs_checked} outputs checked{orphans}"
    )
    if not report.clean or remote_problems:
        raise SystemExit(1)


@click.command()
@paths_argument
@store_option
@click.option("--dry-run", is_flag=True, help="List what would be removed and how many bytes, remove nothing.")
@click.option("--remote", is_flag=True, help="Also delete from the shared bucket (never without this flag).")
def gc(paths: tuple[str, ...], store: str | None, dry_run: bool, remote: bool) -> None:
    """Remove stored outputs and blobs that no spec under PATHS needs (in-flight jobs are kept).

    With a remote store only the local cache is collected, unless --remote is given.
    """
    from reconciler.store.remote import RemoteStore
    from reconciler.store.sync import gc_remote

    specs = load_specs(paths, store)
    roots = {keys.entry_key(ns, e) for e in specs.entries for ns in (keys.SEGMIND, keys.MOCK)}
    with open_store(store) as opened:
        report = opened.gc(roots, dry_run=dry_run)
        if remote and not isinstance(opened, RemoteStore):
            raise UsageError("gc --remote needs a remote store (--store s3://BUCKET/PREFIX)")
        if isinstance(opened, RemoteStore):
            if remote:
                far = gc_remote(opened, roots, dry_run=dry_run, now=opened.clock_now())
                verb = "would delete" if dry_run else "deleted"
                for name in (*far.records, *far.blobs):
                    click.echo(f"{verb} {opened.bucket.url}/{name}")
                click.echo(
                    f"{verb} {len(far.records)} records and {len(far.blobs)} blobs ({far.bytes_freed:,} bytes) remotely"
                )
            else:
                click.echo(f"{opened.bucket.url} left alone (gc --remote deletes there)")
    verb = "would remove" if dry_run else "removed"
    for removal in report.removed:
        click.echo(f"{verb} {removal}")
    for removal in report.deferred:
        click.echo(f"kept {removal} (an apply is running)")
    click.echo(f"{verb} {len(report.removed)} items, {report.bytes_freed:,} bytes")


@click.command()
@paths_argument
@store_option
@_out_option
@click.option("--mock", is_flag=True, help="Lay out the bundled fake's videos instead of the real API's.")
def layout(paths: tuple[str, ...], store: str | None, out_dir: str | None, mock: bool) -> None:
    """Make out/<name>.mp4 mirror the specs from what is stored; no network, nothing bought.

    apply does this after every run; use it alone after restoring a store (a CI cache, a backup).
    Specs with nothing stored yet, or whose video is gone from the store, are listed as missing;
    files in DIR that the reconciler did not place are left alone and listed. Exit 0 when every
    spec is laid out, 1 otherwise.
    """

    named = _named(paths, store, mock)
    target = Path(out_dir or load_settings().out)
    with open_store(store) as opened:
        mirrored = opened.mirror(target, named)
    for line in mirrored.lines():
        click.echo(line, err=line.startswith("problem: "))
    if not mirrored.complete:
        raise SystemExit(1)


@click.command()
@store_option
def push(store: str | None) -> None:
    """Copy the local store's outputs (blobs, then records) into the remote store, so a team starts from them.

    The local store is $RECONCILER_CACHE (default .reconciler); --store names the bucket.
    """
    from reconciler.store.remote import RemoteStore
    from reconciler.store.sync import push as push_outputs

    with open_store(store) as opened:
        if not isinstance(opened, RemoteStore):
            raise UsageError("push needs a remote store: --store s3://BUCKET/PREFIX (or $RECONCILER_STORE)")
        report = push_outputs(opened)
        click.echo(f"pushed {report.pushed} outputs to {opened.bucket.url}; {report.present} were there already")


@click.command()
@paths_argument
@store_option
@_out_option
@click.option("--mock", is_flag=True, help="Pull the bundled fake's videos instead of the real API's.")
def pull(paths: tuple[str, ...], store: str | None, out_dir: str | None, mock: bool) -> None:
    """Fetch the videos the specs need from the remote store into the local cache and lay out out/; no API key.

    Exit 0 when every spec is laid out, 1 when some are not in the remote store.
    """
    from reconciler.store.remote import RemoteStore
    from reconciler.store.sync import pull as pull_outputs

    named = _named(paths, store, mock)
    target = Path(out_dir or load_settings().out)
    with open_store(store) as opened:
        if not isinstance(opened, RemoteStore):
            raise UsageError("pull needs a remote store: --store s3://BUCKET/PREFIX (or $RECONCILER_STORE)")
        report = pull_outputs(opened, set(named.values()))
        stored = opened.local_outputs_for(set(named.values()))
        laid = opened.layout(target, {name: stored[key].digest for name, key in named.items() if key in stored})
    missing = sorted(name for name, key in named.items() if key not in stored)
    for name in missing:
        click.echo(f"missing {name} (not in {opened.bucket.url}: reconciler apply)")
    for problem in laid.problems:
        click.echo(f"problem: {problem}", err=True)
    click.echo(
        f"fetched {len(report.fetched)} videos ({report.cached} were cached); "
        f"{len(named) - len(missing)} of {len(named)} specs laid out under {target}/"
    )
    if missing or laid.problems:
        raise SystemExit(1)

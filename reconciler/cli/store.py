"""Commands on the store alone: verify, gc, layout."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler import keys
from reconciler.cli.common import load_specs, namespace_for, paths_argument, store_option, store_root
from reconciler.config import load_settings


@click.command()
@store_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="Restore the outputs of state.sqlite from the receipts kept with the blobs (a damaged one is kept aside).",
)
def verify(store: str | None, rebuild: bool) -> None:
    """Re-hash every stored blob; quarantine bad ones so the next apply fetches them again.

    Exit 0 when the store is clean, 1 when something was repaired or is missing.
    """
    from reconciler.store import Store

    if rebuild:
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
        opened = Store.open(store_root(store))
    with opened:
        report = opened.verify()
    for problem in report.problems:
        click.echo(str(problem))
    orphans = f"; {len(report.orphans)} blobs no output uses (reconciler gc)" if report.orphans else ""
    verdict = "clean" if report.clean else f"{len(report.problems)} problems repaired"
    click.echo(
        f"{verdict}: {report.blobs_checked} blobs ({report.bytes_checked:,} bytes) and "
        f"{report.outputs_checked} outputs checked{orphans}"
    )
    if not report.clean:
        raise SystemExit(1)


@click.command()
@paths_argument
@store_option
@click.option("--dry-run", is_flag=True, help="List what would be removed and how many bytes, remove nothing.")
def gc(paths: tuple[str, ...], store: str | None, dry_run: bool) -> None:
    """Remove stored outputs and blobs that no spec under PATHS needs (in-flight jobs are kept)."""
    from reconciler.store import Store

    specs = load_specs(paths, store)
    roots = {keys.entry_key(ns, e) for e in specs.entries for ns in (keys.SEGMIND, keys.MOCK)}
    with Store.open(store_root(store)) as opened:
        report = opened.gc(roots, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for removal in report.removed:
        click.echo(f"{verb} {removal}")
    for removal in report.deferred:
        click.echo(f"kept {removal} (an apply is running)")
    click.echo(f"{verb} {len(report.removed)} items, {report.bytes_freed:,} bytes")


@click.command()
@paths_argument
@store_option
@click.option(
    "--out", "out_dir", metavar="DIR", help="Where to lay out <name>.mp4 (default: reconciler.toml, then out)."
)
@click.option("--mock", is_flag=True, help="Lay out the bundled fake's videos instead of the real API's.")
def layout(paths: tuple[str, ...], store: str | None, out_dir: str | None, mock: bool) -> None:
    """Make out/<name>.mp4 mirror the specs from what is stored; no network, nothing bought.

    apply does this after every run; use it alone after restoring a store (a CI cache, a backup).
    Specs with nothing stored yet, or whose video is gone from the store, are listed as missing;
    files in DIR that the reconciler did not place are left alone and listed. Exit 0 when every
    spec is laid out, 1 otherwise.
    """
    from reconciler.store import Store

    specs = load_specs(paths, store)
    namespace = namespace_for(mock)
    named = {e.name: keys.entry_key(namespace, e) for e in specs.entries}
    target = Path(out_dir or load_settings().out)
    with Store.open(store_root(store)) as opened:
        mirrored = opened.mirror(target, named)
    for line in mirrored.lines():
        click.echo(line, err=line.startswith("problem: "))
    if not mirrored.complete:
        raise SystemExit(1)

"""The `reconciler` command line: parse options, build the runtime once, call one function, render.

Errors become messages and exit codes here and nowhere else: a ReconcilerError is printed as the
sentence it is (spec errors one per line with file:line:col), never as a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import click

from reconciler import __version__, catalog, keys
from reconciler.config import load_settings
from reconciler.embedded import MOCK_TIME_SCALE
from reconciler.errors import ReconcilerError, SpecError, SpecErrors, UsageError
from reconciler.plan import ActionKind, Desired, Plan
from reconciler.spec import SpecSet, load
from reconciler.speccache import FileParseCache

JSON_FORMAT_VERSION = 1


def _store_root(store: str | None) -> Path:
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
    cache = FileParseCache(_store_root(store) / "cache" / "parse.pickle") if use_cache else None
    try:
        return load(list(paths) or list(load_settings().specs), cache=cache)
    finally:
        if cache is not None:
            cache.save()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declare the videos you want in spec files; plan and apply them against Segmind's Wan models."""


@cli.command()
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
            _print_json({"format_version": JSON_FORMAT_VERSION, "valid": False, "errors": _errors_json(exc.errors)})
            raise SystemExit(1) from None
        raise
    distinct = {keys.entry_key(keys.SEGMIND, e) for e in specs.entries}
    by_model = Counter(e.model for e in specs.entries)
    if as_json:
        _print_json(
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
    files = f"{len(specs.files)} file{'s' if len(specs.files) != 1 else ''}"
    shared = f" ({len(distinct)} distinct requests)" if len(distinct) != len(specs.entries) else ""
    click.echo(click.style("valid: ", fg="green", bold=True) + f"{len(specs.entries)} videos{shared} in {files}")
    width = max((len(m) for m in by_model), default=0)
    for model, count in sorted(by_model.items()):
        click.echo(f"  {model:<{width}}  {count}")


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of spec files (for editor completion and checking)."""
    from reconciler.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@cli.command()
def models() -> None:
    """List the models this tool knows, with their average cost and time."""
    for model in catalog.MODELS:
        click.echo(
            f"{model.slug:<18} {model.task:<15} ~${model.avg_cost_usd:.3f}  ~{model.avg_latency_s:.0f} s  {model.title}"
        )


def _namespace(mock: bool) -> str:
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
    from reconciler.plan import Orphan, OrphanSummary, diff, select
    from reconciler.store import Store

    specs = load_specs(paths, store)
    namespace = _namespace(mock)
    desired = [Desired(e, keys.entry_key(namespace, e)) for e in specs.entries]
    chosen = select(desired, targets=targets, excludes=excludes)
    wanted = {d.key for d in chosen}
    # Orphans are outputs no spec names in either namespace: the same roots gc uses.
    roots = {d.key for d in desired} | {keys.entry_key(_namespace(not mock), e) for e in specs.entries}
    with Store.open_readonly(_store_root(store)) as view:
        observed = view.observe(wanted)
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
        namespace=namespace,
        concurrency=concurrency,
        retry_failed=retry_failed,
        latency=latency,
    )
    return Planned(specs, desired, plan)


@cli.command()
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
        _show_plan(specs, result, show_noop=show_noop)
    if detailed_exitcode and result.has_changes():
        raise SystemExit(2)


def _show_plan(specs: SpecSet, result: Plan, *, show_noop: bool) -> None:
    from reconciler import render

    for warning in specs.warnings:
        click.echo(f"{warning.where}: " + click.style("warning: ", fg="yellow") + warning.message, err=True)
    noop = show_noop or result.totals.counts[ActionKind.NOOP] <= 20
    stream = sys.stdout
    if stream.isatty():
        render.table(result, stream, show_noop=noop)
    else:
        render.plain(result, stream, show_noop=noop)


@cli.command()
@paths_argument
@store_option
@targeting
@click.option(
    "--yes", "-y", "--auto-approve", "yes", is_flag=True, help="Submit without asking (needed off a terminal)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON event per line, then a summary document.")
@click.option("--mock", is_flag=True, help="Run against the bundled fake, started in this process: free, offline.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Jobs in flight.")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Stop submitting before the estimated spend of this run would pass USD (exit 3).",
)
@click.option("--retry-failed", is_flag=True, help="Buy again what failed for good (e.g. content blocks).")
@click.option(
    "--resubmit-in-doubt",
    is_flag=True,
    help="When the request history cannot say whether a lost submit made a job, submit again (may pay twice).",
)
@click.option("--out", "out_dir", metavar="DIR", help="Where to lay out <name>.mp4 (default: out).")
@click.option("--base-url", envvar="SEGMIND_BASE_URL", metavar="URL", help="API base [env SEGMIND_BASE_URL].")
@click.option(
    "--api-key",
    envvar="SEGMIND_API_KEY",
    metavar="KEY",
    help="Prefer the SEGMIND_API_KEY variable: a key on the command line ends up in shell history.",
)
@click.option("--history-url", envvar="SEGMIND_HISTORY_URL", metavar="URL", help="[env SEGMIND_HISTORY_URL]")
@click.option("--upload-url", envvar="SEGMIND_UPLOAD_URL", metavar="URL", help="[env SEGMIND_UPLOAD_URL]")
@click.option(
    "--latency-scale",
    type=click.FloatRange(min=0, min_open=True),
    envvar="RECONCILER_LATENCY_SCALE",
    hidden=True,
    help="Expect jobs to take this share of the catalog's latency (for a fast fake of your own).",
)
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
    """
    from reconciler import render
    from reconciler.apply import ApplyRequest, run_apply

    if not mock and not api_key:
        raise UsageError("no API key: set SEGMIND_API_KEY (or run against the bundled fake with --mock)")
    specs, desired, result = build_plan(
        paths, store, mock=mock, targets=targets, excludes=excludes, concurrency=concurrency, retry_failed=retry_failed
    )
    if as_json:
        document = {"event": "plan"} | render.document(result) | {"warnings": [str(w) for w in specs.warnings]}
        click.echo(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    else:
        _show_plan(specs, result, show_noop=False)
    if result.has_changes() and not mock and not yes:
        _confirm(result)
    summary = run_apply(
        ApplyRequest(
            plan=result,
            desired=desired,
            store_root=_store_root(store),
            out_dir=Path(out_dir or load_settings().out),
            mock=mock,
            api_key=api_key,
            base_url=base_url,
            history_url=history_url,
            upload_url=upload_url,
            concurrency=concurrency,
            max_cost=max_cost,
            resubmit_in_doubt=resubmit_in_doubt,
            as_json=as_json,
            latency_scale=latency_scale,
        )
    )
    raise SystemExit(int(summary.exit_code))


def _confirm(result: Plan) -> None:
    from reconciler import render

    if not sys.stdin.isatty():
        raise UsageError("apply submits paid jobs: confirm with --yes (or --auto-approve) when not at a terminal")
    if not click.confirm(f"\n{render.summary(result)}.\nApply this plan?", default=False, err=True):
        click.echo("apply cancelled: nothing was submitted", err=True)
        raise SystemExit(1)


@cli.command()
@store_option
def verify(store: str | None) -> None:
    """Re-hash every stored blob; quarantine bad ones so the next apply fetches them again.

    Exit 0 when the store is clean, 1 when something was repaired or is missing.
    """
    from reconciler.store import Store

    with Store.open(_store_root(store)) as opened:
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


@cli.command()
@paths_argument
@store_option
@click.option("--dry-run", is_flag=True, help="List what would be removed and how many bytes, remove nothing.")
def gc(paths: tuple[str, ...], store: str | None, dry_run: bool) -> None:
    """Remove stored outputs and blobs that no spec under PATHS needs (in-flight jobs are kept)."""
    from reconciler.store import Store

    specs = load_specs(paths, store)
    roots = {keys.entry_key(ns, e) for e in specs.entries for ns in (keys.SEGMIND, keys.MOCK)}
    with Store.open(_store_root(store)) as opened:
        report = opened.gc(roots, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for removal in report.removed:
        click.echo(f"{verb} {removal}")
    for removal in report.deferred:
        click.echo(f"kept {removal} (an apply is running)")
    click.echo(f"{verb} {len(report.removed)} items, {report.bytes_freed:,} bytes")


@cli.command()
@paths_argument
@store_option
@click.option(
    "--out", "out_dir", metavar="DIR", help="Where to lay out <name>.mp4 (default: reconciler.toml, then out)."
)
@click.option("--mock", is_flag=True, help="Lay out the bundled fake's videos instead of the real API's.")
def layout(paths: tuple[str, ...], store: str | None, out_dir: str | None, mock: bool) -> None:
    """Make out/<name>.mp4 mirror the specs from what is stored; no network, nothing bought.

    apply does this after every run; use it alone after restoring a store (a CI cache, a backup).
    Specs with nothing stored yet are listed as missing. Exit 0 when every spec is laid out, 1 otherwise.
    """
    from reconciler.store import LayoutAction, Store

    specs = load_specs(paths, store)
    namespace = _namespace(mock)
    named = {e.name: keys.entry_key(namespace, e) for e in specs.entries}
    target = Path(out_dir or load_settings().out)
    with Store.open(_store_root(store)) as opened:
        stored = opened.outputs_for(set(named.values()))
        wanted = {name: stored[key].digest for name, key in named.items() if key in stored}
        report = opened.layout(target, wanted)
    for change in report.changes:
        if change.action is not LayoutAction.UNCHANGED:
            click.echo(str(change))
    for problem in report.problems:
        click.echo(f"problem: {problem}", err=True)
    missing = sorted(set(named) - set(wanted))
    for name in missing:
        click.echo(f"missing {name} (not stored yet: reconciler apply)")
    click.echo(f"{len(wanted)} of {len(named)} specs laid out under {target}/")
    if missing or report.problems:
        raise SystemExit(1)


def _errors_json(errors: list[SpecError]) -> list[dict[str, Any]]:
    return [
        {"file": e.where.path, "line": e.where.line, "col": e.where.col, "message": e.message, "hint": e.hint}
        for e in errors
    ]


def _print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _report(error: ReconcilerError) -> int:
    if isinstance(error, SpecErrors):
        for item in error.errors:
            click.echo(f"{item.where}: " + click.style("error: ", fg="red", bold=True) + item.message, err=True)
            if item.hint:
                click.echo(f"  hint: {item.hint}", err=True)
        files = len({e.where.path for e in error.errors})
        click.echo(f"{error} ({files} file{'s' if files != 1 else ''})", err=True)
    else:
        click.echo(click.style("error: ", fg="red", bold=True) + str(error), err=True)
    return error.exit_code


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: every user mistake ends as a message and an exit code, never a traceback."""
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except ReconcilerError as error:
        sys.exit(_report(error))
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)

"""The lock file on disk, for plan and apply: where it is, checking it, and rewriting it when it changes.

`reconciler.lock` lives in the working directory, beside `reconciler.toml`, and describes the
project's specs (those of reconciler.toml, default `specs/`). A run on other PATHS uses a lock only
when `--lock FILE` names one, so trying out one file never prunes the project's lock. `--mock`
never reads or writes a lock: it records the real API's keys.

The file is rewritten only when its text changes (a no-op apply leaves it alone, byte for byte),
through a temp file and a rename, so a reader (git, a second run) never sees half of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from reconciler.atomic import write_atomic
from reconciler.errors import Location, ReconcilerError, SpecError, SpecErrors, UsageError
from reconciler.runtime.config import load_settings
from reconciler.spec.files import Refused, read_regular

if TYPE_CHECKING:
    # The lock format loads with the first function that reads or writes a lock: a plan without
    # --locked or --update-lock never does.
    from reconciler.plan import lock
    from reconciler.plan.diff import Desired, Plan

FILE_NAME: Final = "reconciler.lock"  # in the working directory (plan.lock is the format alone)

MAX_LOCK_BYTES = 256 * 2**20  # far past the lock of a million specs (about 150 bytes each)


def lock_path(option: str | None, paths: tuple[str, ...]) -> Path | None:
    """`--lock FILE`; else reconciler.lock when the specs are the project's; else no lock."""
    if option:
        return Path(option)
    project = [os.path.normpath(p) for p in load_settings().specs]
    if not paths or [os.path.normpath(p) for p in paths] == project:
        return Path(FILE_NAME)
    return None


def required_path(option: str | None, paths: tuple[str, ...], flag: str) -> Path:
    path = lock_path(option, paths)
    if path is None:
        raise UsageError(
            f"{flag}: {FILE_NAME} describes the project's specs, not these PATHS; "
            "name the lock of these specs with --lock FILE"
        )
    return path


def no_lock_with_mock(*flags: tuple[str, object]) -> None:
    used = [name for name, value in flags if value]
    if used:
        raise UsageError(
            f"{' and '.join(used)}: the lock records the real API's videos; --mock never reads or writes it"
        )


def specs_of(desired: Sequence[Desired]) -> dict[str, lock.Locked]:
    from reconciler.plan import lock

    return {d.entry.name: lock.Locked(d.key, d.entry.model) for d in desired}


def read(path: Path) -> lock.Lock | None:
    """The lock at `path`, or None when there is none; a broken one is a SpecErrors into the file."""
    try:
        # Only a regular file, and never past the limit: a lock comes from a pull request like the specs.
        text = read_regular(path, MAX_LOCK_BYTES).decode("utf-8")
    except FileNotFoundError:
        return None
    except Refused as exc:
        raise SpecErrors([SpecError(Location(str(path)), f"the lock file {exc.reason}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(Location(str(path)), f"cannot read the lock file: {exc}")]) from None
    from reconciler.plan import lock

    return lock.loads(text, str(path))


def check(path: Path, planned: Plan, desired: Sequence[Desired]) -> lock.Check:
    """`--locked`: compare the lock with the specs; a missing lock, or one of another API, is an error."""
    from reconciler.plan import lock
    from reconciler.plan.diff import ActionKind

    found = read(path)
    if found is None:
        raise UsageError(
            f"--locked: there is no {path}; write it with `reconciler plan --update-lock` (pays nothing) or "
            "`reconciler apply`, and commit it with the specs"
        )
    if found.namespace != planned.namespace:
        raise UsageError(f"--locked: {path} records keys of the {found.namespace!r} API, not {planned.namespace!r}")
    specs = specs_of(desired)
    creating = [a.name for a in planned.actions if a.kind is ActionKind.CREATE]
    return lock.Check(str(path), lock.compare(found, specs), lock.made_elsewhere(found, specs, creating))


def report(result: lock.Check) -> None:
    """On stderr: whether the lock matches (what disagrees is an error), and what it says was made but this
    store lacks."""
    if result.drift.agrees:
        click.echo(f"{result.path} matches the specs", err=True)
    else:
        click.echo(click.style("error: ", fg="red", bold=True) + f"{result.path} does not match the specs:", err=True)
        for line in result.drift.lines():
            click.echo(f"  {line}", err=True)
        click.echo(
            "  hint: run `reconciler plan --update-lock` (records the keys, pays nothing) or `reconciler apply`, "
            f"and commit {result.path} with the specs",
            err=True,
        )
    if result.made_elsewhere:
        shown = ", ".join(result.made_elsewhere[:10]) + (", ..." if len(result.made_elsewhere) > 10 else "")
        click.echo(
            click.style("warning: ", fg="yellow")
            + f"{result.path} records videos this store does not have, which apply would make (and pay for) "
            f"again: {shown}. Restore the store (in CI: its cache) first.",
            err=True,
        )


def refresh(path: Path, namespace: str, desired: Sequence[Desired], store: Path) -> None:
    """Write the lock of `desired` with what the store holds; say so on stderr when it changed."""
    from reconciler.plan import lock
    from reconciler.store import Store

    try:
        previous = read(path)
    except ReconcilerError as error:
        # A broken lock (a merge conflict, say) is derived data: rebuild it rather than fail a paid run.
        click.echo(click.style("warning: ", fg="yellow") + f"{error}; rebuilding it", err=True)
        previous = None
    specs = specs_of(desired)
    with Store.open_readonly(store) as view:
        stored = view.outputs_for({s.key for s in specs.values()})
    fresh = lock.build(namespace, specs, stored=stored, previous=previous)
    if not write(path, lock.dumps(fresh)):
        return
    drift = lock.compare(previous or lock.Lock(namespace), specs)
    recorded = sum(1 for v in fresh.videos.values() if v.digest)
    changes = f"{len(drift.added)} added, {len(drift.removed)} removed, {len(drift.changed)} changed"
    click.echo(
        f"{path}: {changes}; {recorded} of {len(fresh.videos)} videos recorded (commit it with the specs)", err=True
    )


def write(path: Path, text: str) -> bool:
    """Replace the file with `text` atomically, unless it already says exactly that. True when written."""
    data = text.encode("utf-8")
    try:
        if read_regular(path, MAX_LOCK_BYTES) == data:
            return False
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    except Refused as exc:
        raise UsageError(f"{path} {exc.reason}: move it aside, then write the lock again") from None
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        write_atomic(path, data, durable=True, mode=mode)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return True


def _cannot_write(path: Path, exc: OSError) -> SpecErrors:
    return SpecErrors([SpecError(Location(str(path)), f"cannot write the lock file: {exc}")])


def lock_options(func: Any) -> Any:
    """`--locked` and `--lock FILE`, shared by plan and apply."""
    func = click.option(
        "--lock",
        "lock_file",
        metavar="FILE",
        help=f"The lock file (default: {FILE_NAME} in the working directory, for the project's specs).",
    )(func)
    return click.option(
        "--locked", is_flag=True, help=f"Fail (exit 1) unless the specs match {FILE_NAME}: names and keys."
    )(func)

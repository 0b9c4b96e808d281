"""`reconciler watch`: one long-running engine, fed a fresh plan on every save.

    specs change (watchfiles, debounced) -> LiveSpecs.reload() -> plan.assemble (as plan does)
        -> only the keys not yet queued, in flight or settled go to the engine -> out/ follows the specs

Jobs in flight are never cancelled or abandoned when their spec changes or goes away (they are
paid for): they finish into the store, and out/ always mirrors the specs as they are now. A save
with a mistake prints its errors (file:line) and the file keeps its last good version. Nothing new
is paid for without consent: `--yes` approves every batch; on a terminal each batch is asked for;
otherwise watch only shows what it would submit. `--max-cost` caps the whole session.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler import keys
from reconciler.clock import SystemClock
from reconciler.engine.context import JobContext, Options, Runtime
from reconciler.engine.events import Emit, Outcome, RunEvent, Summary
from reconciler.engine.run import Engine, signals
from reconciler.engine.work import Work, works_for
from reconciler.errors import ReconcilerError, SpecError
from reconciler.plan.assemble import assemble, desire
from reconciler.plan.diff import ActionKind, Desired, select
from reconciler.runtime.config import load_settings
from reconciler.runtime.world import Site, World, run_on
from reconciler.spec import ParseCache, is_spec_file_name
from reconciler.spec.cache import FileParseCache
from reconciler.spec.live import LiveSpecs
from reconciler.ui.progress import display_for

QUIET_MS = 50
PAYS = frozenset({ActionKind.CREATE, ActionKind.IN_DOUBT})  # what may cost money (pending jobs are paid already)


class Approval(Protocol):
    """Whether a batch of paid submits may go ahead."""

    async def approve(self, works: Sequence[Work]) -> bool: ...


class Always:
    async def approve(self, works: Sequence[Work]) -> bool:
        return True


class Never:
    """Off a terminal without --yes: show what would be bought, buy nothing."""

    async def approve(self, works: Sequence[Work]) -> bool:
        return False


@dataclass
class Ask:
    """On a terminal without --yes: ask before each batch (the display pauses while asking)."""

    pause: Callable[[], None]
    resume: Callable[[], None]

    async def approve(self, works: Sequence[Work]) -> bool:
        import click

        cost = sum(w.est_cost_usd for w in works)
        names = ", ".join(w.names[0] for w in works[:5]) + (f" and {len(works) - 5} more" if len(works) > 5 else "")
        self.pause()
        try:
            question = f"Submit {len(works)} new video{'s' if len(works) != 1 else ''} ({names}), est. ${cost:.2f}?"
            return await asyncio.to_thread(click.confirm, question, default=False, err=True)
        except (click.exceptions.Abort, EOFError):
            return False
        finally:
            self.resume()


@dataclass(frozen=True)
class Settings:
    paths: tuple[str, ...]
    site: Site
    out_dir: Path
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    concurrency: int = 8
    max_cost: float | None = None
    retry_failed: bool = False
    debounce_ms: int = 200
    report_dir: Path | None = None  # --report: rewrite this gallery after every stored video


class Session:
    """The state of one watch: the specs as edited, its engine (a stored video refreshes out/), what was declined."""

    def __init__(
        self,
        settings: Settings,
        *,
        specs: LiveSpecs,
        runtime: Runtime,
        options: Options,
        emit: Emit,
        approval: Approval,
    ) -> None:
        self.settings = settings
        self.specs = specs
        self.runtime = runtime
        self.options = options
        self.emit = emit
        self.engine = Engine(JobContext.build(runtime, options, emit, stored=lambda names, digest: self.refresh()))
        self.approval = approval
        self.declined: set[str] = set()  # keys whose submit was not approved; asked again when they change
        self.errors: tuple[SpecError, ...] = ()
        self.names: dict[str, str] = {}  # every current spec name -> key
        self.images: set[str] = set()  # local images the specs use, watched too
        self.up_to_date = 0
        self.laid_out = 0
        self.layout_said: set[str] = set()  # the layout lines said last time (a file left alone, a problem)
        self.desired: list[Desired] = []  # every spec with its key, for the report
        self.chosen: list[Desired] = []  # the targeted specs, for the report

    def _say(self, kind: str, detail: str) -> None:
        self.emit(RunEvent(self.runtime.clock.now(), kind, detail))

    async def reload(self) -> None:
        """Read the specs again, plan, hand the new work to the engine, and lay out out/."""
        loaded = self.specs.reload()
        if loaded.errors != self.errors:
            for error in loaded.errors:
                self._say("spec-error", str(error))
            if self.errors and not loaded.errors:
                self._say("spec-ok", "every spec file is valid again")
        self.errors = loaded.errors
        namespace = self.runtime.namespace
        desired = desire(loaded.specs.entries, namespace)
        self.names = {d.entry.name: d.key for d in desired}
        self.images = {image.path for d in desired for image in d.entry.images}
        try:
            chosen = select(desired, targets=self.settings.targets, excludes=self.settings.excludes)
        except ReconcilerError as error:
            self._say("spec-error", str(error))
            chosen = []
        wanted = {d.key for d in chosen}
        self.desired, self.chosen = desired, chosen
        # The plan apply would make: paid jobs whose spec changed while a killed apply waited on them included.
        plan, _ = assemble(
            desired, chosen, self.runtime.store, namespace=namespace, concurrency=self.settings.concurrency,
            retry_failed=self.settings.retry_failed, latency_scale=self.options.latency_scale, orphans=False,
        )  # fmt: skip
        self.up_to_date = plan.totals.counts[ActionKind.NOOP]
        paying = {a.key for a in plan.actions if a.kind in PAYS}
        fresh = [w for w in works_for(plan, desired) if not self.engine.known(w.key)]
        resume = [w for w in fresh if w.key not in paying]
        buy = [w for w in fresh if w.key in paying and w.key not in self.declined]
        self.declined &= wanted
        if buy and self.engine.ctx.stop.reason is None:
            if await self.approval.approve(buy):
                resume += buy
            else:
                self.declined |= {w.key for w in buy}
                cost = sum(w.est_cost_usd for w in buy)
                listed = ", ".join(w.names[0] for w in buy[:10])
                self._say("not-submitted", f"{len(buy)} to create (est. ${cost:.2f}), not approved: {listed}")
        self.engine.add(resume)
        self.refresh()

    def refresh(self) -> None:
        """After a save or a stored video: lay out out/ and, with --report, rewrite the gallery."""
        self.layout()
        if self.settings.report_dir is not None:
            self.report(self.settings.report_dir)

    def report(self, report_dir: Path) -> None:
        from reconciler.ui import report

        store = self.runtime.store
        plan, _ = assemble(
            self.desired, self.chosen, store, namespace=self.runtime.namespace, concurrency=self.settings.concurrency,
            retry_failed=self.settings.retry_failed, latency_scale=self.options.latency_scale, orphans=False,
        )  # fmt: skip
        try:
            report.write(
                plan, [d.entry for d in self.chosen], store, out_dir=self.settings.out_dir, report_dir=report_dir,
                now=self.runtime.clock.now(), live_seconds=report.LIVE_SECONDS,
            )  # fmt: skip
        except ReconcilerError as error:
            self._say("report", str(error))

    def layout(self) -> None:
        """Make out/ mirror the current specs from what is stored (in-flight jobs land when done)."""
        mirrored = self.runtime.store.mirror(self.settings.out_dir, self.names)
        self.laid_out = mirrored.laid_out
        attention = mirrored.attention()
        for line in attention:
            if line not in self.layout_said:  # said once while it stays true, not on every save
                self._say("layout", line)
        self.layout_said = set(attention)

    def roots(self) -> list[str]:
        """Directories and files to watch: the spec paths, and the folders of the images they use."""
        found = {str(Path(p).resolve()) for p in self.settings.paths if Path(p).exists()}
        found |= {str(Path(image).parent) for image in self.images}
        return sorted(found)

    def interesting(self, change: object, path: str) -> bool:
        return is_spec_file_name(Path(path).name) or path in self.images

    def summary(self, started: float) -> Summary:
        outcomes: list[Outcome] = list(self.engine.outcomes.values())
        return Summary(
            outcomes=tuple(outcomes),
            up_to_date=self.up_to_date,
            stop=self.engine.ctx.stop.reason,
            started_at=started,
            finished_at=self.runtime.clock.now(),
            laid_out=self.laid_out,
            command="watch",
        )


async def watch(settings: Settings, world: World, *, emit: Emit, approval: Approval,
                cache: ParseCache | None = None, ready: Callable[[], None] | None = None) -> Summary:  # fmt: skip
    """Watch until Ctrl-C (or SIGTERM); returns the session's summary."""
    import watchfiles

    runtime = world.runtime
    started = runtime.clock.now()
    options = Options(concurrency=settings.concurrency, max_cost_usd=settings.max_cost,
                      latency_scale=world.latency_scale, retry_failed=settings.retry_failed)  # fmt: skip
    specs = LiveSpecs(settings.paths, cache=cache, allow_outside_files=load_settings().allow_outside_files,
                      derive=keys.EVERY_NAMESPACE)  # fmt: skip
    session = Session(settings, specs=specs, runtime=runtime, options=options, emit=emit, approval=approval)
    engine, stop = session.engine, session.engine.ctx.stop
    with signals(engine.interrupt, enabled=True):
        engine.start(settings.concurrency)
        await session.reload()
        if ready is not None:
            ready()
        while not stop.halted.is_set():
            roots = session.roots()
            async for _changes in watchfiles.awatch(
                *roots,
                watch_filter=session.interesting,
                # A batch is taken after 50 ms without a change, or at most debounce_ms after the first
                # (an editor's save is a burst of events: write, rename, chmod).
                step=min(QUIET_MS, settings.debounce_ms),
                debounce=settings.debounce_ms,
                stop_event=stop.halted,
            ):
                await session.reload()
                if session.roots() != roots:
                    break  # a new image folder to watch: start watching again with it
        await engine.close()
    session.layout()
    return session.summary(started)


def run_watch(settings: Settings, *, yes: bool, as_json: bool) -> Summary:
    """The command line's entry: pick the display and the approval, run on the site, show the summary."""
    display = display_for(as_json=as_json)
    clock = SystemClock()
    display.start([], at=clock.now())
    mock = settings.site.backend.mock
    if yes or mock:
        approval: Approval = Always()
        note = "new videos are submitted as specs change" + (" (the bundled fake: free)" if mock else "")
    elif sys.stdin.isatty() and not as_json:
        approval = Ask(pause=getattr(display, "pause", _nothing), resume=getattr(display, "resume", _nothing))
        note = "each batch of new videos is asked for (--yes to submit without asking)"
    else:
        approval = Never()
        note = "new videos are only shown, not submitted: run with --yes to submit them"
    cap = f"; spending capped at ${settings.max_cost:.2f} for the session" if settings.max_cost is not None else ""
    display.event(RunEvent(clock.now(), "watching", f"watching {', '.join(settings.paths)}: {note}{cap}"))
    # The parse cache of plan and apply: a save re-parses only the file that changed.
    cache = FileParseCache.in_store(settings.site.store_root)

    async def main(world: World) -> Summary:
        return await watch(settings, world, emit=display.event, approval=approval, cache=cache)

    summary = run_on(settings.site, main, clock=clock)
    cache.save()
    display.finish(summary)
    return summary


def _nothing() -> None:
    return None

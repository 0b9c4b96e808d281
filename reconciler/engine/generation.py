"""One generation (one key) from claim to stored file: the write-ahead path of a paid request.

    claim (intent + exact body, one transaction)  ->  submit  ->  record the request id
      ->  poll  ->  result  ->  stream into a temp blob through VideoCheck  ->  record the output
      ->  out/<name>.mp4

Every step is recorded in the store before the next begins, so a run that dies anywhere leaves
the next run exactly one safe thing to do: a SUBMITTED attempt is polled, a COMPLETED one fetched,
and a CLAIMED one whose owner died is in doubt and settled through the request history before
anything is paid again. A submit is never retried blindly: only an error that proves the request
never left (a refused connection) is retried; any other failed submit may have created a job and
is looked up. `settle` returns an Outcome; it raises only for what ends the whole run (a bad key).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.api.client import JobState
from reconciler.engine import adopt, history
from reconciler.engine.events import JobEvent, Outcome, Phase, StopReason
from reconciler.engine.pacer import Stopping
from reconciler.engine.videocheck import NotAVideo, VideoCheck
from reconciler.errors import (
    ApiAuthError,
    ApiBadRequest,
    ApiError,
    ApiInsufficientCredits,
    ApiNotFound,
    ApiUnreachable,
    KeyFailedError,
    ReconcilerError,
)
from reconciler.plan import latency
from reconciler.records import Attempt, AttemptState, BlobInfo, FailureReason, Output
from reconciler.spec import LocalImage
from reconciler.spec.files import MAX_MEDIA_BYTES, Refused, read_regular

if TYPE_CHECKING:
    from reconciler.engine.run import Run

T = TypeVar("T")
# How many times one generation may go round submit -> expired -> submit again in one run.
MAX_CYCLES = 3


@dataclass(frozen=True)
class Work:
    """One key to reconcile: the specs that want it and the request that makes it."""

    key: str
    names: tuple[str, ...]
    model: str
    params: dict[str, Any]  # as sent, except local images (uploaded first)
    images: tuple[LocalImage, ...]
    est_cost_usd: float
    # A paid job whose spec changed or went away (plan.PaidJob): fetch it if it exists, never submit.
    fetch_only: bool = False


class ImageChanged(ReconcilerError):
    """A local image's bytes changed between reading the specs and uploading it."""


def _never_sent(error: ApiError) -> bool:
    return isinstance(error, ApiUnreachable) and not error.maybe_sent


class _Done(Exception):
    """Internal: the generation has its outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.phase.value)
        self.outcome = outcome


class Generation:
    """The state of one key in one run; `settle()` drives it to an Outcome."""

    def __init__(self, run: Run, work: Work) -> None:
        self.run = run
        self.work = work
        self.phase: Phase | None = None
        self.attempt: Attempt | None = None
        self.maybe_sent = False  # a submit went out and we do not know whether it made a job
        self.paid_here = False
        self.est_cost_usd = 0.0
        self.cost_usd: float | None = None
        self.looked_latency: float | None = None  # the job's latency as our looks saw it (no server timing)

    # ---- events and endings

    @property
    def request_id(self) -> str | None:
        return None if self.attempt is None else self.attempt.request_id

    def _emit(self, phase: Phase, detail: str = "") -> None:
        if phase is self.phase and not detail:
            return
        self.phase = phase
        self.run.emit(
            JobEvent(
                at=self.run.clock.now(), key=self.work.key, names=self.work.names, model=self.work.model,
                phase=phase, request_id=self.request_id, detail=detail, est_cost_usd=self.est_cost_usd,
                cost_usd=self.cost_usd,
            )
        )  # fmt: skip

    def _end(self, phase: Phase, detail: str, digest: str | None = None) -> _Done:
        self._emit(phase, detail)
        return _Done(
            Outcome(
                key=self.work.key, names=self.work.names, model=self.work.model, phase=phase,
                request_id=self.request_id, detail=detail, paid_here=self.paid_here,
                est_cost_usd=self.est_cost_usd, cost_usd=self.cost_usd, digest=digest,
            )
        )  # fmt: skip

    def interrupted(self, detail: str) -> Outcome:
        """The outcome of a generation cut off where it stands (a stop, a second Ctrl-C)."""
        attempt = self.attempt
        store = self.run.store
        if attempt is not None and attempt.state is AttemptState.CLAIMED and attempt.request_id is None:
            if self.maybe_sent or attempt.in_doubt:
                self.attempt = store.abandon(attempt.id)
                return self._end(Phase.IN_DOUBT, f"{detail}; the submit may have reached the API").outcome
            self.attempt = store.release(attempt.id)
            self._refund()
            return self._end(Phase.SKIPPED, f"{detail}; not submitted").outcome
        if attempt is not None and attempt.request_id is not None:
            return self._end(Phase.UNFINISHED, f"{detail}; in flight as request {attempt.request_id}").outcome
        return self._end(Phase.SKIPPED, f"{detail}; not submitted").outcome

    def _refund(self) -> None:
        if self.est_cost_usd and not self.paid_here:
            self.run.budget.refund(self.est_cost_usd)
            self.est_cost_usd = 0.0

    # ---- the whole path

    async def settle(self) -> Outcome:
        try:
            await self._drive()
        except _Done as done:
            return done.outcome
        except Stopping:
            return self.interrupted(self.run.stop_detail())
        except ApiAuthError as error:
            self.run.halt(StopReason.AUTH, str(error))
            return self.interrupted(str(error))
        except ReconcilerError as error:
            # A store or image problem: nothing more can be done for this key in this run.
            attempt = self.attempt
            if attempt is not None and attempt.state is AttemptState.CLAIMED:
                if self.maybe_sent:
                    self.attempt = self.run.store.abandon(attempt.id)
                    return self._end(Phase.IN_DOUBT, f"{error}; the submit may have reached the API").outcome
                self.attempt = self.run.store.release(attempt.id)
                self._refund()
            return self._end(Phase.FAILED, str(error)).outcome
        raise AssertionError("a generation ended without an outcome")  # pragma: no cover

    async def _drive(self) -> None:
        for _ in range(MAX_CYCLES):
            self.attempt = await self._claim()
            if self.attempt.state is AttemptState.CLAIMED:
                await self._submit_or_adopt()
            if self.attempt.state is AttemptState.SUBMITTED:
                await self._poll()
            if self.attempt.state is AttemptState.COMPLETED:
                await self._fetch()
            # Only an expired result brings us round again, to a fresh claim.
        raise self._end(Phase.FAILED, f"gave up after {MAX_CYCLES} rounds of expired results")

    async def _claim(self) -> Attempt:
        run, work = self.run, self.work
        waited = False
        while True:
            stored = run.store.outputs_for([work.key]).get(work.key)
            if stored is not None:
                raise self._stored(stored, "stored by another run" if waited else "already stored")
            if run.submit_stop is not None and not run.store.attempts_for([work.key]).get(work.key, None):
                raise self._end(Phase.SKIPPED, run.stop_detail())
            body = await self._body()
            claim = functools.partial(
                run.store.claim, work.key, namespace=run.namespace, model=work.model, request_body=body,
                retry_failed=run.options.retry_failed,
            )  # fmt: skip
            try:
                attempt = await self._write(claim)
            except KeyFailedError as error:
                # Another machine failed the key for good between our plan and this claim: end as the
                # plan would now show it. Nothing was claimed or reserved, so nothing to give back.
                raise self._end(Phase.FAILED, str(error)) from None
            if attempt is not None:
                return attempt
            if not waited:
                holder = run.store.attempts_for([work.key]).get(work.key)
                who = f" ({holder.owner})" if holder is not None else ""
                self._emit(Phase.WAITING, f"another run on this store is working on it{who}; waiting")
                waited = True
            await run.pacer.wait(run.options.held_poll_s)

    async def _write(self, call: Callable[[], T]) -> T:
        """A claim or record write; against a bucket the store's `offload` runs it (a worker thread), off the loop.

        A write cut off by a cancel (a second Ctrl-C) still finishes in its thread; it is waited for,
        and an attempt it returns is kept, so `interrupted` settles what the store really holds.
        """
        if not self.run.store.writes_over_network:
            return self._keep(call())
        task = asyncio.ensure_future(self.run.store.offload(call))
        try:
            return self._keep(await asyncio.shield(task))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # the cancel is what this generation ends with
                self._keep(await task)
            raise

    def _keep(self, result: T) -> T:
        if isinstance(result, Attempt):
            self.attempt = result
        return result

    def _stored(self, output: Output, detail: str) -> _Done:
        self.run.place(self.work.names, output.digest)
        return self._end(Phase.STORED, detail, output.digest)

    async def _body(self) -> dict[str, Any]:
        body = dict(self.work.params)
        for image in self.work.images:
            if (url := self.run.store.uploaded_url(self.run.namespace, image.sha256)) is None:
                self._emit(Phase.UPLOADING)
                url = await self.run.upload(image)
            body[image.param] = url
        return body

    # ---- submitting, or adopting the job a lost submit made

    async def _submit_or_adopt(self) -> None:
        attempt = self._attempt()
        if attempt.in_doubt:
            # A run died between recording the intent and hearing back: ask the history first.
            since, bodies = self._intent(attempt)
            if await self._adopt(since, bodies, "a run died while submitting it"):
                return
        if self.work.fetch_only:
            raise self._release(Phase.SKIPPED, "no spec wants it any more and no job of it exists; nothing submitted")
        if await self._adopt_paid():
            return
        await self._submit()

    async def _adopt_paid(self) -> bool:
        """A video the account already paid for (engine/adopt.py): take it instead of buying it."""
        run, work = self.run, self.work
        if run.adoptions is None:
            return False
        row = await run.adoptions.find(work.model, work.key, known=run.store.request_ids(work.key))
        if row is None:
            return False
        await self._write(functools.partial(run.store.record_submitted, self._attempt().id, row.request_id))
        self.attempt = run.store.record_state(self._attempt().id, AttemptState.COMPLETED)
        self._emit(Phase.QUEUED, adopt.describe(row))
        return True

    def _intent(self, attempt: Attempt) -> tuple[float, list[dict[str, Any]]]:
        """When the first unsettled submit of this chain was intended, and every body it may have sent."""
        since, bodies = attempt.claimed_at, [attempt.request_body]
        previous = attempt.supersedes
        while previous is not None:
            old = self.run.store.attempt(previous)
            if old.request_id is not None or old.state not in (AttemptState.CLAIMED, AttemptState.SUPERSEDED):
                break
            since = min(since, old.claimed_at)
            if old.request_body not in bodies:
                bodies.append(old.request_body)
            previous = old.supersedes
        return since, bodies

    async def _adopt(self, since: float, bodies: list[dict[str, Any]], why: str) -> bool:
        """Look for the job; True when adopted, False when the history positively has none."""
        run, work = self.run, self.work
        self.maybe_sent = True
        self._emit(Phase.LOOKING_UP, f"{why}; searching the request history")
        try:
            row = await history.find_submit(
                run.api, run.pacer, model=work.model, bodies=bodies, since=since, known=run.store.request_ids(work.key)
            )
        except ApiAuthError:
            raise
        except (ApiError, history.Unsettled) as error:
            if run.options.resubmit_in_doubt:
                self._emit(Phase.LOOKING_UP, f"the history could not settle it ({error}); --resubmit-in-doubt")
                self.maybe_sent = False
                return False
            self.attempt = run.store.abandon(self._attempt().id)
            raise self._end(
                Phase.IN_DOUBT,
                f"the submit may have reached the API and the request history could not settle it: {error}",
            ) from None
        if row is None:
            self.maybe_sent = False
            return False
        await self._write(functools.partial(run.store.record_submitted, self._attempt().id, row.request_id))
        self.maybe_sent = False
        self._emit(Phase.QUEUED, f"adopted request {row.request_id} from the history (nothing paid again)")
        return True

    async def _submit(self) -> None:
        run, work = self.run, self.work
        if run.submit_stop is not None:
            raise self._release(Phase.SKIPPED, run.stop_detail())
        if not run.budget.reserve(work.est_cost_usd):
            run.stop_submitting(StopReason.BUDGET, run.budget.describe())
            raise self._release(Phase.SKIPPED, run.stop_detail())
        self.est_cost_usd = work.est_cost_usd
        policy = run.pacer.retry
        for round_ in range(1, policy.max_attempts + 1):
            attempt = self._attempt()
            self._emit(Phase.SUBMITTING)
            # From now until its id is recorded the job may exist: a run cut off here leaves it in doubt.
            self.maybe_sent = True
            try:
                submit = functools.partial(run.api.submit, work.model, attempt.request_json)
                sent = await run.pacer.call(submit, retry_if=_never_sent)
            except (ApiBadRequest, ApiNotFound) as error:
                self.maybe_sent = False  # refused: no job was made
                self._refund()
                self.attempt = run.store.record_state(
                    attempt.id, AttemptState.FAILED, error=str(error), reason=FailureReason.PERMANENT
                )
                raise self._end(Phase.FAILED, str(error)) from None
            except ApiInsufficientCredits as error:
                self.maybe_sent = False
                run.stop_submitting(StopReason.CREDITS, str(error))
                raise self._release(Phase.SKIPPED, str(error)) from None
            except ApiAuthError:
                self.maybe_sent = False
                self.attempt = run.store.release(attempt.id)
                self._refund()
                raise
            except ApiError as error:
                if _never_sent(error):
                    self.maybe_sent = False
                    raise self._release(Phase.FAILED, f"the API could not be reached: {error}") from None
                # The request may have made a job (a 5xx or a lost answer after it arrived): ask.
                if await self._adopt(attempt.claimed_at, [attempt.request_body], f"the submit failed ({error})"):
                    self.paid_here = True  # this run's own submit made the job: it is this run's spend
                    return
                delay = policy.next_delay(round_, error, rng=run.pacer.rng)
                if delay is None:
                    raise self._release(Phase.FAILED, f"the submit kept failing: {error}") from None
                await run.pacer.wait(delay)
                continue
            await self._write(functools.partial(run.store.record_submitted, attempt.id, sent.request_id))
            self.maybe_sent = False
            self.paid_here = True
            self._emit(Phase.QUEUED)
            return
        raise self._release(Phase.FAILED, "the submit kept failing")

    def _release(self, phase: Phase, detail: str) -> _Done:
        attempt = self._attempt()
        if attempt.state is AttemptState.CLAIMED:
            self.attempt = self.run.store.release(attempt.id)
        self._refund()
        return self._end(phase, detail)

    def _attempt(self) -> Attempt:
        if self.attempt is None:  # pragma: no cover - every caller runs after a claim
            raise AssertionError("no attempt claimed")
        return self.attempt

    # ---- waiting for the job

    async def _poll(self) -> None:
        run, work = self.run, self.work
        request_id = self._attempt().request_id
        assert request_id is not None
        submitted_at = self._attempt().submitted_at or run.clock.now()
        # The give-up clock starts when this run starts watching, not at the submit: a job an
        # earlier run submitted hours ago is looked at (and usually found done), never given up unseen.
        watching_since = run.clock.now()
        exploring = run.latencies.explore(work.model)
        last_look: float | None = None  # seconds after the submit of the last look that saw it unfinished
        while True:
            elapsed = run.clock.now() - submitted_at
            if run.clock.now() - watching_since > run.max_wait_s(work.model):
                raise self._end(Phase.UNFINISHED, f"request {request_id} is still running after {elapsed / 60:.0f} min")
            estimate = run.latencies.estimate(work.model)
            exploring = exploring and not estimate.known
            delay = run.options.poll.next_look_s(
                estimate, elapsed_s=elapsed, last_look_s=last_look, exploring=exploring, rng=run.pacer.rng
            )
            if await run.pacer.wait(delay, wake=run.latencies.first_sample(work.model)):
                continue  # another job taught the model's latency: plan the look again with it
            status = await self._ask(lambda: run.api.status(request_id), f"could not ask about request {request_id}")
            looked = run.clock.now() - submitted_at
            if status is None:
                await self._expired(request_id)
                return
            if status.state is JobState.QUEUED:
                self._emit(Phase.QUEUED)
            elif status.state is JobState.PROCESSING:
                self._emit(Phase.PROCESSING)
            elif status.state is JobState.COMPLETED:
                # Our own looks bound its latency; only a job this run watched from its submit says anything.
                self.looked_latency = latency.from_looks(last_look, looked) if self.paid_here else None
                self.attempt = run.store.record_state(self._attempt().id, AttemptState.COMPLETED)
                return
            else:
                self._fail(status.error, status.reason)
            last_look = looked

    def _fail(self, error: str | None, reason: FailureReason | None) -> None:
        # `reason` was read from the error once, by the client; a failure it could not place may go better next time.
        message = error or "the API reported the job FAILED without an error"
        self.attempt = self.run.store.record_state(
            self._attempt().id, AttemptState.FAILED, error=message, reason=reason or FailureReason.TEMPORARY
        )
        raise self._end(Phase.FAILED, message)

    # ---- fetching the video

    async def _fetch(self) -> None:
        run = self.run
        request_id = self._attempt().request_id
        assert request_id is not None
        self._emit(Phase.DOWNLOADING)
        result = await self._ask(lambda: run.api.result(request_id), f"could not read the result of {request_id}")
        if result is None:
            await self._expired(request_id)
            return
        if result.state is JobState.FAILED:
            self._fail(result.error, result.reason)
        if result.state is not JobState.COMPLETED:
            raise self._unfinished(f"request {request_id} was reported done, then {result.state.value}")
        self.cost_usd = result.cost_usd
        # The server's own timing beats our looks: a late look still teaches the true latency.
        seconds = result.latency_s if result.latency_s is not None else self.looked_latency
        if seconds is not None:
            self.attempt = run.latencies.learn(self.work.model, seconds, self._attempt())
        await self._store(result.output_url, result.output_bytes, request_id)

    async def _store(self, url: str | None, inline: bytes | None, request_id: str, *, recovered: bool = False) -> None:
        run, work = self.run, self.work
        self._emit(Phase.DOWNLOADING)
        async with run.downloads:
            blob: BlobInfo | None
            if inline is not None:
                try:
                    blob = self._write_whole(inline)
                except ApiError as error:
                    raise self._unfinished(f"the video of request {request_id} is broken: {error}") from None
            else:
                assert url is not None
                blob = await self._ask(
                    lambda: self._download_once(url), f"the video of request {request_id} could not be downloaded"
                )
        if blob is None:
            if recovered:  # the history's own link is dead too: the video is gone
                self._gone(f"the history's link to request {request_id}'s video is gone too")
                return
            await self._expired(request_id)
            return
        record = functools.partial(
            run.store.record_output, work.key, digest=blob.digest, size=blob.size, model=work.model,
            request_id=request_id, cost_usd=self.cost_usd, namespace=run.namespace,
            name_hint=next(iter(work.names), None), attempt_id=self._attempt().id,
        )  # fmt: skip
        await self._write(record)
        self.attempt = run.store.attempt(self._attempt().id)
        run.place(work.names, blob.digest)
        raise self._end(Phase.STORED, f"{blob.size:,} bytes", blob.digest)

    def _write_whole(self, data: bytes) -> BlobInfo:
        check = VideoCheck()
        with self.run.store.blob_writer(max_bytes=self.run.options.max_bytes) as writer:
            check.update(data)
            try:
                check.finish()
            except NotAVideo as error:
                raise ApiUnreachable(f"the inline video is broken: {error}", maybe_sent=False) from error
            writer.write(data)
            return writer.commit()

    async def _download_once(self, url: str) -> BlobInfo:
        check = VideoCheck()
        limit = self.run.options.max_bytes
        with self.run.store.blob_writer(max_bytes=limit) as writer:

            def sink(chunk: bytes) -> None:
                check.update(chunk)
                writer.write(chunk)

            try:
                await self.run.api.download(url, sink, max_bytes=limit)
                check.finish()
            except NotAVideo as error:
                # A cut or mangled transfer: discard it and fetch again (the pacer retries).
                raise ApiUnreachable(f"the download is not a whole video: {error}", maybe_sent=False) from error
            return writer.commit()

    async def _ask(self, request: Callable[[], Awaitable[T]], failure: str) -> T | None:
        """`request` through the pacer; None when the API no longer knows the job (404: recover it).

        A bad key ends the run (raised on); any other error leaves the paid job for the next apply.
        """
        try:
            return await self.run.pacer.call(request)
        except ApiNotFound:
            return None
        except ApiAuthError:
            raise
        except ApiError as error:
            raise self._unfinished(f"{failure}: {error}") from None

    def _unfinished(self, detail: str) -> _Done:
        return self._end(Phase.UNFINISHED, f"{detail}; the job is paid and recorded, apply again to fetch it")

    # ---- an expired result

    async def _expired(self, request_id: str) -> None:
        """The API no longer knows the request: fetch it through the history, or record it gone."""
        run = self.run
        self._emit(Phase.RECOVERING, f"request {request_id} is no longer on the API; asking the request history")
        try:
            found = await history.recover(run.api, run.pacer, request_id)
        except ApiAuthError:
            raise
        except ApiError as error:
            raise self._unfinished(f"request {request_id} expired and the history could not be read: {error}") from None
        if found.url is not None:
            if found.cost_usd is not None:
                self.cost_usd = found.cost_usd
            await self._store(found.url, None, request_id, recovered=True)
            return
        if found.running:
            await self._poll()
            return
        if found.error is not None:
            # It failed (a content block stays blocked): a failure to record, not a video to make again.
            self._fail(found.error, found.reason)
        self._gone(found.detail)

    def _gone(self, detail: str) -> None:
        # Gone for good: record it, and the next round claims the key afresh (a new, budgeted submit).
        self.attempt = self.run.store.record_state(self._attempt().id, AttemptState.EXPIRED, error=detail)
        self._emit(Phase.RECOVERING, f"{detail}; it will be generated again")


def image_bytes(image: LocalImage) -> bytes:
    """The local image's (or audio's) bytes, checked against the digest its spec was keyed with."""
    try:
        # Read as the specs were: a file swapped for a FIFO or a device since then must not hang or fill memory.
        data = read_regular(image.path, MAX_MEDIA_BYTES)
    except Refused as error:
        raise ImageChanged(f"{image.path} {error.reason} now; it was a usable file when specs were read") from None
    except OSError as error:
        raise ImageChanged(f"cannot read {image.path} ({error.strerror}); it was there when specs were read") from error
    if hashlib.sha256(data).hexdigest() != image.sha256:
        raise ImageChanged(f"{image.path} changed since the specs were read; run apply again")
    return data

"""The paid job's last steps: wait for it, fetch its video into the store, recover it when it expired.

    poll      look at the job when its model's learned latency says it is likely done (policy.PollSchedule);
              give it up for the next run after max_wait_s of watching
    fetch     read the result, learn the latency, stream the video into the store (download.py), record it
    expired   a request the API no longer knows (404): fetch it through the request history, or record
              it gone (EXPIRED) so the next round claims the key afresh

A bad key is raised on (it ends the run); any other error leaves the job paid and recorded for the
next apply (UNFINISHED). Each step returns the Outcome when the generation ends here, None when it
goes on: after `poll`, COMPLETED (fetch it) or EXPIRED (claim again).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reconciler.api.answers import JobState
from reconciler.engine import history
from reconciler.engine.context import JobContext
from reconciler.engine.events import Outcome, Phase
from reconciler.engine.job import Job
from reconciler.errors import ApiAuthError, ApiError, ApiNotFound
from reconciler.plan import latency
from reconciler.records import AttemptState, BlobInfo, FailureReason

T = TypeVar("T")


def max_wait_s(ctx: JobContext, model: str) -> float:
    """How long a run watches one job before leaving it to the next apply."""
    return max(ctx.options.min_wait_s, 6 * ctx.latencies.estimate(model).expected_s)


async def poll(job: Job) -> Outcome | None:
    ctx, work = job.ctx, job.work
    request_id = job.held.request_id
    assert request_id is not None
    submitted_at = job.held.submitted_at or ctx.clock.now()
    # The give-up clock starts when this run starts watching, not at the submit: a job an
    # earlier run submitted hours ago is looked at (and usually found done), never given up unseen.
    watching_since = ctx.clock.now()
    exploring = ctx.latencies.explore(work.model)
    last_look: float | None = None  # seconds after the submit of the last look that saw it unfinished
    while True:
        elapsed = ctx.clock.now() - submitted_at
        if ctx.clock.now() - watching_since > max_wait_s(ctx, work.model):
            return job.end(Phase.UNFINISHED, f"request {request_id} is still running after {elapsed / 60:.0f} min")
        estimate = ctx.latencies.estimate(work.model)
        exploring = exploring and not estimate.known
        delay = ctx.options.poll.next_look_s(
            estimate, elapsed_s=elapsed, last_look_s=last_look, exploring=exploring, rng=ctx.pacer.rng
        )
        if await ctx.pacer.wait(delay, wake=ctx.latencies.first_sample(work.model)):
            continue  # another job taught the model's latency: plan the look again with it
        status = await _ask(job, lambda: ctx.api.status(request_id), f"could not ask about request {request_id}")
        if isinstance(status, Outcome):
            return status
        looked = ctx.clock.now() - submitted_at
        if status is None:
            return await _expired(job, request_id)
        if status.state is JobState.QUEUED:
            job.emit(Phase.QUEUED)
        elif status.state is JobState.PROCESSING:
            job.emit(Phase.PROCESSING)
        elif status.state is JobState.COMPLETED:
            # Our own looks bound its latency; only a job this run watched from its submit says anything.
            job.looked_latency = latency.from_looks(last_look, looked) if job.paid_here else None
            job.attempt = ctx.store.record_state(job.held.id, AttemptState.COMPLETED)
            return None
        else:
            return _fail(job, status.error, status.reason)
        last_look = looked


async def fetch(job: Job) -> Outcome | None:
    ctx = job.ctx
    request_id = job.held.request_id
    assert request_id is not None
    job.emit(Phase.DOWNLOADING)
    result = await _ask(job, lambda: ctx.api.result(request_id), f"could not read the result of {request_id}")
    if isinstance(result, Outcome):
        return result
    if result is None:
        return await _expired(job, request_id)
    if result.state is JobState.FAILED:
        return _fail(job, result.error, result.reason)
    if result.state is not JobState.COMPLETED:
        return job.unfinished(f"request {request_id} was reported done, then {result.state.value}")
    job.cost_usd = result.cost_usd
    # The server's own timing beats our looks: a late look still teaches the true latency.
    seconds = result.latency_s if result.latency_s is not None else job.looked_latency
    if seconds is not None:
        job.attempt = ctx.latencies.learn(job.work.model, seconds, job.held)
    return await _store(job, result.output_url, result.output_bytes, request_id)


async def _store(
    job: Job, url: str | None, inline: bytes | None, request_id: str, *, recovered: bool = False
) -> Outcome | None:
    ctx, work, downloads = job.ctx, job.work, job.ctx.downloads
    job.emit(Phase.DOWNLOADING)
    async with downloads.slots:
        blob: BlobInfo | Outcome | None
        if inline is not None:
            try:
                blob = downloads.whole(inline)
            except ApiError as error:
                return job.unfinished(f"the video of request {request_id} is broken: {error}")
        else:
            assert url is not None
            blob = await _ask(
                job, lambda: downloads.fetch(url), f"the video of request {request_id} could not be downloaded"
            )
    if isinstance(blob, Outcome):
        return blob
    if blob is None:
        if recovered:  # the history's own link is dead too: the video is gone
            _gone(job, f"the history's link to request {request_id}'s video is gone too")
            return None
        return await _expired(job, request_id)
    record = functools.partial(
        ctx.store.record_output, work.key, digest=blob.digest, size=blob.size, model=work.model,
        request_id=request_id, cost_usd=job.cost_usd, namespace=ctx.namespace,
        name_hint=next(iter(work.names), None), attempt_id=job.held.id,
    )  # fmt: skip
    await job.write(record)
    job.attempt = ctx.store.attempt(job.held.id)
    return job.stored(blob.digest, f"{blob.size:,} bytes")


async def _ask(job: Job, request: Callable[[], Awaitable[T]], failure: str) -> T | Outcome | None:
    """`request` through the pacer; None when the API no longer knows the job (404: recover it).

    A bad key ends the run (raised on); any other error leaves the paid job for the next apply (its Outcome).
    """
    try:
        return await job.ctx.pacer.call(request)
    except ApiNotFound:
        return None
    except ApiAuthError:
        raise
    except ApiError as error:
        return job.unfinished(f"{failure}: {error}")


def _fail(job: Job, error: str | None, reason: FailureReason | None) -> Outcome:
    # `reason` was read from the error once, by the client; a failure it could not place may go better next time.
    message = error or "the API reported the job FAILED without an error"
    job.attempt = job.ctx.store.record_state(
        job.held.id, AttemptState.FAILED, error=message, reason=reason or FailureReason.TEMPORARY
    )
    return job.end(Phase.FAILED, message)


async def _expired(job: Job, request_id: str) -> Outcome | None:
    """The API no longer knows the request: fetch it through the history, or record it gone."""
    ctx = job.ctx
    job.emit(Phase.RECOVERING, f"request {request_id} is no longer on the API; asking the request history")
    try:
        found = await history.recover(ctx.api, ctx.pacer, request_id)
    except ApiAuthError:
        raise
    except ApiError as error:
        return job.unfinished(f"request {request_id} expired and the history could not be read: {error}")
    if found.url is not None:
        if found.cost_usd is not None:
            job.cost_usd = found.cost_usd
        return await _store(job, found.url, None, request_id, recovered=True)
    if found.running:
        return await poll(job)
    if found.error is not None:
        # It failed (a content block stays blocked): a failure to record, not a video to make again.
        return _fail(job, found.error, found.reason)
    _gone(job, found.detail)
    return None


def _gone(job: Job, detail: str) -> None:
    # Gone for good: record it, and the next round claims the key afresh (a new, budgeted submit).
    job.attempt = job.ctx.store.record_state(job.held.id, AttemptState.EXPIRED, error=detail)
    job.emit(Phase.RECOVERING, f"{detail}; it will be generated again")

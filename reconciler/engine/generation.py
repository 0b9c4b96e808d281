"""One generation (one key) from claim to stored file: the write-ahead path of a paid request.

    claim (intent + exact body, one transaction)  ->  submit  ->  record the request id
      ->  poll  ->  result  ->  stream into a temp blob through VideoCheck  ->  record the output
      ->  out/<name>.mp4

Every step is recorded in the store before the next begins, so a run that dies anywhere leaves
the next run exactly one safe thing to do: a SUBMITTED attempt is polled, a COMPLETED one fetched,
and a CLAIMED one whose owner died is in doubt and settled through the request history before
anything is paid again (engine/submit.py). Each step returns the Outcome when the generation ends
there, None when it goes on (the attempt's state says where to). `settle` returns an Outcome; a bad
key also halts the whole run, and a second Ctrl-C cancels it where it stands (Job.interrupted).
"""

from __future__ import annotations

import functools
from typing import Any

from reconciler.engine.collect import fetch, poll
from reconciler.engine.events import Outcome, Phase, StopReason
from reconciler.engine.job import MAY_HAVE_SENT, Job
from reconciler.engine.pacer import Stopping
from reconciler.engine.submit import submit_or_adopt
from reconciler.errors import ApiAuthError, KeyFailedError, ReconcilerError
from reconciler.records import AttemptState

# How many times one generation may go round submit -> expired -> submit again in one run.
MAX_CYCLES = 3


async def settle(job: Job) -> Outcome:
    """Drive `job` to its Outcome."""
    try:
        return await _drive(job)
    except Stopping:
        return job.interrupted(job.ctx.stop.detail())
    except ApiAuthError as error:
        job.ctx.stop.halt(StopReason.AUTH, str(error))
        return job.interrupted(str(error))
    except ReconcilerError as error:
        # A store or image problem: nothing more can be done for this key in this run.
        if job.give_back(doubt=job.maybe_sent):
            return job.end(Phase.IN_DOUBT, f"{error}; {MAY_HAVE_SENT}")
        return job.end(Phase.FAILED, str(error))


async def _drive(job: Job) -> Outcome:
    for _ in range(MAX_CYCLES):
        if (ended := await _claim(job)) is not None:
            return ended
        if job.held.state is AttemptState.CLAIMED and (ended := await submit_or_adopt(job)) is not None:
            return ended
        if job.held.state is AttemptState.SUBMITTED and (ended := await poll(job)) is not None:
            return ended
        if job.held.state is AttemptState.COMPLETED and (ended := await fetch(job)) is not None:
            return ended
        # Only an expired result brings us round again, to a fresh claim.
    return job.end(Phase.FAILED, f"gave up after {MAX_CYCLES} rounds of expired results")


async def _claim(job: Job) -> Outcome | None:
    """Hold the key (None), or end: stored already, or not to be started now. Waits while another run holds it."""
    ctx, work = job.ctx, job.work
    waited = False
    while True:
        stored = ctx.store.outputs_for([work.key]).get(work.key)
        if stored is not None:
            return job.stored(stored.digest, "stored by another run" if waited else "already stored")
        if ctx.stop.reason is not None and not ctx.store.attempts_for([work.key]).get(work.key, None):
            return job.end(Phase.SKIPPED, ctx.stop.detail())
        body = await _body(job)
        claim = functools.partial(
            ctx.store.claim, work.key, namespace=ctx.namespace, model=work.model, request_body=body,
            retry_failed=ctx.options.retry_failed,
        )  # fmt: skip
        try:
            if await job.write(claim) is not None:
                return None
        except KeyFailedError as error:
            # Another machine failed the key for good between our plan and this claim: end as the
            # plan would now show it. Nothing was claimed or reserved, so nothing to give back.
            return job.end(Phase.FAILED, str(error))
        if not waited:
            holder = ctx.store.attempts_for([work.key]).get(work.key)
            who = f" ({holder.owner})" if holder is not None else ""
            job.emit(Phase.WAITING, f"another run on this store is working on it{who}; waiting")
            waited = True
        await ctx.pacer.wait(ctx.options.held_poll_s)


async def _body(job: Job) -> dict[str, Any]:
    """The request as it will be sent: the spec's params, with each local image's URL on the API's storage."""
    body = dict(job.work.params)
    for image in job.work.images:
        if (url := job.ctx.uploads.remembered(image)) is None:
            job.emit(Phase.UPLOADING)
            url = await job.ctx.uploads.upload(image)
        body[image.param] = url
    return body

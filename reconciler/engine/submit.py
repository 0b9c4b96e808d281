"""The paid step of a generation: submit its request, or adopt the job that already exists for it.

    an attempt in doubt (a run died while submitting)   ask the request history first
    a paid job of a changed spec (fetch_only)           never submitted: given back if no job exists
    a video the account already bought (adopt.py)      taken instead of bought
    otherwise                                           reserve the budget, submit, record the request id

A submit is never retried blindly: only an error that proves the request never left is resent
(policy.never_sent, applied by the pacer); any other failed submit may have created a job and is
looked up in the history before the next try. Each step returns the Outcome when the generation
ends here, None when the attempt moved on (SUBMITTED or COMPLETED).
"""

from __future__ import annotations

import functools
from typing import Any

from reconciler.engine import adopt, history
from reconciler.engine.events import Outcome, Phase, StopReason
from reconciler.engine.job import Job
from reconciler.engine.policy import never_sent
from reconciler.errors import (
    ApiAuthError,
    ApiBadRequest,
    ApiError,
    ApiInsufficientCredits,
    ApiNotFound,
)
from reconciler.records import Attempt, AttemptState, FailureReason


async def submit_or_adopt(job: Job) -> Outcome | None:
    """Move a CLAIMED attempt on to a job (SUBMITTED or COMPLETED), or end."""
    attempt = job.held
    if attempt.in_doubt:
        # A run died between recording the intent and hearing back: ask the history first.
        since, bodies = _intent(job, attempt)
        adopted = await _adopt(job, since, bodies, "a run died while submitting it")
        if adopted is not False:
            return None if adopted is True else adopted
    if job.work.fetch_only:
        return job.release(Phase.SKIPPED, "no spec wants it any more and no job of it exists; nothing submitted")
    if await _adopt_paid(job):
        return None
    return await _submit(job)


async def _adopt_paid(job: Job) -> bool:
    """A video the account already paid for (engine/adopt.py): take it instead of buying it."""
    ctx, work = job.ctx, job.work
    if ctx.adoptions is None:
        return False
    row = await ctx.adoptions.find(work.model, work.key, known=ctx.store.request_ids(work.key))
    if row is None:
        return False
    await job.write(functools.partial(ctx.store.record_submitted, job.held.id, row.request_id))
    job.attempt = ctx.store.record_state(job.held.id, AttemptState.COMPLETED)
    job.emit(Phase.QUEUED, adopt.describe(row))
    return True


def _intent(job: Job, attempt: Attempt) -> tuple[float, list[dict[str, Any]]]:
    """When the first unsettled submit of this chain was intended, and every body it may have sent."""
    since, bodies = attempt.claimed_at, [attempt.request_body]
    previous = attempt.supersedes
    while previous is not None:
        old = job.ctx.store.attempt(previous)
        if old.request_id is not None or old.state not in (AttemptState.CLAIMED, AttemptState.SUPERSEDED):
            break
        since = min(since, old.claimed_at)
        if old.request_body not in bodies:
            bodies.append(old.request_body)
        previous = old.supersedes
    return since, bodies


async def _adopt(job: Job, since: float, bodies: list[dict[str, Any]], why: str) -> bool | Outcome:
    """Look for the job a lost submit made: True when adopted, False when the history positively has
    none; the Outcome (in doubt) when the history cannot settle it."""
    ctx, work = job.ctx, job.work
    job.maybe_sent = True
    job.emit(Phase.LOOKING_UP, f"{why}; searching the request history")
    try:
        row = await history.find_submit(
            ctx.api, ctx.pacer, model=work.model, bodies=bodies, since=since, known=ctx.store.request_ids(work.key)
        )
    except ApiAuthError:
        raise
    except (ApiError, history.Unsettled) as error:
        if ctx.options.resubmit_in_doubt:
            job.emit(Phase.LOOKING_UP, f"the history could not settle it ({error}); --resubmit-in-doubt")
            job.maybe_sent = False
            return False
        job.give_back(doubt=True)
        return job.end(
            Phase.IN_DOUBT, f"the submit may have reached the API and the request history could not settle it: {error}"
        )
    if row is None:
        job.maybe_sent = False
        return False
    await job.write(functools.partial(ctx.store.record_submitted, job.held.id, row.request_id))
    job.maybe_sent = False
    job.emit(Phase.QUEUED, f"adopted request {row.request_id} from the history (nothing paid again)")
    return True


async def _submit(job: Job) -> Outcome | None:
    ctx, work = job.ctx, job.work
    if ctx.stop.reason is not None:
        return job.release(Phase.SKIPPED, ctx.stop.detail())
    if not ctx.budget.reserve(work.est_cost_usd):
        ctx.stop.stop_submitting(StopReason.BUDGET, ctx.budget.describe())
        return job.release(Phase.SKIPPED, ctx.stop.detail())
    job.est_cost_usd = work.est_cost_usd
    policy = ctx.pacer.retry
    for round_ in range(1, policy.max_attempts + 1):
        attempt = job.held
        job.emit(Phase.SUBMITTING)
        # From now until its id is recorded the job may exist: a run cut off here leaves it in doubt.
        job.maybe_sent = True
        try:
            sent = await ctx.pacer.call(functools.partial(ctx.api.submit, work.model, attempt.request_json), paid=True)
        except (ApiBadRequest, ApiNotFound) as error:
            job.maybe_sent = False  # refused: no job was made
            job.refund()
            job.attempt = ctx.store.record_state(
                attempt.id, AttemptState.FAILED, error=str(error), reason=FailureReason.PERMANENT
            )
            return job.end(Phase.FAILED, str(error))
        except ApiInsufficientCredits as error:
            job.maybe_sent = False
            ctx.stop.stop_submitting(StopReason.CREDITS, str(error))
            return job.release(Phase.SKIPPED, str(error))
        except ApiAuthError:
            job.maybe_sent = False
            job.give_back(doubt=False)
            raise
        except ApiError as error:
            if never_sent(error):
                job.maybe_sent = False
                return job.release(Phase.FAILED, f"the API could not be reached: {error}")
            # The request may have made a job (a 5xx or a lost answer after it arrived): ask.
            adopted = await _adopt(job, attempt.claimed_at, [attempt.request_body], f"the submit failed ({error})")
            if adopted is True:
                job.paid_here = True  # this run's own submit made the job: it is this run's spend
                return None
            if adopted is not False:
                return adopted
            # The history positively has no job of it: nothing was made, so trying again pays once.
            delay = policy.next_delay(round_, error, rng=ctx.pacer.rng)
            if delay is None:
                return job.release(Phase.FAILED, f"the submit kept failing: {error}")
            await ctx.pacer.wait(delay)
            continue
        await job.write(functools.partial(ctx.store.record_submitted, attempt.id, sent.request_id))
        job.maybe_sent = False
        job.paid_here = True
        job.emit(Phase.QUEUED)
        return None
    return job.release(Phase.FAILED, "the submit kept failing")

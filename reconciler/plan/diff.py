"""The diff: desired videos against what the store has observed, as a plan of actions. Pure.

    diff(desired, outputs, attempts) -> Plan(actions per spec, orphans, paid jobs, totals)

Nothing here reads a file, a clock or the network: the observation (outputs and latest attempts
by key) is handed in, so a plan can be computed, printed, tested and saved anywhere. Specs that
share a key are one generation: the first (in spec order) carries the cost, the others say whose
generation they share. A job already paid for whose spec changed or went away while it ran is
not abandoned: the plan lists it (`paid_jobs`) and apply fetches it into the store at no cost.
"""

from __future__ import annotations

import enum
import fnmatch
import heapq
from collections.abc import Collection, Mapping, Sequence, Set
from typing import Any, NamedTuple

from reconciler import catalog
from reconciler.errors import Location, UsageError
from reconciler.records import FAILURES_IN_A_ROW, Attempt, AttemptState, FailureReason, Orphans, maker
from reconciler.spec import SpecEntry


class ActionKind(enum.Enum):
    """What apply will do for one spec."""

    CREATE = "create"  # nothing stored or in flight: apply submits it (this costs money)
    ADOPT = "adopt"  # the account's history holds this very request, completed: apply fetches it for free
    PENDING = "pending"  # a paid job is in flight: apply resumes polling it, never resubmits
    IN_DOUBT = "in-doubt"  # a submit whose outcome is unknown: apply looks it up in the history first
    FAILED = "failed"  # the last attempt failed for good: apply skips it unless --retry-failed
    NOOP = "noop"  # stored: nothing to do


ORDER: tuple[ActionKind, ...] = (
    ActionKind.CREATE,
    ActionKind.ADOPT,
    ActionKind.PENDING,
    ActionKind.IN_DOUBT,
    ActionKind.FAILED,
    ActionKind.NOOP,
)


class Desired(NamedTuple):
    """A spec and its content key in the namespace being reconciled."""

    entry: SpecEntry
    key: str


class Action(NamedTuple):
    """What apply will do for one spec, and why. A NamedTuple (immutable, like every plan value)
    rather than a frozen dataclass: a plan makes one per spec, and a tuple is made five times faster."""

    name: str
    key: str
    model: str
    kind: ActionKind
    reason: str
    where: Location
    est_cost_usd: float  # what apply will spend on it: 0 unless it is the paying spec of a create
    est_seconds: float  # the model's expected latency when it will be generated
    shares_with: str | None = None  # the spec whose generation this one shares (same key)
    request_id: str | None = None
    # The most apply may spend on it: est_cost_usd, or for the paying spec of a submit in doubt the
    # model's cost (it is bought again if the request history shows that submit made no job).
    up_to_cost_usd: float = 0.0


class PaidJob(NamedTuple):
    """A job paid for (or maybe paid for: a submit in doubt) on a key no spec wants any more.

    Its spec was edited or removed while the job ran, and the run that submitted it is gone. Apply
    fetches it into the store (never submitting anything for it), so a paid video is never lost:
    change the spec back and it is there, with nothing paid twice.
    """

    key: str
    model: str
    request_id: str | None  # None: a submit in doubt, settled through the request history
    request_body: Mapping[str, Any]


class Totals(NamedTuple):
    counts: Mapping[ActionKind, int]
    generations: int  # distinct keys to create
    est_cost_usd: float
    est_seconds: float  # wall time of the creates at the given concurrency
    concurrency: int
    in_doubt_cost_usd: float = 0.0  # the most the submits in doubt may cost on top of est_cost_usd

    @property
    def up_to_cost_usd(self) -> float:
        """The most apply may spend: the creates, and every submit in doubt bought again."""
        return round(self.est_cost_usd + self.in_doubt_cost_usd, 6)


class Plan(NamedTuple):
    actions: Sequence[Action]  # a tuple, or a kept plan's actions made when first looked at (plan.encoding)
    orphans: Orphans
    totals: Totals
    namespace: str
    warnings: tuple[str, ...] = ()
    paid_jobs: tuple[PaidJob, ...] = ()

    def has_changes(self) -> bool:
        """Whether apply has anything to create, resume, look up or fetch (Terraform's exit code 2)."""
        counts = self.totals.counts  # counted from the actions by `diff`: they need not be looked at
        return bool(self.paid_jobs) or any(
            counts.get(kind) for kind in (ActionKind.CREATE, ActionKind.ADOPT, ActionKind.PENDING, ActionKind.IN_DOUBT)
        )


def select(desired: Sequence[Desired], *, targets: Sequence[str], excludes: Sequence[str]) -> list[Desired]:
    """Narrow by names, globs and `tag:WORD`; a pattern that matches nothing is a usage error."""
    chosen = list(desired)
    if targets:
        for pattern in targets:
            if not any(_matches(d.entry, pattern) for d in desired):
                raise UsageError(f"--target {pattern!r} matches no spec")
        chosen = [d for d in chosen if any(_matches(d.entry, p) for p in targets)]
    for pattern in excludes:
        if not any(_matches(d.entry, pattern) for d in desired):
            raise UsageError(f"--exclude {pattern!r} matches no spec")
        chosen = [d for d in chosen if not _matches(d.entry, pattern)]
    return chosen


def _matches(entry: SpecEntry, pattern: str) -> bool:
    if pattern.startswith("tag:"):
        return pattern[4:] in entry.tags
    # A pattern names a spec or, like a directory, everything below it (`eagle` matches `eagle/seed-1`).
    return fnmatch.fnmatchcase(entry.name, pattern) or fnmatch.fnmatchcase(entry.name, pattern.rstrip("/") + "/*")


def classify(attempt: Attempt | None, *, retry_failed: bool) -> tuple[ActionKind, str]:
    """The action for a key with no stored output, from its latest attempt."""
    if attempt is None:
        return ActionKind.CREATE, "not stored"
    state = attempt.state
    if state is AttemptState.CLAIMED or state is AttemptState.SUPERSEDED:
        if attempt.in_doubt or not attempt.owner_alive:
            return (
                ActionKind.IN_DOUBT,
                f"a submit by {attempt.owner} may have reached the API; apply looks it up in the request history",
            )
        return ActionKind.PENDING, f"being submitted by {attempt.owner}"
    if state is AttemptState.SUBMITTED:
        return ActionKind.PENDING, f"in flight as request {attempt.request_id}"
    if state is AttemptState.COMPLETED:
        return ActionKind.PENDING, f"request {attempt.request_id} completed; its output is to be downloaded"
    if state is AttemptState.EXPIRED:
        return ActionKind.PENDING, f"request {attempt.request_id}'s result expired; apply recovers it from the history"
    if state is AttemptState.FAILED:
        error = attempt.error or "no error given"
        if attempt.reason is FailureReason.PERMANENT and not retry_failed:
            return ActionKind.FAILED, f"failed: {error} (--retry-failed to buy it again)"
        streak = attempt.failures_in_a_row
        if streak >= FAILURES_IN_A_ROW and not retry_failed:
            return ActionKind.FAILED, f"failed {streak} times in a row, last: {error} (--retry-failed to buy it again)"
        tries = f" (try {streak + 1} of {FAILURES_IN_A_ROW})" if streak and not retry_failed else ""
        return ActionKind.CREATE, f"last attempt failed: {error}{tries}"
    if state is AttemptState.STORED:
        again = f"fetches request {attempt.request_id} again" if attempt.request_id else "makes it again"
        return ActionKind.CREATE, f"its video is gone from the store (deleted, or verify dropped it); apply {again}"
    return ActionKind.CREATE, "not stored (an earlier claim was released before submitting)"


def paid_jobs(open_attempts: Sequence[Attempt], wanted: Set[str], *, namespace: str) -> tuple[PaidJob, ...]:
    """The open attempts of `namespace` on keys outside `wanted` (every spec's key) that no live run is working on.

    Another backend's jobs are that backend's to finish: `--mock` never asks the fake for a real paid job.
    """
    return tuple(
        PaidJob(a.key, a.model, a.request_id, a.request_body)
        for a in open_attempts
        if a.namespace == namespace and a.key not in wanted and (a.in_doubt or not a.owner_alive)
    )


def diff(
    desired: Sequence[Desired],
    *,
    stored: Collection[str],
    attempts: Mapping[str, Attempt],
    orphans: Orphans | None = None,
    paid: Sequence[PaidJob] = (),
    namespace: str,
    concurrency: int = 8,
    retry_failed: bool = False,
    latency: Mapping[str, float] | None = None,
    adoptable: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for `desired`, given which of their keys are stored and the latest attempts of the others.

    `adoptable` (plan --refresh) maps keys to a completed request of the account's history: such a
    create becomes an adopt, at no cost.

    `orphans` (outputs named by no spec, targeted or not) and `paid` (see `paid_jobs`) are passed
    through to the plan; `latency` overrides a model's expected seconds (observed averages).
    """
    latency = latency or {}
    adoptable = adoptable or {}
    actions: list[Action] = []
    kinds: list[ActionKind] = []
    first_of: dict[str, str] = {}
    creates: list[float] = []
    cost = doubt = 0.0
    # As locals: this loop runs once per spec (100,000 times for a large plan), and looking up an
    # Enum member on its class costs as much as the rest of an iteration's lookups.
    create, noop, in_doubt = ActionKind.CREATE, ActionKind.NOOP, ActionKind.IN_DOUBT
    make = maker(Action)
    per_model = {slug: (model, latency.get(slug, model.avg_latency_s)) for slug, model in catalog.BY_SLUG.items()}
    for entry, key in desired:
        model, seconds = per_model[entry.model]
        name = entry.name
        owner = first_of.setdefault(key, name)
        shares = owner if owner != name else None
        if key in stored:  # what was tried before no longer matters
            if shares is None:  # most specs of a big project: stored, nothing to say but that
                kinds.append(noop)
                actions.append(
                    make((name, key, model.slug, noop, "stored", entry.where, 0.0, seconds, None, None, 0.0))
                )
                continue
            kind, reason, attempt = noop, "stored", None
        else:
            attempt = attempts.get(key)
            kind, reason = classify(attempt, retry_failed=retry_failed)
        adopted = adoptable.get(key) if kind is create else None
        if adopted is not None:
            kind, reason = ActionKind.ADOPT, f"the account already paid for it (request {adopted})"
        paying = kind is create and shares is None
        if paying:
            creates.append(seconds)
            cost += model.avg_cost_usd
        doubtful = kind is in_doubt and shares is None
        if doubtful:
            doubt += model.avg_cost_usd
        if shares is not None:
            reason = f"{reason}; shares one generation with {shares}"
        kinds.append(kind)
        # In Action's field order (name, key, model, kind, reason, where, est_cost_usd, est_seconds,
        # shares_with, request_id, up_to_cost_usd): made from one tuple, three times faster than by keywords.
        actions.append(
            make(
                (
                    name, key, model.slug, kind, reason, entry.where,
                    model.avg_cost_usd if paying else 0.0, seconds, shares,
                    adopted or (attempt.request_id if attempt is not None else None),
                    model.avg_cost_usd if paying or doubtful else 0.0,
                )
            )
        )  # fmt: skip
    totals = Totals(
        counts={kind: kinds.count(kind) for kind in ORDER},  # compared by identity: an Enum hashes in Python
        generations=len(creates),
        est_cost_usd=round(cost, 6),
        est_seconds=makespan(creates, concurrency),
        concurrency=concurrency,
        in_doubt_cost_usd=round(doubt, 6),
    )
    return Plan(
        actions=tuple(actions), orphans=orphans or Orphans(), totals=totals, namespace=namespace, paid_jobs=tuple(paid)
    )


def makespan(durations: Sequence[float], slots: int) -> float:
    """Wall time of running jobs on `slots` workers, longest first (a close, simple estimate)."""
    if not durations:
        return 0.0
    workers = [0.0] * max(1, min(slots, len(durations)))
    for duration in sorted(durations, reverse=True):
        heapq.heappush(workers, heapq.heappop(workers) + duration)
    return max(workers)

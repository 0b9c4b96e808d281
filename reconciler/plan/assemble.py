"""One plan for every command: the loaded specs against one view of the store.

    desired = desire(specs.entries, namespace)                       every spec with its key
    plan, observed = assemble(desired, select(desired, ...), view, namespace=...)

`plan`, `apply`, `watch` and the simulation all plan through `assemble`, so what apply or watch
works from is exactly what plan shows: the outputs and latest attempts of the chosen keys, the
paid jobs no spec wants any more (fetched, never submitted again), the orphans, and each model's
expected latency on this backend (`latency.estimate`, the rule the engine polls by). It reads the
store and nothing else: no network, no clock, nothing of the store's state written (the store may
keep what it saw of its blob directories in its cache, `store.presence`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from reconciler import keys
from reconciler.plan import latency
from reconciler.plan.diff import Desired, Plan, diff, paid_jobs
from reconciler.records import Attempt, Observation
from reconciler.spec import SpecEntry


class StoreView(Protocol):
    """What planning reads of a store (local or shared): the store implements it, plan never imports it."""

    def observe(
        self,
        keys: Collection[str],
        *,
        roots: Mapping[str, Collection[str]] | None = None,
        orphan_limit: int | None = 10,
    ) -> Observation: ...

    def open_attempts(self) -> list[Attempt]: ...

    def latency_samples(self, model: str, namespace: str, *, limit: int) -> list[float]: ...


def desire(entries: Sequence[SpecEntry], namespace: str) -> list[Desired]:
    """Every spec with its content key in `namespace`."""
    # The key kept with the entry (the parse cache keeps both namespaces'), else computed.
    return [Desired(entry, entry.keys.get(namespace) or keys.entry_key(namespace, entry)) for entry in entries]


def other_namespace(namespace: str) -> str:
    return keys.MOCK if namespace == keys.SEGMIND else keys.SEGMIND


def assemble(
    desired: Sequence[Desired],
    chosen: Sequence[Desired],
    view: StoreView,
    *,
    namespace: str,
    concurrency: int = 8,
    retry_failed: bool = False,
    latency_scale: float | None = None,
    orphans: bool = True,
    orphan_limit: int | None = 10,
    adoptable: Mapping[str, str] | None = None,
) -> tuple[Plan, Observation]:
    """The plan for `chosen` (the targeted part of `desired`, every spec) against what `view` holds.

    Paid jobs are this backend's open attempts on keys no spec of `desired` wants; orphans (with `orphans`)
    are outputs no spec names in either namespace, the first `orphan_limit` listed (None: all).
    `latency_scale` is how fast jobs are said to run against the catalog (None: not said).
    `adoptable` (key -> request id) names the creates the account's history already holds.
    With the plan, the observation it was made from (`runtime.lastplan` looks for its stored blobs again).
    """
    wanted = {d.key for d in desired}
    # The same roots gc keeps: every spec's key in both namespaces.
    other = other_namespace(namespace)
    roots = (
        {namespace: wanted, other: {e.keys.get(other) or keys.entry_key(other, e) for e, _ in desired}}
        if orphans
        else None
    )
    observed = view.observe({d.key for d in chosen}, roots=roots, orphan_limit=orphan_limit)
    expected = {
        model: latency.estimate(
            model, view.latency_samples(model, namespace, limit=latency.WINDOW), scale=latency_scale
        ).expected_s
        for model in sorted({d.entry.model for d in chosen})
    }
    plan = diff(
        chosen,
        stored=observed.stored,
        attempts=observed.attempts,
        orphans=observed.orphans,
        paid=paid_jobs(view.open_attempts(), wanted, namespace=namespace),
        namespace=namespace,
        concurrency=concurrency,
        retry_failed=retry_failed,
        latency=expected,
        adoptable=dict(adoptable) if adoptable is not None else None,
    )
    return plan, observed

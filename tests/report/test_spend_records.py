"""spend.jobs as a pure function over store records: each request once, refunds at $0, estimates marked."""

from __future__ import annotations

from reconciler import catalog, keys
from reconciler.records import Attempt, AttemptState, FailureReason, Output, Owner
from reconciler.ui.spend import jobs, spend

OWNER = Owner("host", "boot", 1234, 99)
DAY = 1_767_225_600.0  # 2026-01-01 00:00 UTC
AVG = catalog.BY_SLUG["wan2.7-t2v"].avg_cost_usd


def output(key: str, request_id: str | None, cost: float | None, *, namespace: str = keys.SEGMIND) -> Output:
    return Output(key, "sha256:" + "ab" * 32, 1000, "wan2.7-t2v", request_id, cost, namespace, key, DAY)


def attempt(n: int, key: str, state: AttemptState, request_id: str | None, **changes: object) -> Attempt:
    values: dict[str, object] = {
        "id": n, "key": key, "namespace": keys.SEGMIND, "model": "wan2.7-t2v", "state": state,
        "request_json": "{}", "request_id": request_id, "owner": OWNER, "claimed_at": DAY, "submitted_at": DAY,
        "completed_at": None, "updated_at": DAY, "error": None, "reason": None, "supersedes": None,
        "in_doubt": False, "owner_alive": False,
    }  # fmt: skip
    values.update(changes)
    return Attempt(**values)  # type: ignore[arg-type]


def test_a_request_seen_in_several_attempts_and_its_output_is_billed_once_at_the_reported_cost() -> None:
    billed = jobs(
        [output("k1", "r1", 0.6)],
        [
            attempt(1, "k1", AttemptState.SUPERSEDED, "r1"),
            attempt(2, "k1", AttemptState.STORED, "r1", supersedes=1),
        ],
        namespace=keys.SEGMIND,
        names={"k1": "eagle"},
    )
    assert [(j.request_id, j.name, j.cost_usd, j.estimated) for j in billed] == [("r1", "eagle", 0.6, False)]


def test_failures_cost_nothing_paid_jobs_without_a_cost_are_estimates_and_doubt_is_not_counted() -> None:
    billed = jobs(
        [output("k2", "r2", None)],
        [
            attempt(1, "k1", AttemptState.FAILED, "r1", reason=FailureReason.PERMANENT, error="blocked"),
            attempt(2, "k3", AttemptState.SUBMITTED, "r3"),  # in flight: paid, its cost not known yet
            attempt(3, "k4", AttemptState.EXPIRED, "r4"),  # made, then lost by the API: paid all the same
            attempt(4, "k5", AttemptState.CLAIMED, None, in_doubt=True),  # no request id: nothing says it was paid
            attempt(5, "k6", AttemptState.RELEASED, None),  # never sent
        ],
        namespace=keys.SEGMIND,
        names={},
    )
    by_id = {j.request_id: j for j in billed}
    assert set(by_id) == {"r1", "r2", "r3", "r4"}
    assert (by_id["r1"].cost_usd, by_id["r1"].failed) == (0.0, True)
    assert all(by_id[r].cost_usd == AVG and by_id[r].estimated for r in ("r2", "r3", "r4"))
    report = spend(billed, namespace=keys.SEGMIND)
    assert report.total_usd == round(3 * AVG, 6)
    assert (report.jobs, report.failed, report.estimated) == (4, 1, 3)


def test_the_other_backends_records_are_not_counted() -> None:
    billed = jobs([output("k1", "r1", 0.6, namespace=keys.MOCK)], [], namespace=keys.SEGMIND, names={})
    assert billed == []

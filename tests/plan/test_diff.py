"""plan.diff as a pure function: every action kind, shared keys, renames, targets and totals."""

from __future__ import annotations

import pytest

from reconciler import catalog, keys
from reconciler.errors import Location, UsageError
from reconciler.plan.diff import ActionKind, Desired, diff, makespan, select
from reconciler.records import Attempt, AttemptState, FailureReason, Orphans, Output, Owner
from reconciler.spec import SpecEntry

OWNER = Owner("host", "boot", 1234, 99)


def entry(name: str, prompt: str = "an eagle", model: str = "wan2.7-t2v", tags: tuple[str, ...] = ()) -> Desired:
    slug = catalog.BY_SLUG[model]
    params, problems = catalog.check(slug, {"prompt": prompt}, fill_defaults=True)
    assert problems == []
    spec = SpecEntry(
        name=name,
        model=model,
        params=params,
        params_json=catalog.canonical_json(catalog.identity_params(slug, params)),
        tags=tags,
        where=Location("specs/a.yaml", 3, 3),
    )
    return Desired(spec, keys.entry_key(keys.SEGMIND, spec))


def attempt(key: str, state: AttemptState, **changes: object) -> Attempt:
    values: dict[str, object] = {
        "id": 1,
        "key": key,
        "namespace": keys.SEGMIND,
        "model": "wan2.7-t2v",
        "state": state,
        "request_json": "{}",
        "request_id": "req-1" if state is not AttemptState.CLAIMED else None,
        "owner": OWNER,
        "claimed_at": 1.0,
        "submitted_at": None,
        "completed_at": None,
        "updated_at": 1.0,
        "error": None,
        "reason": None,
        "supersedes": None,
        "in_doubt": False,
        "owner_alive": True,
    }
    values.update(changes)
    return Attempt(**values)  # type: ignore[arg-type]


def plan_of(
    desired: list[Desired],
    stored: set[str] | None = None,
    attempts: dict[str, Attempt] | None = None,
    **options: object,
):  # type: ignore[no-untyped-def]
    return diff(desired, stored=stored or set(), attempts=attempts or {}, namespace=keys.SEGMIND, **options)  # type: ignore[arg-type]


def kinds(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.kind.value for a in plan.actions]


def test_a_spec_with_nothing_stored_is_created_at_its_models_cost() -> None:
    plan = plan_of([entry("eagle")])
    (action,) = plan.actions
    assert (action.kind, action.est_cost_usd, action.reason) == (ActionKind.CREATE, 0.625, "not stored")
    assert plan.totals.est_cost_usd == 0.625


def test_a_stored_spec_is_a_noop() -> None:
    eagle = entry("eagle")
    assert kinds(plan_of([eagle], stored={eagle.key})) == ["noop"]


def test_a_renamed_spec_is_still_a_noop() -> None:
    old, new = entry("eagle"), entry("renamed/eagle")
    assert old.key == new.key
    assert kinds(plan_of([new], stored={old.key})) == ["noop"]


def test_specs_sharing_a_key_are_one_generation_paid_once() -> None:
    plan = plan_of([entry("a"), entry("b"), entry("c", prompt="other")])
    assert kinds(plan) == ["create", "create", "create"]
    assert [a.shares_with for a in plan.actions] == [None, "a", None]
    assert plan.totals.generations == 2
    assert plan.totals.est_cost_usd == pytest.approx(1.25)


@pytest.mark.parametrize(
    ("state", "changes", "expected"),
    [
        (AttemptState.SUBMITTED, {}, "pending"),
        (AttemptState.COMPLETED, {}, "pending"),
        (AttemptState.EXPIRED, {}, "pending"),
        (AttemptState.CLAIMED, {}, "pending"),
        (AttemptState.CLAIMED, {"owner_alive": False}, "in-doubt"),
        (AttemptState.CLAIMED, {"in_doubt": True}, "in-doubt"),
        (AttemptState.FAILED, {"reason": FailureReason.PERMANENT, "error": "blocked by policy"}, "failed"),
        (AttemptState.FAILED, {"reason": FailureReason.TEMPORARY, "error": "server error"}, "create"),
        (AttemptState.RELEASED, {}, "create"),
        (AttemptState.STORED, {}, "create"),
    ],
)
def test_the_latest_attempt_decides_the_action_of_an_unstored_key(
    state: AttemptState, changes: dict[str, object], expected: str
) -> None:
    eagle = entry("eagle")
    plan = plan_of([eagle], attempts={eagle.key: attempt(eagle.key, state, **changes)})
    assert kinds(plan) == [expected]
    assert plan.totals.est_cost_usd == (0.625 if expected == "create" else 0.0)


def test_a_permanent_failure_is_bought_again_only_when_asked() -> None:
    eagle = entry("eagle")
    failed = {eagle.key: attempt(eagle.key, AttemptState.FAILED, reason=FailureReason.PERMANENT, error="blocked")}
    assert kinds(plan_of([eagle], attempts=failed)) == ["failed"]
    assert kinds(plan_of([eagle], attempts=failed, retry_failed=True)) == ["create"]


def test_orphans_are_carried_into_the_plan_and_its_summary() -> None:
    from reconciler.ui.plans import summary

    stray = Output(
        "sha256:" + "cd" * 32, "sha256:" + "ab" * 32, 10, "wan2.7-t2v", "req-9", 0.6, keys.SEGMIND, None, 1.0
    )
    plan = plan_of([entry("eagle")], orphans=Orphans(count=3, size=30, listed=(stray,)))
    assert plan.orphans.listed == (stray,)
    assert summary(plan).endswith("; 3 orphaned outputs (reconciler gc)")


def test_targets_select_by_name_glob_prefix_and_tag() -> None:
    desired = [entry("eagle/seed-1"), entry("eagle/seed-2", prompt="b"), entry("tide", prompt="c", tags=("coast",))]
    names = lambda chosen: [d.entry.name for d in chosen]  # noqa: E731
    assert names(select(desired, targets=["eagle"], excludes=[])) == ["eagle/seed-1", "eagle/seed-2"]
    assert names(select(desired, targets=["*/seed-2"], excludes=[])) == ["eagle/seed-2"]
    assert names(select(desired, targets=["tag:coast"], excludes=[])) == ["tide"]
    assert names(select(desired, targets=[], excludes=["eagle/seed-1"])) == ["eagle/seed-2", "tide"]


@pytest.mark.parametrize("option", ["targets", "excludes"])
def test_a_pattern_that_matches_nothing_is_an_error_not_an_empty_plan(option: str) -> None:
    chosen = {"targets": [], "excludes": []} | {option: ["nope"]}
    with pytest.raises(UsageError, match="'nope' matches no spec"):
        select([entry("eagle")], **chosen)


def test_the_time_estimate_schedules_creates_over_the_concurrency() -> None:
    assert makespan([100, 100, 100], 8) == 100
    assert makespan([100, 100, 100], 1) == 300
    assert makespan([300, 100, 100, 100], 2) == 300
    assert makespan([], 8) == 0


def test_has_changes_is_false_only_when_everything_is_stored_or_failed() -> None:
    eagle = entry("eagle")
    assert plan_of([eagle]).has_changes()
    assert not plan_of([eagle], stored={eagle.key}).has_changes()


def test_a_temporary_failure_is_made_again_until_it_failed_three_times_in_a_row() -> None:
    eagle = entry("eagle")

    def failed(times: int) -> dict[str, Attempt]:
        return {
            eagle.key: attempt(
                eagle.key, AttemptState.FAILED, reason=FailureReason.TEMPORARY, error="boom", failures_in_a_row=times
            )
        }

    assert kinds(plan_of([eagle], attempts=failed(1))) == ["create"]
    assert "try 3 of 3" in plan_of([eagle], attempts=failed(2)).actions[0].reason
    third = plan_of([eagle], attempts=failed(3))
    assert kinds(third) == ["failed"]
    assert "3 times in a row" in third.actions[0].reason
    assert "boom" in third.actions[0].reason
    assert kinds(plan_of([eagle], attempts=failed(3), retry_failed=True)) == ["create"]


def test_a_submit_in_doubt_counts_up_to_its_cost_and_nothing_for_sure() -> None:
    eagle, twin = entry("eagle"), entry("twin")
    doubt = {eagle.key: attempt(eagle.key, AttemptState.CLAIMED, in_doubt=True, owner_alive=False)}
    plan = plan_of([eagle, twin], attempts=doubt)
    cost = catalog.BY_SLUG["wan2.7-t2v"].avg_cost_usd
    assert kinds(plan) == ["in-doubt", "in-doubt"]
    assert [a.est_cost_usd for a in plan.actions] == [0.0, 0.0]
    assert [a.up_to_cost_usd for a in plan.actions] == [cost, 0.0]  # the twin shares its generation
    assert plan.totals.est_cost_usd == 0.0
    assert plan.totals.in_doubt_cost_usd == cost
    assert plan.totals.up_to_cost_usd == cost

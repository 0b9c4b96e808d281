"""`reconciler spend` against the fake's own billing: its jobs' costs and the credits it took."""

from __future__ import annotations

import datetime as dt
import json

from tests.e2e.conftest import KEY, spec, specs_file

START_CREDITS = 1000.0  # the e2e fake's balance of KEY


def billed(fake) -> float:
    """What the fake charged: the cost of every job that did not fail (failed jobs are refunded)."""
    return round(sum(j["cost_usd"] for j in fake.jobs() if j["state"] != "FAILED"), 6)


def test_spend_totals_match_the_fakes_billing_after_failures_and_refunds(fake, apply, cli, write) -> None:
    write(
        "specs/a.yaml",
        specs_file(
            *(spec(f"cat-{n}", f"a cat number {n}") for n in range(6)),
            spec("dog", "a dog", model="wan2.1-t2v"),
            spec("blocked", "an nsfw scene", model="wan2.7-t2v"),
        ),
    )
    fake.configure(failure_rate=0.5)
    apply("--yes")
    fake.configure(failure_rate=0.0)
    apply("--yes")  # buys again what failed for a temporary reason; the blocked one stays failed
    jobs = fake.jobs()
    failed = [j for j in jobs if j["state"] == "FAILED"]
    assert len(failed) >= 2
    assert any("content policy" in j["error"] for j in failed)

    run = cli("spend", "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["total_usd"] == billed(fake)
    credits = fake.http.get("/_mock/credits").json()["balances"][KEY]
    assert report["total_usd"] == round(START_CREDITS - credits, 6)
    assert report["jobs"] == len(jobs)
    assert report["failed"] == len(failed)
    assert report["estimated"] == 0  # the fake reports every cost
    by_model = {line["label"]: line["cost_usd"] for line in report["by_model"]}
    for model in {j["model"] for j in jobs}:
        paid = round(sum(j["cost_usd"] for j in jobs if j["model"] == model and j["state"] != "FAILED"), 6)
        assert by_model[model] == paid
    assert by_model["wan2.7-t2v"] == 0.0  # only its blocked job: refunded
    assert {line["label"] for line in report["by_spec"]} <= {f"cat-{n}" for n in range(6)} | {"dog", "blocked"}


def test_spend_counts_only_the_days_asked_for(fake, apply, cli, write) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    assert apply("--yes").code == 0
    today = dt.datetime.now(dt.UTC).date()
    inside = json.loads(cli("spend", "--json", "--since", today.isoformat()).out)
    assert inside["total_usd"] == billed(fake) > 0
    assert inside["by_day"] == [{"label": today.isoformat(), "jobs": 1, "cost_usd": billed(fake), "estimated": 0}]
    later = (today + dt.timedelta(days=1)).isoformat()
    assert json.loads(cli("spend", "--json", "--since", later).out)["total_usd"] == 0
    text = cli("spend").out
    assert f"spent ${billed(fake):,.2f} on 1 job" in text


def test_spend_with_a_backwards_date_range_is_one_clear_error(cli, project) -> None:
    run = cli("spend", "--since", "2026-02-01", "--until", "2026-01-01")
    assert run.code == 1
    assert "--since 2026-02-01 is after --until 2026-01-01" in run.err
    assert "Traceback" not in run.err


def test_spend_of_an_empty_store_is_zero(cli, project) -> None:
    run = cli("spend", "--json")
    assert run.code == 0
    assert json.loads(run.out)["total_usd"] == 0

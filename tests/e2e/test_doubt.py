"""A submit in doubt is settled by the request history or left in doubt, never by paying again.

The real CLI against a real fake over HTTP; the verdict comes from the fake's own jobs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.app import create_app
from mockserver.clock import VirtualClock
from mockserver.config import ClockMode, MockConfig
from mockserver.serving import in_thread
from reconciler.store import Store, current_owner
from tests.e2e.conftest import KEY, TIME_SCALE, Fake, spec, specs_file


@pytest.fixture(params=[300.0, 3 * 3600.0], ids=["5 min", "3 h"])
def late_fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    """A fake whose clock runs behind ours (and says so in its Date header)."""
    clock = VirtualClock(time.time() - request.param, mode=ClockMode.REAL)
    with in_thread(create_app(MockConfig(time_scale=TIME_SCALE, keys={KEY: 1000.0}), clock)) as url:
        served = Fake(url)
        for name, value in served.env().items():
            monkeypatch.setenv(name, value)
        try:
            yield served
        finally:
            served.http.close()


def test_a_lost_submit_to_an_api_whose_clock_is_behind_is_adopted_not_bought_again(
    late_fake: Fake, cli: Callable[..., Any], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    late_fake.configure(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    run = cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    assert "adopted" in run.out
    assert len(late_fake.jobs()) == 1  # the lost submit's job, recognised across the skew


class _Then:
    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at


def _claim_in_doubt(project: Path, cli: Callable[..., Any], name: str, *, days_ago: float) -> None:
    """A claim on `name`'s key left by a dead apply `days_ago`, its submit's fate unknown."""
    document = json.loads(cli("plan", "--json").out)
    (action,) = [a for a in document["specs"] if a["name"] == name]
    dead = dataclasses.replace(current_owner(), pid=4_000_000, started=1)  # beyond pid_max: never alive
    body = {"prompt": "a cat", "seed": 1}
    with Store.open(project / ".reconciler", clock=_Then(time.time() - days_ago * 86_400)) as store:
        store.claim(
            action["key"], namespace=document["namespace"], model=action["model"], request_body=body, owner=dead
        )


def test_a_submit_in_doubt_older_than_the_history_reaches_stays_in_doubt(
    fake: Fake, apply: Callable[..., Any], cli: Callable[..., Any], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    _claim_in_doubt(project, cli, "cat", days_ago=31)
    run = apply("--yes")
    assert run.code == 4, run.out + run.err
    assert "30 days" in run.out
    assert fake.jobs() == []  # not bought again on the strength of a search that could not reach back
    assert "in-doubt" in json.loads(cli("plan", "--json").out)["specs"][0]["action"]


def test_a_submit_in_doubt_from_yesterday_with_no_job_in_the_history_is_submitted(
    fake: Fake, apply: Callable[..., Any], cli: Callable[..., Any], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    _claim_in_doubt(project, cli, "cat", days_ago=1)
    run = apply("--yes")
    assert run.code == 0, run.out + run.err
    assert len(fake.jobs()) == 1


@pytest.mark.parametrize("cap", ["nan", "NaN", "inf", "-inf", "-1"])
def test_a_spending_cap_that_is_not_a_finite_number_is_a_usage_error_and_buys_nothing(
    fake: Fake, apply: Callable[..., Any], cli: Callable[..., Any], write: Callable[..., Path], cap: str
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply("--yes", f"--max-cost={cap}")
    assert run.code == 1
    assert "finite number of dollars" in run.err + run.out
    assert "Traceback" not in run.err
    assert fake.jobs() == []
    watch = cli("watch", f"--max-cost={cap}")  # refused while parsing: watch never starts
    assert watch.code == 1
    assert "finite number of dollars" in watch.err + watch.out


def test_plan_shows_a_submit_in_doubt_at_up_to_its_cost_in_every_format(
    fake: Fake, cli: Callable[..., Any], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    _claim_in_doubt(project, cli, "cat", days_ago=0)
    document = json.loads(cli("plan", "--json").out)
    by_name = {a["name"]: a for a in document["specs"]}
    assert by_name["cat"]["action"] == "in-doubt"
    assert by_name["cat"]["est_cost_usd"] == 0.0  # what is sure to be spent: unchanged in meaning
    assert by_name["cat"]["up_to_cost_usd"] == pytest.approx(0.099)
    assert by_name["dog"]["up_to_cost_usd"] == pytest.approx(0.099)
    assert document["totals"]["est_cost_usd"] == pytest.approx(0.099)
    assert document["totals"]["in_doubt_cost_usd"] == pytest.approx(0.099)
    assert document["totals"]["up_to_cost_usd"] == pytest.approx(0.198)
    text = cli("plan").out
    assert "up to $0.099" in text
    assert "1 in doubt (up to $0.10 more; up to $0.20 in all)" in text
    markdown = cli("plan", "--format", "markdown").out
    assert "| `cat` | wan-2.2-t2v-fast | up to $0.099 |" in markdown
    assert "up to **$0.20**" in markdown

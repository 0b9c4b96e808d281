"""apply under API faults: the real CLI against a real fake over HTTP, judged by the fake's journal.

Every fault comes from the fake's seeded schedule, so a run meets the same faults each time; the
engine's jitter moves when requests go, never what a run ends with.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import av
import pytest

from mockserver.media import read_tags
from tests.e2e.conftest import spec, specs_file

THREE = specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl"))


def attempt_states(project: Path) -> list[str]:
    with sqlite3.connect(project / ".reconciler" / "state.sqlite") as db:
        return [state for (state,) in db.execute("SELECT state FROM attempts")]


def jobs_per_body(fake: Any) -> Counter[str]:
    """How many jobs the fake made for each distinct request body (paid submits only)."""
    return Counter(json.dumps(entry["body"], sort_keys=True) for entry in fake.submits())


def stored_names(project: Path) -> set[str]:
    return {path.stem for path in (project / "out").glob("*.mp4")}


def history_unreachable(fake: Any, monkeypatch: Any) -> None:
    """Point apply at a history the fake does not serve: every lookup is refused (404) at once.

    Not a 5xx storm on the history route: the engine retries a 5xx lookup 8 times with backoff
    from 1 s to 60 s, so a history that always fails takes two minutes to give up on.
    """
    monkeypatch.setenv("SEGMIND_HISTORY_URL", fake.url + "/no-history-here")


def test_a_wrong_key_stops_the_run_with_the_servers_401_and_leaves_no_claim(fake, apply, write, project, monkeypatch):
    write("specs/a.yaml", THREE)
    monkeypatch.setenv("SEGMIND_API_KEY", "wrong")
    run = apply("--yes")
    assert run.code == 1
    assert "HTTP 401" in run.out
    assert "Invalid API key: it is not known to this server." in run.out
    assert "Traceback" not in run.out + run.err
    assert fake.submits() == []
    assert "claimed" not in attempt_states(project)

    monkeypatch.setenv("SEGMIND_API_KEY", "mock-key")
    assert apply("--yes").code == 0
    assert sorted(jobs_per_body(fake).values()) == [1, 1, 1]


def test_running_out_of_credits_stops_submitting_and_the_rest_is_made_after_a_top_up(
    fake, apply, write, project, monkeypatch
):
    write("specs/a.yaml", THREE)
    fake.configure(keys={"poor-key": 0.15})  # one $0.099 job, not two
    monkeypatch.setenv("SEGMIND_API_KEY", "poor-key")
    run = apply("--yes")
    assert run.code == 3, run.out
    assert "out of credits" in run.out
    assert "HTTP 406" in run.out
    assert len(fake.submits()) == 1
    assert len(stored_names(project)) == 1

    monkeypatch.setenv("SEGMIND_API_KEY", "mock-key")
    assert apply("--yes").code == 0
    assert sorted(jobs_per_body(fake).values()) == [1, 1, 1]
    assert stored_names(project) == {"cat", "dog", "owl"}


def test_an_account_that_cannot_pay_for_one_job_submits_nothing(fake, apply, write, monkeypatch):
    write("specs/a.yaml", THREE)
    monkeypatch.setenv("SEGMIND_API_KEY", "poor-key")  # $0.05, a job costs $0.099
    run = apply("--yes")
    assert run.code == 3
    assert "out of credits" in run.out
    assert fake.submits() == []

    monkeypatch.setenv("SEGMIND_API_KEY", "mock-key")
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 3


def test_max_cost_submits_what_fits_names_the_rest_as_skipped_and_a_later_apply_makes_it(fake, apply, write, project):
    write("specs/a.yaml", THREE)
    run = apply("--yes", "--max-cost", "0.2")
    assert run.code == 3
    assert len(fake.submits()) == 2
    made = stored_names(project)
    assert len(made) == 2
    (left,) = {"cat", "dog", "owl"} - made
    assert any(line.startswith("skipped") and left in line for line in run.out.splitlines()), run.out
    assert "--max-cost" in run.out

    assert apply("--yes").code == 0
    assert len(fake.submits()) == 3
    assert stored_names(project) == {"cat", "dog", "owl"}


def test_a_storm_of_429s_on_submits_and_polls_ends_with_everything_stored_once(fake, apply, write, project):
    write("specs/a.yaml", THREE)
    storm = {"probabilities": {"429": 0.5}, "retry_after_s": 0}
    fake.configure(faults=[{"route": "submit", **storm}, {"route": "status", **storm}])
    run = apply("--yes")
    assert run.code == 0, run.out
    assert stored_names(project) == {"cat", "dog", "owl"}
    assert len(fake.jobs()) == 3
    assert sorted(jobs_per_body(fake).values()) == [1, 1, 1]
    assert any(e["status"] == 429 for e in fake.journal())


def test_5xx_on_polls_results_and_downloads_are_retried_until_everything_is_stored(fake, apply, write, project):
    write("specs/a.yaml", THREE)
    errors = {"500": 0.2, "502": 0.1, "504": 0.1}
    fake.configure(faults=[{"route": route, "probabilities": errors} for route in ("status", "result", "files")])
    run = apply("--yes")
    assert run.code == 0, run.out
    assert stored_names(project) == {"cat", "dog", "owl"}
    assert len(fake.submits()) == 3
    assert any(e["status"] >= 500 for e in fake.journal())


def test_5xx_on_submits_before_or_after_the_job_exists_never_make_two_jobs_for_one_spec(fake, apply, write, project):
    write("specs/a.yaml", THREE)
    fake.configure(faults=[{"route": "submit", "probabilities": {"500": 0.3, "502": 0.2}, "phase": "either"}])
    run = apply("--yes")
    assert run.code == 0, run.out
    assert stored_names(project) == {"cat", "dog", "owl"}
    assert sorted(jobs_per_body(fake).values()) == [1, 1, 1]
    assert len(fake.jobs()) == 3
    faults = [e["fault"] for e in fake.journal() if e["fault"]]
    assert {"after"} <= {f["phase"] for f in faults}  # some struck after the job was made


def test_a_lost_submit_answer_is_settled_by_adopting_the_job_from_the_history(fake, apply, write, project):
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    fake.configure(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    run = apply("--yes")
    assert run.code == 0, run.out
    assert "adopted" in run.out
    (job,) = fake.jobs()
    assert read_tags(project / "out" / "cat.mp4")["request_id"] == job["id"]


def test_a_job_this_run_paid_for_counts_in_its_spend_even_when_its_submit_answer_was_lost(fake, apply, write):
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    fake.configure(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    run = apply("--yes", "--json")
    summary = json.loads(run.out.splitlines()[-1])
    assert summary["exit_code"] == 0
    assert len(fake.submits()) == 2  # the account paid for two jobs in this run
    assert summary["submitted"] == 2
    assert summary["est_cost_usd"] == pytest.approx(0.198)


def test_a_lost_submit_with_the_history_unreachable_is_in_doubt_until_the_history_answers(
    fake, apply, write, project, monkeypatch, cli
):
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    fake.configure(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    history_unreachable(fake, monkeypatch)
    run = apply("--yes")
    assert run.code == 4, run.out
    assert "in doubt" in run.out
    assert "HTTP 404" in run.out  # the history's own answer, named
    assert len(fake.jobs()) == 1
    assert "in doubt" in cli("plan").out

    fake.configure(faults=[])
    monkeypatch.setenv("SEGMIND_HISTORY_URL", fake.url)
    again = apply("--yes")
    assert again.code == 0, again.out
    assert "adopted" in again.out
    (job,) = fake.jobs()
    assert read_tags(project / "out" / "cat.mp4")["request_id"] == job["id"]


def test_resubmit_in_doubt_pays_again_when_the_history_cannot_be_searched(fake, apply, write, project, monkeypatch):
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    fake.configure(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    history_unreachable(fake, monkeypatch)
    run = apply("--yes", "--resubmit-in-doubt")
    assert run.code == 0, run.out
    assert len(fake.jobs()) == 2
    assert "--resubmit-in-doubt" in run.out
    assert stored_names(project) == {"cat"}


def test_results_that_expire_at_once_are_recovered_through_the_history(fake, apply, write, project):
    write("specs/a.yaml", THREE)
    fake.configure(retention_s=0)
    run = apply("--yes")
    assert run.code == 0, run.out
    assert stored_names(project) == {"cat", "dog", "owl"}
    assert len(fake.jobs()) == 3
    assert any(e["path"].startswith("/inference-request/request-history/") for e in fake.journal())


def test_truncated_downloads_are_fetched_again_and_stored_whole(fake, apply, write, project, cli):
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    fake.configure(faults=[{"route": "files", "script": ["truncate", "truncate"]}])
    run = apply("--yes")
    assert run.code == 0, run.out
    with av.open(str(project / "out" / "cat.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0
    assert [e["fault"]["kind"] for e in fake.journal() if e["fault"]] == ["truncate", "truncate"]
    (job,) = fake.jobs()
    assert (project / "out" / "cat.mp4").read_bytes() == fake.http.get(f"/files/{job['id']}.mp4").content
    verify = cli("verify")
    assert verify.code == 0, verify.out
    assert verify.out.startswith("clean")


def test_a_failed_job_is_reported_with_the_servers_error_and_planned_again(fake, apply, write, cli):
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    fake.configure(failure_rate=1.0)
    run = apply("--yes")
    assert run.code == 1
    (job,) = fake.jobs()
    assert f"failed   cat: {job['error']}" in run.out  # the summary line, in the server's words

    fake.configure(failure_rate=0.0)
    plan = cli("plan")
    assert "create (1)" in plan.out, plan.out
    assert f"last attempt failed: {job['error']}" in plan.out
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 2

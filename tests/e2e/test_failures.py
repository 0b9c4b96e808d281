"""What a FAILED job means for the next apply: a content block is failed for good, anything else is
made again (at most three times in a row). The real CLI against the fake over HTTP; the verdict
comes from the fake's journal and jobs."""

from __future__ import annotations

import json

import pytest

from reconciler.api.failures import failure_reason
from reconciler.records import FailureReason
from tests.e2e.conftest import spec, specs_file

NOT_BLOCKS = (
    "an exception was raised",
    "worker crashed while training",
    "constraint violated",
    "Content-Length mismatch",
    "Inference failed: the worker crashed while generating the video (simulated failure).",
    "CUDA out of memory",
    "",
)
BLOCKS = (
    "Input data may contain inappropriate content.",
    "Request blocked by the content policy",
    "DataInspectionFailed: the prompt may contain sensitive content",
    "NSFW content detected",
    "The request was flagged by our safety system",
    "Rejected by content moderation",
    "RAI blocked the prompt",
)


@pytest.mark.parametrize("error", NOT_BLOCKS)
def test_a_failure_that_does_not_say_it_is_a_refusal_is_temporary(error: str) -> None:
    assert failure_reason(error) is FailureReason.TEMPORARY


@pytest.mark.parametrize("error", BLOCKS)
def test_a_moderation_refusal_in_its_own_words_is_permanent(error: str) -> None:
    assert failure_reason(error) is FailureReason.PERMANENT


def _plan_kind(cli, name: str) -> str:
    run = cli("plan", "--json")
    actions = {a["name"]: a for a in json.loads(run.out)["specs"]}
    return str(actions[name]["action"])


@pytest.mark.parametrize("error", ["an exception was raised", "worker crashed while training", "constraint violated"])
def test_apply_makes_a_video_whose_job_crashed_again_at_most_three_times_in_a_row(
    fake, apply, cli, write, error: str
) -> None:
    fake.configure(failure_rate=1.0, failure_error=error)
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    for tries in (1, 2, 3):
        run = apply("--yes")
        assert run.code == 1, run.err + run.out
        assert error in run.out
        assert len(fake.submits()) == tries
        assert _plan_kind(cli, "cat") == ("create" if tries < 3 else "failed")
    assert apply("--yes").code == 1
    assert len(fake.submits()) == 3  # shown as failed for good: not bought a fourth time unasked
    plan = cli("plan")
    assert "3 times in a row" in plan.out
    assert error in plan.out
    fake.configure(failure_rate=0.0)
    assert apply("--yes", "--retry-failed").code == 0
    assert len(fake.submits()) == 4
    assert [job["outcome"] for job in fake.jobs()] == ["FAILED", "FAILED", "FAILED", "COMPLETED"]


def test_a_blocked_prompt_is_bought_once_whatever_the_fake_calls_its_other_failures(fake, apply, write) -> None:
    fake.configure(failure_rate=0.0, failure_error="Request blocked by the content policy")
    write("specs/a.yaml", specs_file(spec("bad", "an nsfw scene")))
    assert apply("--yes").code == 1
    assert apply("--yes").code == 1
    jobs = fake.jobs()
    assert len(jobs) == 1
    assert jobs[0]["blocked_term"] == "nsfw"

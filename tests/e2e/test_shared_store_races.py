"""Races between machines on one bucket that a plan cannot see coming, settled at the claim.

Machine A is played by the test through the S3 server itself (its claim object, its failure
record); machine B is a real `reconciler apply` process with its own checkout and local cache.
What was bought is read from the fake's jobs, what stays in the bucket from the server's listing.
"""

from __future__ import annotations

import time
from pathlib import Path

from reconciler import keys
from reconciler.records import FailureReason, Owner
from reconciler.spec import load
from reconciler.store.claims import Claim, Failure, claim_name, failure_name
from tests.e2e.conftest import PATIENCE_S, TIME_SCALE, Processes, finished, spec, specs_file

MACHINE_A = Owner("machine-a", "boot-a", 7, 7)
BLOCKED = "the prompt was blocked by the content filter"


def key_of_only_spec(project: Path) -> str:
    (entry,) = load([str(project / "specs")]).entries
    return keys.entry_key(keys.SEGMIND, entry)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_key_failed_for_good_by_another_machine_after_this_plan_is_ended_failed_and_never_bought(
    fake, s3, project, processes: Processes, monkeypatch
) -> None:
    bucket = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{bucket}/team")
    (project / "specs" / "a.yaml").write_text(specs_file(spec("cat", "a cat")))
    key = key_of_only_spec(project)
    client = s3.client()
    claim_key = f"team/{claim_name(key)}"
    now = time.time()
    # Machine A holds the key (a live lease) when B plans it: B's plan says create, its claim waits.
    held = Claim(
        key, keys.SEGMIND, "wan-2.2-t2v-fast", "{}", MACHINE_A, "run-a", now, now + 3600,
        request_id="req-a", submitted_at=now, request_ids=("req-a",),
    )  # fmt: skip
    client.put_object(Bucket=bucket, Key=claim_key, Body=held.to_bytes())
    served = len(s3.requests)
    b = processes.apply(scale=TIME_SCALE)
    wait_for(
        lambda: any(method == "PUT" and claim_key in path for method, path in s3.requests[served:]),
        "machine B's claim on the key",
    )
    # A's job is blocked: A leaves its failure record, then lets its claim go (as RemoteStore does).
    failure = Failure(
        key, keys.SEGMIND, "wan-2.2-t2v-fast", FailureReason.PERMANENT, BLOCKED, 1, "req-a", MACHINE_A, now
    )
    client.put_object(Bucket=bucket, Key=f"team/{failure_name(key)}", Body=failure.to_bytes())
    client.delete_object(Bucket=bucket, Key=claim_key)

    run = finished(b)
    assert run.code == 1, run.err + run.out
    assert "Traceback" not in run.err
    assert BLOCKED in run.out + run.err
    assert fake.jobs() == []  # B bought nothing: only --retry-failed buys a failed key again
    assert f"team/{failure_name(key)}" in s3.names(bucket, "team/outputs/")  # and A's record stands
    assert s3.names(bucket, "team/claims/") == []

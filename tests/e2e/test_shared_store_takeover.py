"""A holder on another host, SIGKILLed after its submit: its claim is taken over after the lease, never bought again.

Two checkouts (each its own local cache) on one bucket, each a real `reconciler apply` process
naming its own host ($RECONCILER_HOST), so neither can tell from here whether the other's process
lives: only the lease may hand the claim over. The verdict is the fake's jobs and the bucket's records.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mockserver.media import read_tags
from reconciler.store.claims import Claim
from tests.e2e.conftest import PATIENCE_S, Processes, finished, spec, specs_file

SCALE = 0.05  # wan2.1-t2v at ~105 s: a job of about five seconds, so the holder dies mid-job
LEASE_S = 2.0


def wait_for(condition, what: str, *, patience_s: float = PATIENCE_S):
    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_holder_killed_on_another_host_is_taken_over_after_its_lease_without_a_second_purchase(
    fake, s3, project, monkeypatch
) -> None:
    bucket = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{bucket}/team")
    monkeypatch.setenv("RECONCILER_LEASE_S", str(LEASE_S))
    fake.configure(time_scale=SCALE)
    client = s3.client()

    def claims() -> list[Claim]:
        names = s3.names(bucket, "team/claims/")
        return [Claim.from_bytes(client.get_object(Bucket=bucket, Key=name)["Body"].read()) for name in names]

    machines = []
    for host in ("alpha", "beta"):
        root = project / host
        (root / "specs").mkdir(parents=True)
        (root / "specs" / "a.yaml").write_text(specs_file(spec("owl", "an owl", model="wan2.1-t2v", video_length=1)))
        machines.append(Processes(root, fake))
    alpha, beta = machines
    try:
        monkeypatch.setenv("RECONCILER_HOST", "alpha")
        holder = alpha.apply(scale=SCALE)
        submitted = wait_for(lambda: [c for c in claims() if c.request_id], "alpha's request id in its claim")
        assert submitted[0].owner.host == "alpha"
        assert [job["id"] for job in fake.jobs()] == [submitted[0].request_id]
        alpha.kill(holder)  # SIGKILL: the lease is no longer renewed, the job goes on at the fake

        monkeypatch.setenv("RECONCILER_HOST", "beta")
        started = time.monotonic()
        run = finished(beta.apply(scale=SCALE))
        assert run.code == 0, run.err + run.out
        assert "Traceback" not in run.err
        # beta could not see alpha's process: it waited for the lease to run out before taking over.
        assert time.monotonic() - started >= LEASE_S / 2
    finally:
        for machine in machines:
            machine.close()
    jobs = fake.jobs()
    assert [job["id"] for job in jobs] == [submitted[0].request_id]  # bought once, by alpha
    records = [
        json.loads(client.get_object(Bucket=bucket, Key=name)["Body"].read())
        for name in s3.names(bucket, "team/outputs/")
    ]
    assert [r["request_id"] for r in records] == [submitted[0].request_id]
    assert claims() == []
    assert read_tags(Path(beta.project) / "out" / "owl.mp4")["request_id"] == submitted[0].request_id

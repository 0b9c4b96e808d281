"""Reading a shared store from a machine that bought nothing: plan, report and spend against the bucket.

Machine A bought (a real apply) or is buying (a claim object the test writes into the bucket, as
another machine's RemoteStore would); machine B is a fresh checkout with an empty local cache.
What B reads is judged from its output, what it asked of the bucket from the S3 server's log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from reconciler import keys
from reconciler.records import Owner
from reconciler.spec import load
from reconciler.store.claims import Claim, claim_name
from tests.e2e.conftest import spec, specs_file

MACHINE_A = Owner("machine-a", "boot-a", 7, 7)
FIVE = specs_file(*(spec(name, f"a {name}") for name in ("cat", "dog", "owl", "eel", "fox")))


def keys_by_name(project: Path) -> dict[str, str]:
    return {entry.name: keys.entry_key(keys.SEGMIND, entry) for entry in load([str(project / "specs")]).entries}


def a_claim(key: str, *, request_id: str | None, lease_left_s: float) -> Claim:
    now = time.time()
    return Claim(
        key, keys.SEGMIND, "wan-2.2-t2v-fast", "{}", MACHINE_A, "run-a", now - 5, now + lease_left_s,
        request_id=request_id, submitted_at=now if request_id else None,
        request_ids=(request_id,) if request_id else (),
    )  # fmt: skip


def test_plan_shows_another_machines_jobs_in_flight_as_pending_from_one_listing_of_the_claims(
    cli, write, project, s3, monkeypatch
) -> None:
    bucket = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{bucket}/team")
    write("specs/a.yaml", FIVE)
    by_name = keys_by_name(project)
    client = s3.client()
    claims = {
        "cat": a_claim(by_name["cat"], request_id="req-cat", lease_left_s=600),  # submitted, lease renewed
        "dog": a_claim(by_name["dog"], request_id=None, lease_left_s=600),  # claimed, about to submit
        "owl": a_claim(by_name["owl"], request_id=None, lease_left_s=-600),  # its holder vanished before a request id
        "other": a_claim("sha256:" + "ab" * 32, request_id="req-x", lease_left_s=600),  # no spec wants it
    }
    for claim in claims.values():
        client.put_object(Bucket=bucket, Key=f"team/{claim_name(claim.key)}", Body=claim.to_bytes())
    before = s3.names(bucket)
    served = len(s3.requests)

    run = cli("plan", "--json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    actions = {a["name"]: (a["action"], a["est_cost_usd"]) for a in document["specs"]}
    assert actions == {
        "cat": ("pending", 0.0),
        "dog": ("pending", 0.0),
        "owl": ("in-doubt", 0.0),
        "eel": ("create", 0.099),
        "fox": ("create", 0.099),
    }
    assert document["totals"]["est_cost_usd"] == 0.198  # only eel and fox are new spend
    asked = s3.requests[served:]
    # The outputs' listing, the claims' listing, and a read of each claim a spec wants: never one per spec.
    assert [method for method, _ in asked] == ["GET"] * 5
    assert sum("list-type=2" in path for _, path in asked) == 2
    assert not any(claim_name(claims["other"].key) in path for _, path in asked)
    assert s3.names(bucket) == before  # read-only
    text = cli("plan").out
    assert "in flight as request req-cat" in text
    assert "machine-a" in text

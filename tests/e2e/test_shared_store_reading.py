"""Reading a shared store from a machine that bought nothing: plan, report and spend against the bucket.

Machine A bought (a real apply) or is buying (a claim object the test writes into the bucket, as
another machine's RemoteStore would); machine B is a fresh checkout with an empty local cache.
What B reads is judged from its output, what it asked of the bucket from the S3 server's log.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from reconciler import keys
from reconciler.records import Owner
from reconciler.spec import load
from reconciler.store.claims import Claim, claim_name
from tests.e2e.conftest import spec, specs_file

MACHINE_A = Owner("machine-a", "boot-a", 7, 7)
THREE = specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl", model="wan2.1-t2v"))
FIVE = specs_file(*(spec(name, f"a {name}") for name in ("cat", "dog", "owl", "eel", "fox")))


def keys_by_name(project: Path) -> dict[str, str]:
    return {entry.name: keys.entry_key(keys.SEGMIND, entry) for entry in load([str(project / "specs")]).entries}


def checkout(project: Path, name: str, monkeypatch) -> Path:
    """Another machine's clone of the repository: the same specs, an empty local cache, no out/."""
    other = project.parent / name
    shutil.copytree(project / "specs", other / "specs")
    monkeypatch.chdir(other)
    return other


def records_in(s3, bucket: str) -> list[dict]:
    """The bucket's output records, read by the test's own S3 client (the oracle)."""
    client = s3.client()
    return [
        json.loads(client.get_object(Bucket=bucket, Key=name)["Body"].read())
        for name in s3.names(bucket, "team/outputs/")
        if not name.endswith(".failed.json")
    ]


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


@pytest.fixture
def bought(apply, write, s3, monkeypatch) -> str:
    """A bucket holding the three videos machine A bought (a real apply); returns its name."""
    bucket = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{bucket}/team")
    write("specs/a.yaml", THREE)
    assert apply("--yes").code == 0
    return bucket


def test_report_from_an_empty_cache_shows_every_stored_spec_with_its_video_fetched_and_verified(
    fake, bought, cli, project, s3, monkeypatch
) -> None:
    bucket = bought
    other = checkout(project, "reviewer", monkeypatch)
    monkeypatch.delenv("SEGMIND_API_KEY")
    before = len(fake.journal())

    run = cli("report", "--json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["totals"]["stored"] == 3
    by_name = {card["name"]: card for card in document["specs"]}
    recorded = {record["name_hint"]: record["request_id"] for record in records_in(s3, bucket)}
    assert {name: card["request_id"] for name, card in by_name.items()} == recorded
    for card in by_name.values():
        assert card["video"] is not None
        assert card["video"]["problem"] is None
        assert card["video"]["poster"] is not None
    blobs = s3.names(bucket, "team/objects/")
    assert len(blobs) == 3
    for name in blobs:
        cached = other / ".reconciler" / name.removeprefix("team/")
        hex_name = name.removeprefix("team/objects/sha256/").replace("/", "")
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == hex_name
    assert fake.journal()[before:] == []  # the API was not asked anything
    assert not any("/claims/" in name for name in s3.names(bucket))


def test_spend_from_an_empty_cache_lists_what_the_buckets_output_records_say_was_paid(
    bought, cli, project, s3, monkeypatch
) -> None:
    bucket = bought
    checkout(project, "accountant", monkeypatch)
    before = s3.names(bucket)

    run = cli("spend", "--json")

    assert run.code == 0, run.err
    document = json.loads(run.out)
    records = records_in(s3, bucket)
    assert document["jobs"] == len(records) == 3
    assert document["total_usd"] == round(sum(record["cost_usd"] for record in records), 6)
    assert sorted(line["label"] for line in document["by_spec"]) == ["cat", "dog", "owl"]
    assert s3.names(bucket) == before  # read-only

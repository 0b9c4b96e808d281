"""A store shared by every machine: apply, plan, pull and push against a real S3 API server and the fake.

Each "machine" is a checkout of its own (its own directory and local cache) on one bucket; what
was bought is judged from the fake's journal, what is in the bucket from the S3 server's listing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from mockserver.media import read_tags
from reconciler.records import Owner
from reconciler.store.claims import Claim, claim_name
from tests.e2e.conftest import KEY, spec, specs_file

SPECS = specs_file(spec("cat", "a cat"), spec("dog", "a dog"), spec("owl", "an owl", model="wan2.1-t2v"))


@pytest.fixture
def bucket(s3, monkeypatch) -> str:
    name = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{name}/team")
    return name


def checkout(project: Path, name: str, monkeypatch) -> Path:
    """Another machine's clone of the repository: the same specs, no local store, no out/."""
    other = project.parent / name
    shutil.copytree(project / "specs", other / "specs")
    monkeypatch.chdir(other)
    return other


def test_a_fresh_checkout_on_the_shared_store_buys_nothing_and_lays_out_out(
    fake, apply, write, project, bucket, s3, monkeypatch
) -> None:
    write("specs/a.yaml", SPECS)
    first = apply("--yes")
    assert first.code == 0, first.err + first.out
    assert len(fake.submits()) == 3
    other = checkout(project, "laptop", monkeypatch)
    run = apply("--yes")
    assert run.code == 0, run.err + run.out
    assert len(fake.submits()) == 3  # nothing bought again
    for name in ("cat", "dog", "owl"):
        assert read_tags(other / "out" / f"{name}.mp4")["request_id"]
    assert not any("/claims/" in name for name in s3.names(bucket))


def test_plan_on_the_shared_store_reads_it_in_bulk_and_writes_nothing(
    fake, apply, cli, write, project, bucket, s3, monkeypatch
) -> None:
    write("specs/a.yaml", SPECS)
    assert apply("--yes").code == 0
    checkout(project, "ci-runner", monkeypatch)
    before = s3.names(bucket)
    served = len(s3.requests)
    run = cli("plan", "--json")
    assert run.code == 0, run.err
    assert [method for method, _ in s3.requests[served:]] == ["GET"]  # one listing, not one request per spec
    kinds = [action["action"] for action in json.loads(run.out)["specs"]]
    assert kinds == ["noop", "noop", "noop"]
    assert s3.names(bucket) == before


def test_plan_on_a_warm_local_cache_sends_the_bucket_no_request(fake, apply, cli, write, bucket, s3) -> None:
    # Output records are immutable: a key whose output (and blob) the local cache holds is stored.
    write("specs/a.yaml", SPECS)
    assert apply("--yes").code == 0
    served = len(s3.requests)
    run = cli("plan", "--json")
    assert run.code == 0, run.err
    assert [action["action"] for action in json.loads(run.out)["specs"]] == ["noop", "noop", "noop"]
    assert s3.requests[served:] == []


def test_plan_asks_the_bucket_only_about_the_keys_the_local_cache_lacks(
    fake, apply, cli, write, project, bucket, s3
) -> None:
    write("specs/a.yaml", SPECS)
    assert apply("--yes").code == 0
    write("specs/b.yaml", specs_file(spec("eel", "an eel")))
    served = len(s3.requests)
    run = cli("plan", "--json")
    assert run.code == 0, run.err
    kinds = {action["name"]: action["action"] for action in json.loads(run.out)["specs"]}
    assert kinds == {"cat": "noop", "dog": "noop", "owl": "noop", "eel": "create"}
    # One listing page holds every output record; one more lists the claims (is eel in flight elsewhere?).
    assert [method for method, _ in s3.requests[served:]] == ["GET", "GET"]


def test_pull_lays_out_the_stored_videos_with_no_api_key(fake, apply, cli, write, project, bucket, monkeypatch) -> None:
    write("specs/a.yaml", SPECS)
    assert apply("--yes").code == 0
    other = checkout(project, "designer", monkeypatch)
    monkeypatch.delenv("SEGMIND_API_KEY")
    before = len(fake.journal())
    run = cli("pull")
    assert run.code == 0, run.err + run.out
    assert sorted(p.name for p in (other / "out").iterdir()) == ["cat.mp4", "dog.mp4", "owl.mp4"]
    assert fake.journal()[before:] == []


def test_push_shares_what_one_person_already_bought(fake, apply, cli, write, project, s3, monkeypatch) -> None:
    write("specs/a.yaml", SPECS)
    monkeypatch.delenv("RECONCILER_STORE", raising=False)
    assert apply("--yes").code == 0  # a local store only
    name = s3.new_bucket()
    monkeypatch.setenv("RECONCILER_STORE", f"s3://{name}/team")
    pushed = cli("push")
    assert pushed.code == 0, pushed.err
    assert "pushed 3 outputs" in pushed.out
    checkout(project, "teammate", monkeypatch)
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 3


def test_a_claim_left_by_a_machine_that_vanished_is_taken_over_after_its_lease_without_a_second_purchase(
    fake, apply, write, project, bucket, s3, monkeypatch
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    body = {"prompt": "a cat", "seed": 1}
    # The other machine submitted the job and recorded its id in the claim, then vanished.
    answer = httpx.post(f"{fake.url}/v2/wan-2.2-t2v-fast", json=body, headers={"x-api-key": KEY}).json()
    from reconciler import keys
    from reconciler.spec import load

    entry = load(["specs"]).entries[0]
    key = keys.entry_key(keys.SEGMIND, entry)
    now = time.time()
    gone = Claim(
        key, keys.SEGMIND, "wan-2.2-t2v-fast", json.dumps(body), Owner("other-machine", "b", 7, 7), "run-x", now - 10,
        now + 2.0, request_id=answer["request_id"], submitted_at=now - 10, request_ids=(answer["request_id"],),
    )  # fmt: skip
    s3.client().put_object(Bucket=bucket, Key=f"team/{claim_name(key)}", Body=gone.to_bytes())
    monkeypatch.setenv("RECONCILER_LEASE_S", "4")  # grace = 1 s: the claim is free 3 s from now
    started = time.monotonic()
    run = apply("--yes")
    assert run.code == 0, run.err + run.out
    assert time.monotonic() - started >= 2.5  # it waited for the lease
    assert len(fake.submits()) == 1  # only the vanished machine's
    assert read_tags(project / "out" / "cat.mp4")["request_id"] == answer["request_id"]


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("ftp://example.com/videos", "unsupported store"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("gs://bucket/p", "unsupported store"),
        ("s3://Bad_Bucket/p", "not a valid S3 bucket name"),
    ],
)
def test_an_unsupported_store_url_is_one_clear_sentence_and_never_a_folder(cli, write, project, location, says) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    for command in (("plan",), ("apply", "--mock", "--yes"), ("verify",)):
        run = cli(*command, "--store", location)
        assert run.code == 1
        assert says in run.err
        assert "Traceback" not in run.err
    assert sorted(p.name for p in project.iterdir()) == ["specs"]


def test_the_aws_secret_is_never_printed(cli, write, project, s3, bucket) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = cli("verify")
    assert run.code == 0, run.err
    missing = cli("plan", "--store", "s3://no-such-bucket-x/p")
    for output in (run.out, run.err, missing.out, missing.err):
        assert "testing-secret-never-printed" not in output


def test_with_no_remote_store_apply_adopts_what_the_account_already_bought_and_buys_nothing(
    fake, apply, write, project
) -> None:
    # A teammate's script sent the same requests its own way: defaults left out, numbers as strings.
    sent = [
        httpx.post(
            f"{fake.url}/v2/wan-2.2-t2v-fast", json={"prompt": "a cat", "seed": "1"}, headers={"x-api-key": KEY}
        ),
        httpx.post(
            f"{fake.url}/v2/wan-2.2-t2v-fast",
            json={"prompt": "a dog", "seed": 1, "num_frames": 81, "go_fast": True},
            headers={"x-api-key": KEY},
        ),
    ]
    ids = {answer.json()["request_id"] for answer in sent}
    time.sleep(1.0)  # the fake finishes them (a 93 s model at its time scale)
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    run = apply("--yes")
    assert run.code == 0, run.err + run.out
    assert len(fake.submits()) == 2  # the teammate's two, nothing more
    adopted = {read_tags(project / "out" / f"{name}.mp4")["request_id"] for name in ("cat", "dog")}
    assert adopted == ids
    history_reads = [e for e in fake.journal() if e["path"] == "/inference-request/request-history"]
    assert len(history_reads) == 1  # one query for the model, not one per spec


def test_plan_refresh_shows_what_the_history_holds_as_adopt_at_no_cost_and_plain_plan_stays_offline(
    fake, apply, cli, write, project
) -> None:
    httpx.post(f"{fake.url}/v2/wan-2.2-t2v-fast", json={"prompt": "a cat", "seed": 1}, headers={"x-api-key": KEY})
    time.sleep(1.0)
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    before = len(fake.journal())
    offline = json.loads(cli("plan", "--json").out)
    assert fake.journal()[before:] == []
    assert [s["action"] for s in offline["specs"]] == ["create", "create"]
    refreshed = cli("plan", "--refresh", "--json")
    assert refreshed.code == 0, refreshed.err
    document = json.loads(refreshed.out)
    assert {s["name"]: (s["action"], s["est_cost_usd"]) for s in document["specs"]} == {
        "cat": ("adopt", 0.0),
        "dog": ("create", 0.099),
    }
    assert document["totals"]["est_cost_usd"] == 0.099
    assert [e["method"] for e in fake.journal()[before:]] == ["GET"]  # one history read, nothing submitted


def test_the_shared_store_can_be_named_in_reconciler_toml(fake, apply, cli, write, project, s3, monkeypatch) -> None:
    name = s3.new_bucket()
    monkeypatch.delenv("RECONCILER_STORE", raising=False)
    write("reconciler.toml", f'[reconciler]\nstore = "s3://{name}/from-toml"\n')
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    assert apply("--yes").code == 0
    assert any(n.startswith("from-toml/outputs/") for n in s3.names(name))
    assert not (project / "s3:").exists()


def test_gc_leaves_the_bucket_alone_without_remote_and_with_it_deletes_only_unwanted_records(
    fake, apply, cli, write, project, bucket, s3
) -> None:
    path = write("specs/a.yaml", SPECS)
    assert apply("--yes").code == 0
    path.write_text(specs_file(spec("cat", "a cat")))
    records = s3.names(bucket, "team/outputs/")
    assert len(records) == 3
    assert cli("gc").code == 0
    assert s3.names(bucket, "team/outputs/") == records  # never without --remote
    dry = cli("gc", "--remote", "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.count("would delete s3://") == 2
    assert s3.names(bucket, "team/outputs/") == records
    assert cli("gc", "--remote").code == 0
    left = s3.names(bucket, "team/outputs/")
    assert len(left) == 1
    # The blobs stay a day (a writer uploads its blob before its record); the kept spec still lays out.
    assert len(s3.names(bucket, "team/objects/")) == 3
    assert cli("layout").code == 0


def test_verify_re_hashes_the_bucket_and_repairs_a_corrupt_blob_from_the_verified_local_copy(
    fake, apply, cli, write, project, bucket, s3
) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    assert apply("--yes").code == 0
    (blob,) = s3.names(bucket, "team/objects/")
    good = s3.client().get_object(Bucket=bucket, Key=blob)["Body"].read()
    s3.client().put_object(Bucket=bucket, Key=blob, Body=b"rotten")
    run = cli("verify")
    assert run.code == 1
    assert "corrupt in the bucket" in run.out
    assert "re-uploaded from the verified local copy" in run.out
    assert s3.client().get_object(Bucket=bucket, Key=blob)["Body"].read() == good
    assert cli("verify").code == 0


def test_a_key_failed_for_good_on_one_machine_is_never_bought_again_from_another_unless_retried(
    fake, apply, cli, write, project, bucket, s3, monkeypatch
) -> None:
    write("specs/a.yaml", specs_file(spec("bad", "a nsfw scene")))
    assert apply("--yes").code == 1
    assert len(fake.jobs()) == 1
    checkout(project, "machine-b", monkeypatch)
    planned = cli("plan", "--json")
    assert planned.code == 0, planned.err
    assert [action["action"] for action in json.loads(planned.out)["specs"]] == ["failed"]
    assert apply("--yes").code == 1
    assert len(fake.jobs()) == 1  # the fresh checkout did not buy the blocked spec again
    assert apply("--yes", "--retry-failed").code == 1
    assert len(fake.jobs()) == 2  # asked for, bought again exactly once
    assert apply("--yes").code == 1
    assert len(fake.jobs()) == 2


def _kinds(cli) -> list[str]:
    run = cli("plan", "--json")
    assert run.code == 0, run.err
    return [action["action"] for action in json.loads(run.out)["specs"]]


def test_a_key_whose_job_crashed_three_times_in_a_row_is_failed_for_good_on_every_machine_but_not_before(
    fake, apply, cli, write, project, bucket, monkeypatch
) -> None:
    fake.configure(failure_rate=1.0, failure_error="worker crashed while training")
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    for _ in range(2):
        assert apply("--yes").code == 1
    other = checkout(project, "machine-c", monkeypatch)
    assert _kinds(cli) == ["create"]  # two temporary failures: still worth another try, here too
    monkeypatch.chdir(project)
    assert apply("--yes").code == 1
    assert len(fake.submits()) == 3
    monkeypatch.chdir(other)
    assert _kinds(cli) == ["failed"]
    assert "3 times in a row" in cli("plan").out
    assert apply("--yes").code == 1
    assert len(fake.submits()) == 3  # not bought a fourth time unasked, from the other machine either
    fake.configure(failure_rate=0.0)
    assert apply("--yes", "--retry-failed").code == 0
    assert len(fake.submits()) == 4
    monkeypatch.chdir(project)
    assert _kinds(cli) == ["noop"]


def test_gc_remote_deletes_the_failure_record_of_a_spec_removed_and_keeps_a_wanted_ones(
    fake, apply, cli, write, bucket, s3
) -> None:
    path = write("specs/a.yaml", specs_file(spec("bad", "a nsfw scene"), spec("worse", "an nsfw sea")))
    assert apply("--yes").code == 1
    failures = [name for name in s3.names(bucket, "team/outputs/") if name.endswith(".failed.json")]
    assert len(failures) == 2
    path.write_text(specs_file(spec("bad", "a nsfw scene")))
    assert cli("gc", "--remote").code == 0
    assert len([name for name in s3.names(bucket, "team/outputs/") if name.endswith(".failed.json")]) == 1
    assert _kinds(cli) == ["failed"]

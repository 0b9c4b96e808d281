"""plan, verify and gc through the real CLI against a real store on disk."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from reconciler import keys
from reconciler.spec import load
from reconciler.store import AttemptState, FailureReason, Store, current_owner
from tests.conftest import put_blob

SPECS = """
videos:
  eagle:
    model: wan2.7-t2v
    prompt: An eagle
  tide:
    model: wan-2.2-t2v-fast
    prompt: Tide pools
    seed: 3
    tags: [coast]
  blocked:
    model: wan2.1-t2v
    prompt: Something refused
  running:
    model: wan2.1-t2v
    prompt: Something in flight
  twin:
    model: wan2.7-t2v
    prompt: An eagle
"""


def key_of(name: str, namespace: str = keys.SEGMIND) -> str:
    (entry,) = [e for e in load(["specs"]).entries if e.name == name]
    return keys.entry_key(namespace, entry)


def store_video(
    store: Store, key: str, data: bytes = b"\x00\x00\x00\x18ftypmp42video", *, namespace: str = keys.SEGMIND
) -> None:
    blob = put_blob(store, [data])
    store.record_output(
        key,
        digest=blob.digest,
        size=blob.size,
        model="wan2.7-t2v",
        request_id="r1",
        cost_usd=0.6,
        namespace=namespace,
    )


def seeded(project: Path) -> None:
    with Store.open(project / ".reconciler") as store:
        store_video(store, key_of("eagle"))
        failed = store.claim(key_of("blocked"), namespace=keys.SEGMIND, model="wan2.1-t2v", request_body={"p": 1})
        assert failed is not None
        store.record_submitted(failed.id, "r-blocked")
        store.record_state(
            failed.id, AttemptState.FAILED, error="blocked by content policy", reason=FailureReason.PERMANENT
        )
        running = store.claim(key_of("running"), namespace=keys.SEGMIND, model="wan2.1-t2v", request_body={"p": 2})
        assert running is not None
        store.record_submitted(running.id, "r-running")


def test_plan_shows_every_action_with_costs_and_totals(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    run = cli("plan", "--json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    actions = {s["name"]: (s["action"], s["est_cost_usd"]) for s in document["specs"]}
    assert actions == {
        "eagle": ("noop", 0.0),
        "tide": ("create", 0.099),
        "blocked": ("failed", 0.0),
        "running": ("pending", 0.0),
        "twin": ("noop", 0.0),
    }
    assert document["totals"] | {"est_seconds": 0} == {
        "create": 1,
        "adopt": 0,
        "pending": 1,
        "in-doubt": 0,
        "failed": 1,
        "noop": 2,
        "generations": 1,
        "est_cost_usd": 0.099,
        "in_doubt_cost_usd": 0.0,
        "up_to_cost_usd": 0.099,
        "est_seconds": 0,
        "concurrency": 8,
    }
    assert document["format_version"] == 1
    assert {s["name"]: s["line"] for s in document["specs"]}["tide"] == 5


def test_plan_text_ends_with_the_summary_line(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    run = cli("plan")
    assert (
        run.out.splitlines()[-1]
        == "1 to create, est. $0.10, about 2 min at concurrency 8; 2 up to date; 1 pending; 1 failed"
    )
    assert "+ tide" in run.out


def test_plan_detailed_exit_codes_follow_terraform(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    assert cli("plan", "--detailed-exitcode").code == 2
    assert cli("plan", "--detailed-exitcode", "--target", "eagle", "--target", "blocked").code == 0
    assert cli("plan", "--detailed-exitcode", "--target", "nothing-like-this").code == 1
    assert cli("plan").code == 0


def test_a_claim_held_by_a_dead_process_is_in_doubt(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    with Store.open(project / ".reconciler") as store:
        dead = dataclasses.replace(current_owner(), pid=4_000_000, started=1)  # beyond pid_max: never alive
        store.claim(key_of("tide"), namespace=keys.SEGMIND, model="wan-2.2-t2v-fast", request_body={}, owner=dead)
    document = json.loads(cli("plan", "--json", "--target", "tide").out)
    assert document["specs"][0]["action"] == "in-doubt"


def test_plan_reads_a_missing_store_without_creating_it(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    assert cli("plan").code == 0
    assert not (project / ".reconciler" / "state.sqlite").exists()


def test_plan_markdown_is_ready_for_a_pull_request(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    run = cli("plan", "--format", "markdown", "--target", "tag:coast")
    assert run.out.splitlines()[:6] == [
        "### reconciler plan",
        "",
        "**1 to create, est. $0.10, about 2 min at concurrency 8; 0 up to date**",
        "",
        "| spec | model | est. cost | why |",
        "| --- | --- | ---: | --- |",
    ]


def test_plan_in_the_mock_namespace_does_not_see_real_outputs(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    document = json.loads(cli("plan", "--json", "--mock", "--target", "eagle").out)
    assert document["specs"][0]["action"] == "create"
    assert document["specs"][0]["key"] == key_of("eagle", keys.MOCK)


def test_a_plan_on_either_backend_counts_as_orphans_only_the_outputs_no_spec_names_on_either(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    stray, old = "sha256:" + "0" * 64, b"\x00\x00\x00\x18ftypmp42an old video"  # a real video no spec asks for
    with Store.open(project / ".reconciler") as store:
        store_video(store, key_of("eagle"))
        store_video(store, stray, old)
        store_video(store, key_of("tide", keys.MOCK), b"\x00\x00\x00\x18ftypmp42tide", namespace=keys.MOCK)
    for backend in ([], ["--mock"]):
        document = json.loads(cli("plan", "--json", *backend).out)
        assert [(o["key"], o["size"]) for o in document["orphans"]] == [(stray, len(old))], backend
        assert "1 orphaned output" in cli("plan", *backend).out, backend


def test_orphans_are_listed_by_plan_and_removed_by_gc(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    write("specs/a.yaml", SPECS.replace("An eagle", "A hawk"))
    document = json.loads(cli("plan", "--json").out)
    assert len(document["orphans"]) == 1
    assert document["orphans"][0]["model"] == "wan2.7-t2v"
    dry = cli("gc", "--dry-run")
    assert dry.code == 0
    assert "would remove output" in dry.out
    assert json.loads(cli("plan", "--json").out)["orphans"] != []
    assert cli("gc").code == 0
    assert json.loads(cli("plan", "--json").out)["orphans"] == []


def test_verify_is_clean_then_repairs_a_corrupt_blob(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    clean = cli("verify")
    assert clean.code == 0
    assert clean.out.startswith("clean: 1 blobs")
    (blob,) = [p for p in (project / ".reconciler" / "objects").rglob("*") if p.is_file()]
    blob.chmod(0o644)
    blob.write_bytes(b"flipped bits")
    repaired = cli("verify")
    assert repaired.code == 1
    assert repaired.out.splitlines()[0].startswith("corrupt: sha256:")
    document = json.loads(cli("plan", "--json", "--target", "eagle").out)
    assert document["specs"][0]["action"] == "create"


def test_a_settings_file_sets_the_spec_paths_and_the_store(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("videos/a.yaml", "videos:\n  a:\n    model: wan2.7-t2v\n    prompt: one\n")
    write("reconciler.toml", '[reconciler]\nspecs = ["videos"]\nstore = "state"\n')
    assert cli("validate").code == 0
    assert (project / "state" / "cache").is_dir()


def test_a_mistake_in_the_settings_file_is_reported_not_ignored(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("reconciler.toml", '[reconciler]\nstroe = "x"\n')
    run = cli("validate")
    assert run.code == 1
    assert "reconciler.toml: error: unknown setting reconciler.stroe" in run.err


def test_layout_mirrors_the_specs_under_out_and_follows_renames(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    seeded(project)
    first = cli("layout")
    assert first.code == 1  # tide, blocked and running are not stored yet
    assert "missing tide (not stored yet: reconciler apply)" in first.out
    eagle, twin = project / "out" / "eagle.mp4", project / "out" / "twin.mp4"
    assert eagle.read_bytes() == twin.read_bytes() == b"\x00\x00\x00\x18ftypmp42video"
    write("specs/a.yaml", SPECS.replace("  eagle:", "  birds/eagle:"))
    cli("layout")
    assert not eagle.exists()
    assert (project / "out" / "birds" / "eagle.mp4").read_bytes() == twin.read_bytes()
    (project / "out" / "notes.txt").write_text("mine")
    cli("layout")
    assert (project / "out" / "notes.txt").read_text() == "mine"


def test_a_paid_job_whose_spec_was_removed_is_listed_to_fetch_at_no_cost(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    gone = key_of("tide")
    with Store.open(project / ".reconciler") as store:
        dead = dataclasses.replace(current_owner(), pid=4_000_000, started=1)  # beyond pid_max: never alive
        attempt = store.claim(gone, namespace=keys.SEGMIND, model="wan-2.2-t2v-fast", request_body={}, owner=dead)
        assert attempt is not None
        store.record_submitted(attempt.id, "r-tide")
        store_video(store, key_of("eagle"))
    write("specs/a.yaml", SPECS.replace("seed: 3", "seed: 4"))  # edited while its job ran
    plain = cli("plan").out
    assert f"fetch: {gone}  wan-2.2-t2v-fast  request r-tide" in plain
    assert "1 paid job of changed specs to fetch (no cost)" in plain
    document = json.loads(cli("plan", "--json").out)
    assert document["paid_jobs"] == [{"key": gone, "model": "wan-2.2-t2v-fast", "request_id": "r-tide"}]
    assert cli("plan", "--detailed-exitcode", "--target", "eagle").code == 2  # eagle is stored; the job is to fetch
    assert document["totals"]["est_cost_usd"] == round(0.099 + 0.855 * 2, 6)  # nothing for the paid job


def test_a_plan_on_the_other_backend_leaves_the_real_apis_paid_job_to_the_real_api(
    cli: Callable[..., object], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    with Store.open(project / ".reconciler") as store:
        dead = dataclasses.replace(current_owner(), pid=4_000_000, started=1)  # a killed real apply
        attempt = store.claim(
            key_of("tide"), namespace=keys.SEGMIND, model="wan-2.2-t2v-fast", request_body={}, owner=dead
        )
        assert attempt is not None
        store.record_submitted(attempt.id, "r-tide")
    assert json.loads(cli("plan", "--json", "--mock").out)["paid_jobs"] == []  # the fake never heard of r-tide
    assert "~ tide  wan-2.2-t2v-fast  in flight as request r-tide" in cli("plan").out

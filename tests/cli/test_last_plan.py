"""The last plan, kept and shown again while nothing it was made from has changed: never stale.

Each test plans once (the plan is kept), changes one thing a plan is made from, and plans again:
the second plan must show the change. The kept file is judged from outside: it is written by a
plan made anew and left untouched by a plan shown again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import keys
from reconciler.plan.diff import ORDER, Plan, Totals
from reconciler.records import Observation, Orphans
from reconciler.runtime.lastplan import Asked, LastPlan
from reconciler.spec import SpecSet, load
from reconciler.store import AttemptState, FailureReason, Store, current_owner
from reconciler.store.owner import start_ticks
from tests.conftest import Run, put_blob

SPECS = """
videos:
  eagle:
    model: wan2.7-t2v
    prompt: An eagle
  tide:
    model: wan-2.2-t2v-fast
    prompt: Tide pools
    tags: [coast]
  blocked:
    model: wan2.1-t2v
    prompt: Something refused
  twin:
    model: wan2.7-t2v
    prompt: An eagle
"""

KEPT = Path(".reconciler/cache/plan-segmind.marshal")


def key_of(name: str, namespace: str = keys.SEGMIND) -> str:
    (entry,) = [e for e in load(["specs"]).entries if e.name == name]
    return keys.entry_key(namespace, entry)


def store_video(key: str, data: bytes = b"\x00\x00\x00\x18ftypmp42video", namespace: str = keys.SEGMIND) -> str:
    with Store.open(Path(".reconciler")) as store:
        blob = put_blob(store, [data])
        store.record_output(
            key, digest=blob.digest, size=blob.size, model="wan2.7-t2v", request_id="r1", cost_usd=0.6,
            namespace=namespace,
        )  # fmt: skip
        return blob.digest


def fail_for_good(key: str) -> None:
    with Store.open(Path(".reconciler")) as store:
        attempt = store.claim(key, namespace=keys.SEGMIND, model="wan2.1-t2v", request_body={"p": 1})
        assert attempt is not None
        store.record_submitted(attempt.id, "r-blocked")
        store.record_state(attempt.id, AttemptState.FAILED, error="blocked by policy", reason=FailureReason.PERMANENT)


def stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


@pytest.fixture
def planned(cli: Callable[..., Run], write: Callable[..., Path], project: Path) -> Callable[..., Run]:
    """A project of creates, a stored video, a failure, a shared key and orphans; `plan ARGS` on it."""
    write("specs/a.yaml", SPECS)
    store_video(key_of("eagle"))
    fail_for_good(key_of("blocked"))
    store_video(f"sha256:{1:064x}", b"an orphan")
    store_video(f"sha256:{2:064x}", b"an orphan of the fake", namespace=keys.MOCK)

    def _plan(*args: str) -> Run:
        run = cli("plan", *args)
        assert run.code in (0, 2), run.err
        return run

    return _plan


@pytest.mark.parametrize("shape", [(), ("--json",), ("--format", "markdown"), ("--show-noop",)])
def test_a_plan_with_nothing_changed_is_shown_again_exactly_as_it_was_made(
    planned: Callable[..., Run], project: Path, shape: tuple[str, ...]
) -> None:
    made = planned(*shape)
    kept = stamp(project / KEPT)
    again = planned(*shape)
    assert stamp(project / KEPT) == kept  # shown from the kept plan: not made, so not kept again
    assert (again.out, again.err, again.code) == (made.out, made.err, made.code)
    (project / KEPT).unlink()
    anew = planned(*shape)
    assert (anew.out, anew.err, anew.code) == (made.out, made.err, made.code)


def test_the_plan_shown_again_has_every_field_of_every_action(planned: Callable[..., Run]) -> None:
    made = json.loads(planned("--json").out)
    again = json.loads(planned("--json").out)
    assert again == made
    assert {s["name"]: s["action"] for s in made["specs"]} == {
        "eagle": "noop", "tide": "create", "blocked": "failed", "twin": "noop",
    }  # fmt: skip
    assert made["warnings"]
    assert len(made["orphans"]) == 2


def test_a_video_stored_by_another_run_since_is_shown_up_to_date(planned: Callable[..., Run]) -> None:
    assert "+ tide" in planned().out
    store_video(key_of("tide"), b"tide video")
    assert "+ tide" not in planned().out
    assert json.loads(planned("--json").out)["totals"]["create"] == 0


def test_a_video_deleted_by_hand_since_is_shown_to_make_again(planned: Callable[..., Run], project: Path) -> None:
    digest = store_video(key_of("tide"), b"tide video")
    assert "+ tide" not in planned().out
    blob = project / ".reconciler" / "objects" / "sha256" / digest[7:9] / digest[9:]
    blob.chmod(0o644)
    blob.unlink()
    assert "+ tide" in planned().out


def test_a_video_deleted_by_hand_and_put_back_is_shown_up_to_date_again(
    planned: Callable[..., Run], project: Path
) -> None:
    digest = store_video(key_of("tide"), b"tide video")
    blob = project / ".reconciler" / "objects" / "sha256" / digest[7:9] / digest[9:]
    saved = blob.read_bytes()
    blob.chmod(0o644)
    blob.unlink()
    assert "+ tide" in planned().out
    blob.write_bytes(saved)  # put back from a backup: no write to the store's rows
    assert "+ tide" not in planned().out


def test_a_spec_edited_within_the_same_second_keeping_its_size_is_planned_anew(
    planned: Callable[..., Run], project: Path
) -> None:
    spec = project / "specs" / "a.yaml"
    assert "+ tide" in planned().out
    old = key_of("tide")
    before = spec.stat()
    spec.write_text(SPECS.lstrip("\n").replace("prompt: Tide pools", "prompt: Tide poolz"))
    os.utime(spec, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert spec.stat().st_size == before.st_size
    store_video(old, b"the old tide video")  # the old prompt's video is no video of the new one
    assert "+ tide" in planned().out


def test_a_spec_file_added_or_removed_is_planned_anew(
    planned: Callable[..., Run], write: Callable[..., Path], project: Path
) -> None:
    planned()
    write("specs/b.yaml", "videos:\n  heron:\n    model: wan2.7-t2v\n    prompt: A heron\n")
    assert "+ heron" in planned().out
    (project / "specs" / "b.yaml").unlink()
    assert "heron" not in planned().out


@pytest.mark.parametrize(
    ("options", "seen", "unseen"),
    [
        (("--target", "tide"), "+ tide", "blocked"),
        (("--exclude", "tide"), "! blocked", "tide"),
        (("--retry-failed",), "+ blocked", "! blocked"),
        (("--mock",), "+ eagle", "= eagle"),
        (("--concurrency", "1"), "at concurrency 1", "at concurrency 8"),
    ],
)
def test_each_question_gets_its_own_plan(
    planned: Callable[..., Run], options: tuple[str, ...], seen: str, unseen: str
) -> None:
    first = planned("--show-noop").out
    assert unseen in first or options[0] in ("--target", "--exclude")
    for _ in range(2):  # made, then shown again
        shown = planned("--show-noop", *options).out
        assert seen in shown
        assert unseen not in shown
    assert planned("--show-noop").out == first


def test_the_json_plan_lists_every_orphan_though_the_text_plan_before_it_listed_ten(
    planned: Callable[..., Run],
) -> None:
    for n in range(3, 15):
        store_video(f"sha256:{n:064x}", b"orphan %d" % n)
    assert "... and 4 more orphans" in planned().out
    assert len(json.loads(planned("--json").out)["orphans"]) == 14
    assert "... and 4 more orphans" in planned().out


def test_a_job_in_flight_is_planned_anew_and_shows_in_doubt_once_its_owner_died(
    planned: Callable[..., Run], project: Path
) -> None:
    owner = subprocess.Popen(["sleep", "60"])
    try:
        alive = dataclasses.replace(current_owner(), pid=owner.pid, started=start_ticks(owner.pid) or 0)
        with Store.open(project / ".reconciler") as store:
            store.claim(key_of("tide"), namespace=keys.SEGMIND, model="wan-2.2-t2v-fast", request_body={}, owner=alive)
        assert "~ tide" in planned().out
        assert not (project / KEPT).exists()  # a plan that depends on a live run is never kept
    finally:
        owner.kill()
        owner.wait()
    assert "? tide" in planned().out


def test_a_job_of_a_removed_spec_is_shown_to_fetch_once_the_run_that_owns_it_died(
    planned: Callable[..., Run], project: Path
) -> None:
    gone = f"sha256:{3:064x}"  # no spec's key: its spec was edited while its job ran
    owner = subprocess.Popen(["sleep", "60"])
    try:
        alive = dataclasses.replace(current_owner(), pid=owner.pid, started=start_ticks(owner.pid) or 0)
        with Store.open(project / ".reconciler") as store:
            attempt = store.claim(gone, namespace=keys.SEGMIND, model="wan2.7-t2v", request_body={}, owner=alive)
            assert attempt is not None
            store.record_submitted(attempt.id, "r-gone")
        assert "fetch:" not in planned().out  # its run is alive: the job is that run's to finish
    finally:
        owner.kill()
        owner.wait()
    assert f"fetch: {gone}  wan2.7-t2v  request r-gone" in planned().out


def test_a_lost_database_is_rebuilt_and_planned_anew(planned: Callable[..., Run], project: Path) -> None:
    store_video(key_of("tide"), b"tide video")
    assert "+ tide" not in planned().out
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (project / ".reconciler" / name).unlink(missing_ok=True)
    shown = planned().out
    assert "+ tide" not in shown  # its receipt brought the video back
    assert "! blocked" not in shown  # the failure was in the lost database only: it is to make again


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "directory", "fifo"])
def test_a_damaged_kept_plan_is_passed_over_and_made_again(
    planned: Callable[..., Run], project: Path, damage: str
) -> None:
    made = planned()
    path = project / KEPT
    if damage == "garbage":
        path.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "flipped":  # one byte of the actions changed: the file still reads, its CRC does not match
        data = bytearray(path.read_bytes())
        middle = data.index(b"specs/a.yaml")
        data[middle] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        path.unlink()
        path.mkdir() if damage == "directory" else os.mkfifo(path)
    assert planned() == made


def test_a_spec_with_a_local_image_is_planned_anew_when_the_image_changes(
    cli: Callable[..., Run], write: Callable[..., Path], project: Path
) -> None:
    image = project / "specs" / "still.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"one still")
    write("specs/a.yaml", "videos:\n  cat:\n    model: wan2.1-i2v-480p\n    image: ./still.png\n    prompt: A cat\n")
    store_video(key_of("cat"), b"the cat of the first still")
    assert "= cat" in cli("plan").out
    assert not (project / KEPT).exists()  # the image is hashed on every load, not by the spec file's digest
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"another still")
    assert "+ cat" in cli("plan").out


def test_plans_of_other_spec_paths_in_one_store_each_show_their_own_specs(
    cli: Callable[..., Run], write: Callable[..., Path], project: Path
) -> None:
    write("specs/a.yaml", SPECS)
    write("other/a.yaml", "videos:\n  heron:\n    model: wan2.7-t2v\n    prompt: A heron\n")
    for _ in range(2):
        assert "+ tide" in cli("plan").out
        shown = cli("plan", "other").out
        assert "+ heron" in shown
        assert "tide" not in shown


def test_a_plan_loaded_from_other_bytes_than_the_question_named_is_not_kept(project: Path) -> None:
    # A spec saved between the question's digests and the load: the plan is of the new bytes, and
    # kept under the old ones' digest it would be shown if the file were put back as it was.
    asked = Asked(keys.SEGMIND, (), (), 8, False, None, 10, False, ("digest-asked",))
    empty = Plan((), Orphans(), Totals(dict.fromkeys(ORDER, 0), 0, 0.0, 0.0, 8), keys.SEGMIND)
    with Store.open(project / ".reconciler") as store:
        kept = LastPlan(project / ".reconciler", asked)
        nothing = Observation(stored={}, attempts={})
        kept.keep(store, store.change_token(), SpecSet((), ()), empty, nothing, read=("digest-loaded",))
        assert not (project / KEPT).exists()
        kept.keep(store, store.change_token(), SpecSet((), ()), empty, nothing, read=("digest-asked",))
        assert (project / KEPT).exists()

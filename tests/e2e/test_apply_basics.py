"""apply end to end: the real CLI against a real fake over HTTP, judged by the fake's journal."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

from mockserver.media import read_tags
from reconciler import keys
from reconciler.spec import load
from reconciler.store import Store, current_owner
from tests.e2e.conftest import spec, specs_file


def recorded_request_ids(project: Path) -> dict[str, str]:
    with sqlite3.connect(project / ".reconciler" / "state.sqlite") as db:
        return dict(db.execute("SELECT name_hint, request_id FROM outputs"))


def test_apply_makes_every_spec_and_lays_it_out_as_a_playable_mp4(fake, apply, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog", model="wan2.1-t2v")))
    run = apply("--yes")
    assert run.code == 0, run.err + run.out
    assert len(fake.submits()) == 2
    ids = recorded_request_ids(project)
    for name in ("cat", "dog"):
        video = project / "out" / f"{name}.mp4"
        assert read_tags(video)["request_id"] == ids[name]


def test_a_second_apply_submits_nothing(fake, apply, write) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    assert apply("--yes").code == 0
    before = len(fake.journal())
    run = apply("--yes")
    assert run.code == 0
    assert len(fake.submits()) == 2
    assert fake.journal()[before:] == []  # not even a status poll
    assert "2 up to date" in run.out


def test_renaming_a_spec_submits_nothing_and_moves_its_file(fake, apply, write, project) -> None:
    path = write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    assert apply("--yes").code == 0
    path.write_text(specs_file(spec("kitten", "a cat")))
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 1
    assert (project / "out" / "kitten.mp4").is_file()
    assert not (project / "out" / "cat.mp4").exists()


def test_changing_one_parameter_submits_that_spec_alone(fake, apply, write) -> None:
    path = write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
    assert apply("--yes").code == 0
    path.write_text(specs_file(spec("cat", "a cat", seed=2), spec("dog", "a dog")))
    assert apply("--yes").code == 0
    submits = fake.submits()
    assert len(submits) == 3
    assert submits[-1]["body"]["seed"] == 2


def test_two_specs_with_one_request_share_one_submit(fake, apply, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("same-cat", "a cat")))
    assert apply("--yes").code == 0
    assert len(fake.submits()) == 1
    assert (project / "out" / "cat.mp4").read_bytes() == (project / "out" / "same-cat.mp4").read_bytes()


def test_a_blocked_prompt_fails_with_the_servers_reason_and_is_not_retried(fake, apply, write) -> None:
    write("specs/a.yaml", specs_file(spec("bad", "an nsfw scene"), spec("good", "a garden")))
    run = apply("--yes")
    assert run.code == 1
    assert "content policy" in run.out
    assert apply("--yes").code == 1
    assert len(fake.submits()) == 2  # the blocked one once, the good one once


def test_json_prints_one_event_per_line_and_a_summary(fake, apply, write) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply("--yes", "--json")
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert lines[0]["event"] == "plan"
    assert lines[-1]["event"] == "summary"
    assert lines[-1]["exit_code"] == 0
    assert [e["phase"] for e in lines if e["event"] == "job"][-1] == "stored"


def test_the_api_key_appears_nowhere_a_user_or_a_log_can_see(fake, apply, write, project, monkeypatch) -> None:
    secret = "sk-very-secret-key-123"
    fake.configure(keys={secret: 100.0})
    monkeypatch.setenv("SEGMIND_API_KEY", secret)
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply("--yes", "--json")
    assert run.code == 0
    assert secret not in run.out + run.err
    state = (project / ".reconciler" / "state.sqlite").read_bytes()
    assert secret.encode() not in state


def test_apply_off_a_terminal_without_yes_submits_nothing(fake, apply, write) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply()
    assert run.code == 1
    assert "--yes" in run.err
    assert fake.submits() == []


def test_apply_without_a_key_says_how_to_give_one(fake, apply, write, monkeypatch) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY")
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply("--yes")
    assert run.code == 1
    assert "SEGMIND_API_KEY" in run.err
    assert "Traceback" not in run.err


def test_a_local_image_is_uploaded_once_per_content_and_remembered(fake, apply, write, project) -> None:
    still = (Path(__file__).parents[2] / "specs" / "stills" / "trench-coat.png").read_bytes()
    (project / "specs" / "one.png").write_bytes(still)
    (project / "specs" / "same-bytes.png").write_bytes(still)
    entries = [
        spec("a", "a man", model="wan2.1-i2v-480p", image="one.png"),
        spec("b", "a man waving", model="wan2.1-i2v-480p", image="same-bytes.png"),
    ]
    write("specs/a.yaml", specs_file(*entries))
    assert apply("--yes").code == 0
    uploads = [e for e in fake.journal() if e["path"] == "/upload-asset"]
    assert len(uploads) == 1
    bodies = [s["body"] for s in fake.submits()]
    assert bodies[0]["image"] == bodies[1]["image"]
    assert bodies[0]["image"].startswith("http")
    write("specs/a.yaml", specs_file(*entries, spec("c", "a man nodding", model="wan2.1-i2v-480p", image="one.png")))
    assert apply("--yes").code == 0
    assert len([e for e in fake.journal() if e["path"] == "/upload-asset"]) == 1


def test_apply_mock_serves_its_own_fake_and_keeps_its_videos_apart(cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    first = cli("apply", "--mock")  # no --yes needed: the bundled fake costs nothing
    assert first.code == 0, first.err
    assert (project / "out" / "cat.mp4").is_file()
    assert "1 up to date" in cli("apply", "--mock").out
    plan = cli("plan", "--json")  # against the real API, the fake's video does not count
    assert '"action": "create"' in plan.out


def test_apply_mock_leaves_a_killed_real_applys_paid_job_for_the_real_api(cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    (entry,) = load(["specs"]).entries
    with Store.open(project / ".reconciler") as store:
        dead = dataclasses.replace(current_owner(), pid=4_000_000, started=1)  # the real apply was killed
        real = keys.entry_key(keys.SEGMIND, entry)
        attempt = store.claim(real, namespace=keys.SEGMIND, model=entry.model, request_body={}, owner=dead)
        assert attempt is not None
        store.record_submitted(attempt.id, "r-paid")
    assert cli("apply", "--mock").code == 0
    assert "in flight as request r-paid" in cli("plan").out  # still the real API's to finish, not bought again

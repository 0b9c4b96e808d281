"""`reconciler report` as a folder and as JSON: judged by the fake's records and the files themselves."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import av

from tests.conftest import put_blob
from tests.e2e.conftest import spec, specs_file

HREF = re.compile(r'(?:src|data-video)="([^"]+)"')


def links(index: Path) -> list[Path]:
    """Every file the page points at, resolved from the page's own folder."""
    return [(index.parent / unquote(href)).resolve() for href in HREF.findall(index.read_text(encoding="utf-8"))]


def test_report_json_says_what_the_fake_made_and_what_the_files_hold(fake, apply, cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog", model="wan2.1-t2v", video_length=2)))
    assert apply("--yes").code == 0
    run = cli("report", "--json")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["format_version"] == 1
    assert not (project / "report").exists()  # --json writes no folder
    jobs = {j["id"]: j for j in fake.jobs()}
    by_name = {s["name"]: s for s in document["specs"]}
    assert set(by_name) == {"cat", "dog"}
    for name, card in by_name.items():
        job = jobs[card["request_id"]]  # the request the fake made for it
        assert card["cost_usd"] == job["cost_usd"]
        assert card["status"] == "stored"
        with av.open(str(project / "out" / f"{name}.mp4")) as container:
            stream = container.streams.video[0]
            assert (card["video"]["width"], card["video"]["height"]) == (stream.width, stream.height)
    assert by_name["dog"]["params"] == {"video_length": "2"}  # only what differs from the model's defaults
    assert by_name["cat"]["seed"] == "1"
    assert by_name["cat"]["file"] == "specs/a.yaml"
    assert by_name["cat"]["line"] == 2
    assert document["totals"]["spent_usd"] == round(sum(j["cost_usd"] for j in jobs.values()), 6)
    assert document["totals"]["stored"] == 2
    assert document["totals"]["create"] == 0


def test_a_report_links_to_out_and_with_copy_stands_alone(fake, apply, cli, write, project, tmp_path_factory) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("pets/dog", "a dog")))
    assert apply("--yes").code == 0
    assert cli("report").code == 0
    index = project / "report" / "index.html"
    linked = links(index)
    assert {p for p in linked if p.suffix == ".mp4"} == {
        (project / "out" / "cat.mp4"),
        (project / "out" / "pets/dog.mp4"),
    }
    assert all(p.is_file() for p in linked)

    assert cli("report", "--copy", "-o", "artifact").code == 0
    moved = tmp_path_factory.mktemp("elsewhere") / "artifact"
    shutil.move(project / "artifact", moved)
    shutil.rmtree(project / "out")
    copied = links(moved / "index.html")
    assert len(copied) == 4
    assert all(p.is_file() and moved in p.parents for p in copied)


def test_a_second_report_reuses_the_posters_it_made(fake, apply, cli, write, project) -> None:
    write("specs/a.yaml", specs_file(*(spec(f"v{n}", f"scene {n}") for n in range(4))))
    assert apply("--yes").code == 0
    assert cli("report").code == 0
    cache = project / ".reconciler" / "cache" / "posters"
    made = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len([p for p in made if p.suffix == ".jpg"]) == 4
    time.sleep(0.01)
    assert cli("report").code == 0
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == made  # nothing decoded or written again


def test_a_report_of_a_store_with_nothing_made_shows_every_spec_to_create(cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat"), spec("dog", "a dog", model="wan2.1-t2v")))
    run = cli("report")
    assert run.code == 0, run.err
    assert "0 of 2 videos stored, 2 to make" in run.out
    page = (project / "report" / "index.html").read_text(encoding="utf-8")
    assert page.count('data-status="create"') == 2
    assert "$0.099" in page
    assert "$0.85" in page
    assert not (project / ".reconciler" / "state.sqlite").exists()  # looking creates no store


def test_a_report_folder_that_cannot_be_written_is_one_clear_error(cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    (project / "report").write_text("a file where the folder should be")
    run = cli("report")
    assert run.code == 1
    assert "cannot create the report folder report" in run.err
    assert "Traceback" not in run.err


def test_apply_ends_with_the_report_hint(fake, apply, write) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = apply("--yes")
    assert run.code == 0
    assert "reconciler report --open" in run.err
    assert "reconciler report" not in apply("--yes", "--json").err  # JSON runs stay machine-readable


def test_report_mock_shows_what_apply_mock_made(cli, write, project) -> None:
    write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    run = cli("apply", "--mock", "--yes")
    assert run.code == 0
    assert "reconciler report --mock --open" in run.err
    assert json.loads(cli("report", "--json").out)["totals"]["stored"] == 0  # the real API's namespace
    mocked = json.loads(cli("report", "--mock", "--json").out)
    assert mocked["namespace"] == "mock"
    assert mocked["totals"]["stored"] == 1


def test_a_job_in_flight_is_a_pending_card_with_its_request_id(fake, write, project, processes, cli) -> None:
    write("specs/a.yaml", specs_file(spec("slow", "a slow scene")))
    fake.configure(latency_s={"wan-2.2-t2v-fast": 100_000})
    victim = processes.apply(scale=0.004)
    deadline = time.monotonic() + 30
    while not fake.submits() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the request id is recorded right after the submit is answered
    processes.kill(victim)
    [job] = fake.jobs()
    document = json.loads(cli("report", "--json").out)
    [card] = document["specs"]
    assert card["status"] == "pending"
    assert card["request_id"] == job["id"]


def test_watch_report_rewrites_the_gallery_after_every_stored_video(fake, write, project) -> None:
    from tests.e2e.test_watch import Watch

    path = write("specs/a.yaml", specs_file(spec("cat", "a cat")))
    watch = Watch(project, fake.env(), "--yes", "--report")
    index = project / "report" / "index.html"

    def shows(name: str) -> bool:
        return index.is_file() and f'data-name="{name}" data-status="stored"' in index.read_text(encoding="utf-8")

    try:
        watch.wait_for(lambda: shows("cat"), "the first video in the report")
        path.write_text(specs_file(spec("cat", "a cat"), spec("dog", "a dog")))
        watch.wait_for(lambda: shows("dog"), "the new video in the report")
        assert len(fake.submits()) == 2
        assert watch.stop() == 130
        assert "reconciler report --open" in watch.output
    finally:
        watch.close()


def test_a_stored_video_that_cannot_be_decoded_gets_a_card_and_a_warning_not_a_crash(cli, write, project) -> None:
    from reconciler import keys
    from reconciler.spec import load
    from reconciler.store import Store

    write("specs/a.yaml", specs_file(spec("broken", "a cat"), spec("later", "a dog")))
    [broken, _] = load(["specs"]).entries
    with Store.open(project / ".reconciler") as store:
        blob = put_blob(store, [b"this is not an mp4 at all"])
        store.record_output(keys.entry_key(keys.SEGMIND, broken), digest=blob.digest, size=blob.size,
                            model=broken.model, request_id="req-1", cost_usd=0.1, namespace=keys.SEGMIND)  # fmt: skip
    run = cli("report")
    assert run.code == 0
    assert "warning: broken: cannot decode" in run.err
    assert "Traceback" not in run.err
    page = (project / "report" / "index.html").read_text(encoding="utf-8")
    assert 'data-name="broken" data-status="stored"' in page
    assert 'data-name="later" data-status="create"' in page
    [card] = [s for s in json.loads(cli("report", "--json").out)["specs"] if s["name"] == "broken"]
    assert card["video"]["poster"] is None
    assert card["video"]["width"] is None

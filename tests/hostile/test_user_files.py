"""The user's files (issue 13): out/ only loses what the reconciler placed, and reports agree with the files.

Every run is the real CLI in its own process (the `hostile` fixture: memory cap, timeout). The
oracles read the files on disk and the fake's journal, never the reconciler's own answers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Fake, serving_fake, spec, specs_file
from tests.hostile.conftest import Answer

pytestmark = pytest.mark.timeout(180)

Hostile = Callable[..., Answer]
Write = Callable[[str, str], Path]
SPECS = specs_file(spec("cat", "A cat"), spec("dog", "A dog", seed=2))
WEDDING = b"our wedding, the only copy"


@pytest.fixture
def fake() -> Iterator[Fake]:
    with serving_fake() as served:
        yield served


def applied(hostile: Hostile, *args: str, env: dict[str, str] | None = None) -> Answer:
    run = hostile("apply", "--yes", *args, env=env)
    assert run.code == 0, run.text
    return run


def blob_of(video: Path, project: Path) -> Path:
    hexdigest = hashlib.sha256(video.read_bytes()).hexdigest()
    return project / ".reconciler" / "objects" / "sha256" / hexdigest[:2] / hexdigest[2:]


def set_user_version(project: Path, version: int) -> None:
    db = sqlite3.connect(project / ".reconciler" / "state.sqlite")
    try:
        db.execute(f"PRAGMA user_version = {version}")
        db.commit()
    finally:
        db.close()


def outputs_rows(project: Path) -> int:
    db = sqlite3.connect((project / ".reconciler" / "state.sqlite").as_uri() + "?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM outputs").fetchone()[0])
    finally:
        db.close()


def test_apply_into_a_symlinked_out_says_so_and_never_deletes_videos_it_did_not_make(
    project: Path, write: Write, hostile: Hostile
) -> None:
    write("specs/a.yaml", SPECS)
    videos = project / "videos"
    (videos / "holiday").mkdir(parents=True)
    (videos / "wedding.mp4").write_bytes(WEDDING)
    (videos / "holiday" / "beach.mp4").write_bytes(b"sand")
    (project / "out").symlink_to(videos, target_is_directory=True)
    run = applied(hostile, "--mock")
    run.assert_clean_error(f"out is a symlink to {videos}", "left alone out/wedding.mp4", code=0)
    assert "left alone out/holiday/beach.mp4" in run.text
    assert (videos / "wedding.mp4").read_bytes() == WEDDING
    assert (videos / "holiday" / "beach.mp4").read_bytes() == b"sand"
    assert (videos / "cat.mp4").is_file()
    assert (videos / "dog.mp4").is_file()


def layout_into_albums(project: Path, write: Write, hostile: Hostile, users_file: str) -> tuple[Path, Answer]:
    """Apply, then `layout --out albums` into a folder already holding one file of the user's."""
    write("specs/a.yaml", SPECS)
    applied(hostile, "--mock")
    albums = project / "albums"
    albums.mkdir()
    (albums / users_file).write_bytes(WEDDING)
    return albums, hostile("layout", "--mock", "--out", "albums")


def test_layout_into_a_folder_of_the_users_never_deletes_a_video_it_did_not_make(
    project: Path, write: Write, hostile: Hostile
) -> None:
    albums, run = layout_into_albums(project, write, hostile, "wedding.mp4")
    run.assert_clean_error("left alone albums/wedding.mp4", "2 of 2 specs laid out under albums/", code=0)
    assert (albums / "wedding.mp4").read_bytes() == WEDDING
    assert (albums / "cat.mp4").read_bytes() == (project / "out" / "cat.mp4").read_bytes()


def test_a_users_file_where_a_specs_video_goes_is_left_alone_and_not_counted_as_laid_out(
    project: Path, write: Write, hostile: Hostile
) -> None:
    albums, run = layout_into_albums(project, write, hostile, "cat.mp4")
    run.assert_clean_error("left alone albums/cat.mp4", "1 of 2 specs laid out under albums/", code=1)
    assert (albums / "cat.mp4").read_bytes() == WEDDING
    assert (albums / "dog.mp4").read_bytes() == (project / "out" / "dog.mp4").read_bytes()


def test_apply_and_layout_say_the_same_about_out_because_they_mirror_it_through_one_function(
    project: Path, write: Write, hostile: Hostile
) -> None:
    write("specs/a.yaml", SPECS)
    (project / "out").mkdir()
    (project / "out" / "wedding.mp4").write_bytes(WEDDING)
    (project / "out" / "stale.mp4").symlink_to(project / "specs" / "a.yaml")
    by_apply = applied(hostile, "--mock")
    by_layout = hostile("layout", "--mock")
    by_layout.assert_clean_error("2 of 2 specs laid out under out/", code=0)
    assert "2 laid out" in by_apply.text
    said = [line for line in by_layout.out.splitlines() if line.startswith("left alone ")]
    assert sorted(said) == [
        f"left alone out/stale.mp4 (a symlink to {project / 'specs' / 'a.yaml'}, which the reconciler never makes)",
        "left alone out/wedding.mp4 (not placed by the reconciler: its bytes are no video in the store"
        " (yours, or a last copy))",
    ]
    for line in said:
        assert line in by_apply.text
    assert (project / "out" / "wedding.mp4").read_bytes() == WEDDING
    assert (project / "out" / "stale.mp4").is_symlink()


def test_a_video_deleted_from_the_store_is_planned_again_fetched_unpaid_and_not_counted_as_laid_out(
    project: Path, write: Write, hostile: Hostile, fake: Fake
) -> None:
    write("specs/a.yaml", SPECS)
    applied(hostile, env=fake.env())
    assert len(fake.submits()) == 2
    cat = project / "out" / "cat.mp4"
    blob = blob_of(cat, project)
    blob.unlink()
    plan = hostile("plan", "--json", env=fake.env())
    plan.assert_clean_error(code=0)
    actions = {s["name"]: (s["action"], s["reason"]) for s in json.loads(plan.out)["specs"]}
    assert actions["dog"][0] == "noop"
    assert actions["cat"][0] == "create"
    assert "gone from the store" in actions["cat"][1]
    assert hostile("plan", "--detailed-exitcode", env=fake.env()).code == 2
    layout = hostile("layout")
    layout.assert_clean_error("missing cat (its video sha256:", "1 of 2 specs laid out under out/", code=1)
    assert cat.is_file(), "out/ may hold the last copy of a video the store lost: it is left alone"
    applied(hostile, env=fake.env())
    assert len(fake.submits()) == 2, "fetched again by its request id: nothing is paid twice"
    assert blob.is_file()
    hostile("layout").assert_clean_error("2 of 2 specs laid out under out/", code=0)


@pytest.mark.parametrize("version", [0, -1])
def test_a_store_with_tables_but_no_valid_user_version_gets_one_sentence_from_plan_and_apply_alike(
    project: Path, write: Write, hostile: Hostile, version: int
) -> None:
    write("specs/a.yaml", SPECS)
    applied(hostile, "--mock")
    set_user_version(project, version)
    state = str(Path(".reconciler") / "state.sqlite")
    by_plan = hostile("plan", "--mock")
    by_apply = hostile("apply", "--mock", "--yes")
    by_layout = hostile("layout", "--mock")
    for run in (by_plan, by_apply, by_layout):
        run.assert_clean_error(state, "PRAGMA user_version", f"version {version}" if version else "is 0", code=1)
        assert run.err.strip().splitlines()[-1] == by_plan.err.strip().splitlines()[-1]
    assert outputs_rows(project) == 2, "the store is left as it was"

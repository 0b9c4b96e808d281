"""out/<name>.mp4 mirrors the wanted set, layout removes only what it placed, and touches nothing outside out/."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import OutputNameError
from reconciler.store import AttemptState, LayoutAction, Store
from tests.conftest import put_blob


def key(n: int) -> str:
    return "sha256:" + f"{n:x}".rjust(64, "0")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def test_a_wanted_output_is_a_hard_link_to_its_blob(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video one"])
    report = store.layout(out, {"one": info.digest})
    assert report.paths(LayoutAction.LINKED) == (out / "one.mp4",)
    assert os.path.samefile(out / "one.mp4", info.path)


def test_names_with_slashes_become_subdirectories(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    store.layout(out, {"launch/teaser": info.digest})
    assert (out / "launch" / "teaser.mp4").read_bytes() == b"video"


def test_laying_out_twice_changes_nothing(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    store.layout(out, {"one": info.digest})
    report = store.layout(out, {"one": info.digest})
    assert report.paths(LayoutAction.UNCHANGED) == (out / "one.mp4",)
    assert len(report.changes) == 1


def test_a_changed_output_is_replaced(store: Store, out: Path) -> None:
    old = put_blob(store, [b"old cut"])
    new = put_blob(store, [b"new cut"])
    store.layout(out, {"one": old.digest})
    report = store.layout(out, {"one": new.digest})
    assert report.paths(LayoutAction.REPLACED) == (out / "one.mp4",)
    assert (out / "one.mp4").read_bytes() == b"new cut"
    assert old.path.read_bytes() == b"old cut", "replacing the link never writes through to the old blob"


def test_a_removed_or_renamed_spec_loses_its_file_and_emptied_directories(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    store.layout(out, {"drafts/old-name": info.digest})
    report = store.layout(out, {"final/new-name": info.digest})
    assert report.paths(LayoutAction.REMOVED) == (out / "drafts" / "old-name.mp4",)
    assert not (out / "drafts").exists()
    assert (out / "final" / "new-name.mp4").read_bytes() == b"video"


def test_files_that_layout_could_not_have_made_are_left_alone(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "README.txt").write_text("mine")
    (out / "empty-dir-of-mine").mkdir()
    store.layout(out, {"one": info.digest})
    assert (out / "notes" / "README.txt").read_text() == "mine"
    assert (out / "empty-dir-of-mine").is_dir()


def test_a_symlink_inside_out_is_never_followed(store: Store, out: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.mp4").write_bytes(b"not ours")
    out.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    info = put_blob(store, [b"video"])
    report = store.layout(out, {"link/precious": info.digest, "one": info.digest})
    assert len(report.problems) == 1
    assert "symlink" in report.problems[0]
    assert (elsewhere / "precious.mp4").read_bytes() == b"not ours"
    assert (out / "one.mp4").exists()


@pytest.mark.parametrize("name", ["", "../escape", "/etc/passwd", "a//b", "a/./b", "a\\b"])
def test_a_name_that_would_escape_out_is_refused_before_anything_changes(store: Store, out: Path, name: str) -> None:
    info = put_blob(store, [b"video"])
    with pytest.raises(OutputNameError):
        store.layout(out, {"fine": info.digest, name: info.digest})
    assert not out.exists()


def test_a_missing_blob_is_reported_and_other_outputs_still_laid_out(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    report = store.layout(out, {"one": info.digest, "two": "sha256:" + "0" * 64})
    assert report.paths(LayoutAction.LINKED) == (out / "one.mp4",)
    assert "not in the store" in report.problems[0]


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem at /dev/shm")
def test_an_out_dir_on_another_filesystem_gets_copies(store: Store, tmp_path: Path) -> None:
    import tempfile

    info = put_blob(store, [b"video across devices"])
    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        shm_out = Path(shm) / "out"
        if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same filesystem here")
        report = store.layout(shm_out, {"one": info.digest})
        assert report.paths(LayoutAction.COPIED) == (shm_out / "one.mp4",)
        assert (shm_out / "one.mp4").read_bytes() == b"video across devices"
        assert store.layout(shm_out, {"one": info.digest}).paths(LayoutAction.UNCHANGED) == (shm_out / "one.mp4",)


def test_an_unwanted_mp4_symlink_into_the_store_is_removed_without_touching_its_target(store: Store, out: Path) -> None:
    info = put_blob(store, [b"ours"])
    out.mkdir()
    (out / "old.mp4").symlink_to(info.path)
    store.layout(out, {})
    assert not os.path.lexists(out / "old.mp4")
    assert info.path.read_bytes() == b"ours"


def test_an_mp4_symlink_to_somewhere_else_is_left_alone_and_named(store: Store, out: Path, tmp_path: Path) -> None:
    # Was removed before issue 13: the reconciler never makes symlinks, so this one is the user's.
    target = tmp_path / "keep-me.mp4"
    target.write_bytes(b"someone else's")
    out.mkdir()
    (out / "old.mp4").symlink_to(target)
    report = store.layout(out, {})
    assert os.readlink(out / "old.mp4") == str(target)
    assert target.read_bytes() == b"someone else's"
    assert report.paths(LayoutAction.KEPT) == (out / "old.mp4",)
    assert "symlink" in str(report.changes[0])


def test_a_temp_file_left_by_a_crashed_layout_is_cleaned_up(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    out.mkdir()
    (out / ".one.mp4.0123456789ab.layout-tmp").write_bytes(b"half")
    store.layout(out, {"one": info.digest})
    assert sorted(p.name for p in out.iterdir()) == ["one.mp4"]


def test_an_unwanted_mp4_layout_did_not_make_is_left_alone_and_named(store: Store, out: Path) -> None:
    out.mkdir()
    (out / "wedding.mp4").write_bytes(b"the only copy")
    report = store.layout(out, {})
    assert report.paths(LayoutAction.KEPT) == (out / "wedding.mp4",)
    assert "not placed by the reconciler" in str(report.changes[0])
    assert (out / "wedding.mp4").read_bytes() == b"the only copy"


def test_a_copy_of_a_stored_video_is_the_reconcilers_and_is_removed_when_unwanted(
    store: Store, out: Path, record: Callable[..., str]
) -> None:
    record(key(1), b"a stored video")
    out.mkdir()
    (out / "copied.mp4").write_bytes(b"a stored video")  # what a layout across filesystems leaves
    report = store.layout(out, {})
    assert report.paths(LayoutAction.REMOVED) == (out / "copied.mp4",)


def test_a_file_of_the_users_where_a_spec_goes_is_left_alone_not_replaced(store: Store, out: Path) -> None:
    info = put_blob(store, [b"video"])
    out.mkdir()
    (out / "one.mp4").write_bytes(b"mine")
    report = store.layout(out, {"one": info.digest})
    assert report.paths(LayoutAction.KEPT) == (out / "one.mp4",)
    assert (out / "one.mp4").read_bytes() == b"mine"


def test_an_old_video_whose_blob_is_gone_is_kept_as_it_may_be_the_last_copy(store: Store, out: Path) -> None:
    info = put_blob(store, [b"paid for once"])
    store.layout(out, {"old": info.digest})
    info.path.unlink()  # gc, or a person, removed the blob: out/old.mp4 now holds the only copy
    report = store.layout(out, {})
    assert report.paths(LayoutAction.KEPT) == (out / "old.mp4",)
    assert (out / "old.mp4").read_bytes() == b"paid for once"


def test_a_symlinked_out_dir_is_followed_and_said(store: Store, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").symlink_to(elsewhere, target_is_directory=True)
    info = put_blob(store, [b"video"])
    report = store.layout(tmp_path / "out", {"one": info.digest})
    assert report.notes
    assert f"is a symlink to {elsewhere}" in report.notes[0]
    assert (elsewhere / "one.mp4").read_bytes() == b"video"


def test_mirror_counts_only_the_files_it_laid_out_and_names_each_missing_spec(
    store: Store, out: Path, record: Callable[..., str]
) -> None:
    record(key(1), b"one")
    gone = record(key(2), b"two")
    store.blob_path(gone).unlink()
    out.mkdir()
    (out / "taken.mp4").write_bytes(b"mine")
    record(key(4), b"four")
    mirrored = store.mirror(out, {"one": key(1), "two": key(2), "three": key(3), "taken": key(4)})
    assert (mirrored.laid_out, mirrored.wanted, mirrored.complete) == (1, 4, False)
    assert mirrored.missing == ("three",)
    assert mirrored.lost == (("two", gone),)
    lines = mirrored.lines()
    assert lines[-1] == f"1 of 4 specs laid out under {out}/"
    assert f"missing two (its video {gone} is gone from the store: reconciler apply fetches it again)" in lines
    assert any(line.startswith(f"left alone {out / 'taken.mp4'}") for line in mirrored.attention())


def test_an_output_whose_blob_is_gone_is_not_stored_and_its_claim_fetches_it_again(
    store: Store, record: Callable[..., str]
) -> None:
    first = store.claim(key(1), namespace="fake", model="wan2.7-t2v", request_body={})
    assert first is not None
    store.record_submitted(first.id, "r-paid")
    digest = record(key(1), b"paid", attempt_id=first.id)
    store.blob_path(digest).unlink()
    assert store.outputs_for([key(1)]) == {}
    assert set(store.observe([key(1)]).lost) == {key(1)}
    again = store.claim(key(1), namespace="fake", model="wan2.7-t2v", request_body={})
    assert again is not None
    assert (again.state, again.request_id) == (AttemptState.COMPLETED, "r-paid")

"""Which of many blobs are here is remembered while their directories stay as they were, and never
believed past a change: a blob deleted, added, a directory swapped for a copy, a link whose target
goes, a damaged or hostile answers file. A clock ten seconds ahead makes every directory settled at once
(tests/store/blobfiles.py); blobs behind permissions: test_blob_permissions.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.store.presence import FORMAT, MAX_FILE_BYTES
from tests.store.blobfiles import MANY, digest, objects_at, put


def kept(root: Path, stored: list[str]) -> tuple[Path, list[Any]]:
    """Ask about `stored` once: the answers file, and the answer it kept ([question, stamps, blobs gone])."""
    objects_at(root).present(stored)
    path = root / "cache" / "blobs.json"
    return path, json.loads(path.read_bytes())["answers"][0]


def holding(answer: list[Any]) -> str:
    """An answers file holding only `answer`, as a hand might write it."""
    return json.dumps({"format": FORMAT, "answers": [answer]})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def stored(root: Path) -> list[str]:
    """MANY blobs, all there."""
    objects = objects_at(root)
    blobs = [digest(n) for n in range(MANY)]
    for d in blobs:
        put(objects, d)
    return blobs


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every look at a blob or a shard directory's entries (the stat of a directory itself is no look)."""
    seen: list[str] = []
    lstat, scandir = os.lstat, os.scandir

    def counted_lstat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(f"lstat {path}")
        return lstat(path, *args, **kwargs)

    def counted_scandir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(f"scandir {path}")
        return scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counted_lstat)
    monkeypatch.setattr(os, "scandir", counted_scandir)
    return seen


@pytest.mark.parametrize("listing", [False, True])
def test_the_same_question_of_unchanged_directories_is_answered_without_looking_at_a_blob(
    root: Path, stored: list[str], looks: list[str], listing: bool
) -> None:
    assert objects_at(root).present(stored, listing=listing) == set(stored)
    assert looks  # the first answer looked
    looks.clear()
    assert objects_at(root).present(stored, listing=listing) == set(stored)  # another run, the same question
    assert looks == []


@pytest.mark.parametrize("listing", [False, True])
def test_a_blob_deleted_after_the_answer_was_kept_is_gone(root: Path, stored: list[str], listing: bool) -> None:
    objects_at(root).present(stored, listing=listing)
    objects_at(root).path(stored[7]).unlink()  # as a user deleting it by hand, a moment later
    assert objects_at(root).present(stored, listing=listing) == set(stored) - {stored[7]}


@pytest.mark.parametrize("listing", [False, True])
def test_a_blob_put_back_after_the_answer_was_kept_is_there(root: Path, stored: list[str], listing: bool) -> None:
    objects = objects_at(root)
    objects.path(stored[3]).unlink()
    assert objects.present(stored, listing=listing) == set(stored) - {stored[3]}
    put(objects, stored[3])
    assert objects_at(root).present(stored, listing=listing) == set(stored)


def test_a_shard_directory_swapped_for_a_copy_with_the_same_times_is_looked_at_again(
    root: Path, stored: list[str]
) -> None:
    objects_at(root).present(stored)
    shard = objects_at(root).path(stored[0]).parent
    copy = shard.with_name("copy")
    shutil.copytree(shard, copy)
    (copy / objects_at(root).path(stored[0]).name).unlink()  # a copy that lost a blob...
    shutil.copystat(shard, copy)  # ...with the directory's times as they were (cp -a, rsync -a)
    shutil.rmtree(shard)
    copy.rename(shard)
    assert objects_at(root).present(stored) == set(stored) - {stored[0]}


@pytest.mark.parametrize("listing", [False, True])
def test_no_answer_is_kept_of_a_directory_changed_too_recently_to_be_sure_of(root: Path, listing: bool) -> None:
    objects = objects_at(root, now_ns=time.time_ns)  # the real clock: the blobs were written just now
    blobs = [digest(n) for n in range(MANY)]
    for d in blobs:
        put(objects, d)
    assert objects.present(blobs, listing=listing) == set(blobs)
    assert not (root / "cache" / "blobs.json").exists()


@pytest.mark.parametrize("listing", [False, True])
def test_an_answer_that_saw_a_linked_blob_is_not_kept(
    root: Path, stored: list[str], tmp_path: Path, listing: bool
) -> None:
    objects = objects_at(root)
    target = tmp_path / "kept elsewhere"
    target.write_bytes(b"a video")
    linked = objects.path(stored[5])
    linked.unlink()
    linked.symlink_to(target)
    assert objects_at(root).present(stored, listing=listing) == set(stored)
    target.unlink()  # the link's directory does not change
    assert objects_at(root).present(stored, listing=listing) == set(stored) - {stored[5]}


WRITTEN = {
    "empty": b"",
    "not json": b"\x00\x01 not json",
    "another format": json.dumps({"format": "reconciler-blob-answers/0", "answers": []}).encode(),
}


@pytest.mark.parametrize("damage", [*WRITTEN, "a stamp of four numbers", "a list for the answer's stamps"])
def test_a_damaged_answers_file_is_ignored_and_the_blobs_looked_at(root: Path, stored: list[str], damage: str) -> None:
    path, (question, relied, _) = kept(root, stored)
    objects_at(root).path(stored[9]).unlink()
    if damage == "a stamp of four numbers":
        path.write_text(holding([question, {s: t[:4] for s, t in relied.items()}, []]))
    elif damage == "a list for the answer's stamps":
        path.write_text(holding([question, list(relied.values()), []]))
    else:
        path.write_bytes(WRITTEN[damage])
    assert objects_at(root).present(stored) == set(stored) - {stored[9]}


def test_a_kept_answer_is_believed_while_its_directories_are_unchanged(root: Path, stored: list[str]) -> None:
    # What the answers file says is trusted as far as the directories' stamps go, and no further:
    # an answer written by hand claiming a blob gone is believed until a directory changes.
    path, (question, relied, _) = kept(root, stored)
    path.write_text(holding([question, relied, [stored[2]]]))
    assert objects_at(root).present(stored) == set(stored) - {stored[2]}
    (objects_at(root).path(stored[2]).parent / "notes").write_bytes(b"")  # its directory changes
    assert objects_at(root).present(stored) == set(stored)


def test_an_answers_file_that_cannot_be_written_is_no_error(root: Path, stored: list[str]) -> None:
    (root / "cache").write_bytes(b"a file where the cache directory would be")
    assert objects_at(root).present(stored) == set(stored)
    assert objects_at(root).present(stored) == set(stored)


def test_questions_are_kept_a_few_at_a_time_the_latest_first(root: Path, stored: list[str]) -> None:
    questions = [stored[n:] for n in range(6)]
    for asked in questions:
        objects_at(root).present(asked)
    document = json.loads((root / "cache" / "blobs.json").read_bytes())
    assert len(document["answers"]) == 4
    for asked in questions:
        assert objects_at(root).present(asked) == set(asked)


def test_an_answers_file_nested_too_deep_to_read_is_ignored(root: Path, stored: list[str]) -> None:
    (root / "cache").mkdir()
    (root / "cache" / "blobs.json").write_text('{"format": "reconciler-blob-answers/1", "answers": ' + "[" * 100_000)
    objects_at(root).path(stored[4]).unlink()
    assert objects_at(root).present(stored) == set(stored) - {stored[4]}


def test_an_answer_relying_on_a_directory_that_cannot_be_named_is_ignored(root: Path, stored: list[str]) -> None:
    path, (question, relied, _) = kept(root, stored)
    path.write_text(holding([question, {**relied, "a\x00": None}, []]))
    objects_at(root).path(stored[6]).unlink()
    assert objects_at(root).present(stored) == set(stored) - {stored[6]}


def test_an_answers_file_larger_than_any_the_store_writes_is_not_read(root: Path, stored: list[str]) -> None:
    path, (question, relied, _) = kept(root, stored)
    with path.open("w") as file:  # a lie, then spaces (still JSON) past the size the store reads
        file.write(holding([question, relied, [stored[3]]]))
        for _ in range(MAX_FILE_BYTES // 2**20 + 1):
            file.write(" " * 2**20)
    assert objects_at(root).present(stored) == set(stored)


def test_an_answers_file_that_is_a_pipe_is_not_read(root: Path, stored: list[str], tmp_path: Path) -> None:
    # A pipe would make the plan wait for a writer that may never come; here one writes a lie.
    path, (question, relied, _) = kept(root, stored)
    path.unlink()
    os.mkfifo(path)
    pipe = tmp_path / "the same pipe"
    os.link(path, pipe)  # to reach it after the answers file is written anew
    lie = holding([question, relied, [stored[1]]]).encode()

    def write_the_lie() -> None:
        with contextlib.suppress(BrokenPipeError), pipe.open("wb") as writing:  # waits for a reader
            writing.write(lie)

    writer = threading.Thread(target=write_the_lie, daemon=True)
    writer.start()
    assert objects_at(root).present(stored) == set(stored)
    os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))  # lets the writer go on if it still waits
    writer.join()


def test_an_answer_that_relies_on_fewer_directories_than_its_blobs_are_in_is_not_believed(
    root: Path, stored: list[str]
) -> None:
    path, (question, _, gone) = kept(root, stored)
    path.write_text(holding([question, {}, gone]))  # as edited by hand
    objects_at(root).path(stored[8]).unlink()
    assert objects_at(root).present(stored) == set(stored) - {stored[8]}

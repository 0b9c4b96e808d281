"""Blobs behind permissions: a directory that may be searched but not listed is looked at file by
file (and a linked blob in it never remembered), and one that may not be searched is an error that
says so, never a blob taken for gone (it would be bought again). Run as nobody when we are root."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from reconciler.errors import StoreError
from tests.store.blobfiles import MANY, digest, objects_at, put


def as_one_whom_permissions_bind(work: Callable[[], set[str]]) -> set[str]:
    """`work` done by a user that file permissions apply to: nobody, in a child process, when we are root."""
    if os.geteuid() != 0:
        return work()
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.close(reading)
            os.setgid(65534)
            os.setuid(65534)
            os.write(writing, json.dumps(sorted(work())).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as answer:
        said = answer.read()
    os.waitpid(pid, 0)
    return set(json.loads(said))


def test_a_linked_blob_in_a_directory_that_cannot_be_listed_is_not_remembered_as_there() -> None:
    place = Path(tempfile.mkdtemp())  # where nobody may go (pytest's own folder is its owner's alone)
    try:
        place.chmod(0o755)
        root, target = place / "store", place / "kept elsewhere"
        objects = objects_at(root)
        blobs = [digest(n) for n in range(MANY)]
        for d in blobs:
            put(objects, d)
        target.write_bytes(b"a video")
        linked = objects.path(blobs[5])
        linked.unlink()
        linked.symlink_to(target)
        (root / "cache").mkdir(mode=0o777)
        (root / "cache").chmod(0o777)
        linked.parent.chmod(0o711)  # may be searched, not listed

        def ask() -> set[str]:
            return objects_at(root).present(blobs, listing=True)

        assert as_one_whom_permissions_bind(ask) == set(blobs)
        target.unlink()  # the link's directory does not change
        assert as_one_whom_permissions_bind(ask) == set(blobs) - {blobs[5]}
    finally:
        shutil.rmtree(place)


def test_a_blob_in_a_directory_that_cannot_be_searched_is_an_error_to_has_and_to_present_not_a_blob_gone() -> None:
    place = Path(tempfile.mkdtemp())
    try:
        place.chmod(0o755)
        objects = objects_at(place / "store")
        blobs = [digest(n) for n in range(3)]
        for d in blobs:
            put(objects, d)
        hidden = objects.path(blobs[1]).parent
        hidden.chmod(0o700)  # its owner's alone

        def answers() -> set[str]:
            seen, said = objects_at(place / "store"), set()
            for d in blobs:
                for asked in ("has", "present"):
                    try:
                        said.add(f"{asked} {d}: {seen.has(d) if asked == 'has' else d in seen.present([d])}")
                    except StoreError as error:
                        said.add(f"{asked} {d}: {error}")
            return said

        said = as_one_whom_permissions_bind(answers)
        for d in blobs:
            path = objects.path(d)
            expected = (
                f"cannot look at {path}: permission denied. Check the permissions of the store directory;"
                " a video stored there would otherwise be taken for lost and made again"
                if path.parent == hidden
                else "True"
            )
            assert {f"has {d}: {expected}", f"present {d}: {expected}"} <= said
    finally:
        shutil.rmtree(place)

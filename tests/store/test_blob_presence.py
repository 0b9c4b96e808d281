"""Whether a stored video's file is there: a stat per blob, or (asked about many) a listing of the
shard directories. Both say the same of files, directories, links and names that are no digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.store.objects import Objects
from tests.store.blobfiles import digest, objects_at, put


@pytest.fixture
def objects(tmp_path: Path) -> Objects:
    return objects_at(tmp_path / "store")


@pytest.mark.parametrize("listing", [False, True])
def test_a_blob_is_there_when_its_file_is_a_file_or_a_link_to_one(
    objects: Objects, tmp_path: Path, listing: bool
) -> None:
    files = [digest(n) for n in range(10)]
    for d in files:
        put(objects, d)
    a_directory, linked, dangling, missing = digest(10), digest(11), digest(12), digest(13)
    objects.path(a_directory).mkdir(parents=True)  # a directory named like a blob is no blob
    (tmp_path / "elsewhere").write_bytes(b"a video kept elsewhere")
    objects.path(linked).parent.mkdir(parents=True, exist_ok=True)
    objects.path(linked).symlink_to(tmp_path / "elsewhere")
    objects.path(dangling).parent.mkdir(parents=True, exist_ok=True)
    objects.path(dangling).symlink_to(tmp_path / "nothing")
    asked = [*files, a_directory, linked, dangling, missing]
    assert objects.present(asked, listing=listing) == {*files, linked}


@pytest.mark.parametrize("listing", [False, True])
def test_names_that_are_no_digest_are_never_there(objects: Objects, listing: bool) -> None:
    good = digest(1)
    shard = put(objects, good).parent
    (shard / "notes").write_bytes(b"a stray file in a shard directory")
    upper = "sha256:" + good.removeprefix("sha256:").upper()
    short = "sha256:" + good.removeprefix("sha256:")[:2] + "notes"
    assert objects.present([good, upper, short], listing=listing) == {good}


@pytest.mark.parametrize("listing", [False, True])
def test_a_shard_that_is_a_file_holds_no_blob(objects: Objects, listing: bool) -> None:
    d = digest(3)
    shard = objects.path(d).parent
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.write_bytes(b"not a directory")
    assert objects.present([d], listing=listing) == set()

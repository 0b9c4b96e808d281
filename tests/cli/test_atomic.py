"""Files the reconciler rewrites (the lock file, the parse cache, posters, the report) are replaced whole."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reconciler.atomic import replacing, write_atomic


class Interrupted(Exception):
    pass


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "reconciler.lock"
    target.write_bytes(b"old")

    def interrupted_write() -> None:
        with replacing(target) as temp:
            temp.write_bytes(b"half of the ne")
            raise Interrupted

    with pytest.raises(Interrupted):
        interrupted_write()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["reconciler.lock"]


def test_a_finished_write_replaces_the_file_with_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    target.write_bytes(b"old")
    write_atomic(target, b"new", durable=True, mode=0o644)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]

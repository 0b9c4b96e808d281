"""Fixtures for store tests: a real store in tmp_path, a clock the test moves, a dead owner."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.store import Owner, Store, current_owner
from tests.conftest import put_blob


class FakeClock:
    """A wall clock that only moves when a test says so; it starts at the real time, like file mtimes."""

    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / ".reconciler"


@pytest.fixture
def store(root: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(root, clock=clock) as opened:
        yield opened


@pytest.fixture
def dead_owner() -> Owner:
    """An owner on this host whose pid now belongs to another process (ours): it counts as dead."""
    me = current_owner()
    return dataclasses.replace(me, started=me.started + 1)


@pytest.fixture
def record(store: Store) -> Callable[..., str]:
    """Store bytes and record them as the output of a key; returns the blob digest."""

    def _record(key: str, data: bytes, *, attempt_id: int | None = None) -> str:
        info = put_blob(store, [data])
        store.record_output(
            key, digest=info.digest, size=info.size, model="wan2.7-t2v", request_id="r-" + key[-6:],
            cost_usd=0.5, namespace="fake", attempt_id=attempt_id,
        )  # fmt: skip
        return info.digest

    return _record

"""Blob files made by hand for the tests of blob presence: digests, an `Objects` whose clock runs
ten seconds ahead (so every directory counts as settled at once), and a file put in place."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.store.objects import Objects
from reconciler.store.owner import this_process
from reconciler.store.presence import REMEMBER_FROM

MANY = REMEMBER_FROM + 200  # enough blobs that their answer is remembered


def digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"blob-{n}".encode()).hexdigest()


def later() -> int:
    return time.time_ns() + 10 * 10**9


def objects_at(root: Path, now_ns: Callable[[], int] = later) -> Objects:
    made = Objects(root, this_process(), now_ns=now_ns)
    made.create_layout()
    return made


def put(objects: Objects, d: str) -> Path:
    path = objects.path(d)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a video")
    return path

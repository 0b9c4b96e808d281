"""The store's change token: every write of what a plan reads replaces it, and reading leaves it as it was.

A kept plan (runtime.lastplan) is shown again only while the token is the one it was made at, so a
write that left the token alone would have plan show a stale answer. The oracle here is the token
read with plain SQL, not the store's own method.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from reconciler.store import AttemptState, FailureReason, Owner, Store

K1, K2, K3 = (f"sha256:{n:064x}" for n in (1, 2, 3))


def token(root: Path) -> bytes:
    with sqlite3.connect(root / "state.sqlite") as conn:
        (value,) = conn.execute("SELECT token FROM last_change").fetchone()
    return bytes(value)


def test_every_write_a_plan_would_see_gives_the_store_a_new_token(
    store: Store, root: Path, record: Callable[..., str], dead_owner: Owner
) -> None:
    seen = [token(root)]

    def changed() -> None:
        now = token(root)
        assert now not in seen
        seen.append(now)

    digest = record(K1, b"video one")
    changed()
    record(K1, b"video one, fetched again")  # recorded again: the row is updated in place
    changed()
    attempt = store.claim(K2, namespace="fake", model="wan2.7-t2v", request_body={"prompt": "p"})
    assert attempt is not None
    changed()
    store.record_submitted(attempt.id, "r-2")
    changed()
    store.record_state(attempt.id, AttemptState.FAILED, error="refused", reason=FailureReason.PERMANENT)
    changed()
    taken = store.claim(K3, namespace="fake", model="wan2.7-t2v", request_body={}, owner=dead_owner)
    assert taken is not None
    changed()
    store.release(taken.id)
    changed()
    assert [r.name for r in store.gc({K2}).removed if r.kind.value == "output"] == [K1]
    changed()
    assert not store.has_blob(digest)


def test_reading_the_store_leaves_its_token_as_it_was(store: Store, root: Path, record: Callable[..., str]) -> None:
    record(K1, b"video one")
    before = token(root)
    store.observe({K1, K2}, roots={"fake": {K1}})
    store.open_attempts()
    store.latency_samples("wan2.7-t2v", "fake", limit=10)
    with Store.open_readonly(root) as view:
        assert view.change_token() == before
    assert token(root) == before


def test_a_store_made_again_from_its_receipts_has_a_token_it_never_had(
    store: Store, root: Path, record: Callable[..., str]
) -> None:
    record(K1, b"video one")
    before = token(root)
    store.close()
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    with Store.open(root) as again:
        assert again.restored is not None
        assert len(again.restored.restored) == 1
    assert token(root) != before

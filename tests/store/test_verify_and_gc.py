"""verify repairs what is wrong without losing paid bytes; gc removes only what no spec needs."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from reconciler.store import AttemptState, Owner, ProblemKind, RemovalKind, Store
from tests.conftest import put_blob


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest()


def corrupt(path: Path) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(b"bit rot")


def test_a_healthy_store_verifies_clean(store: Store, record: Callable[..., str]) -> None:
    record(key(1), b"one")
    record(key(2), b"two!")
    report = store.verify()
    assert report.clean
    assert (report.blobs_checked, report.bytes_checked, report.outputs_checked) == (2, 7, 2)
    assert report.orphans == ()


def test_a_corrupt_blob_is_quarantined_and_its_output_dropped(
    store: Store, record: Callable[..., str], root: Path
) -> None:
    digest = record(key(1), b"paid video")
    corrupt(store.blob_path(digest))
    report = store.verify()
    (problem,) = report.problems
    assert (problem.kind, problem.digest, problem.keys) == (ProblemKind.CORRUPT_BLOB, digest, (key(1),))
    assert str(problem).startswith(f"corrupt: {digest} (outputs {key(1)}): moved to ")
    assert not store.has_blob(digest)
    assert [p.read_bytes() for p in (root / "quarantine").iterdir()] == [b"bit rot"]
    assert store.outputs_for([key(1)]) == {}
    assert store.verify().clean


def test_an_output_whose_blob_is_missing_is_dropped_so_apply_fetches_it_again(
    store: Store, record: Callable[..., str]
) -> None:
    digest = record(key(1), b"paid video")
    store.blob_path(digest).unlink()
    (problem,) = store.verify().problems
    assert (problem.kind, problem.keys) == (ProblemKind.MISSING_BLOB, (key(1),))
    assert store.outputs_for([key(1)]) == {}


def test_an_output_row_recording_the_wrong_size_is_dropped(
    store: Store, record: Callable[..., str], root: Path
) -> None:
    digest = record(key(1), b"twelve bytes")
    conn = sqlite3.connect(root / "state.sqlite")  # damage the row, as a bad disk or a bad hand could
    conn.execute("UPDATE outputs SET size = 999")
    conn.commit()
    conn.close()
    (problem,) = store.verify().problems
    assert (problem.kind, problem.digest) == (ProblemKind.WRONG_SIZE, digest)
    assert "row says 999 bytes, blob has 12" in str(problem)
    assert store.outputs_for([key(1)]) == {}
    assert store.has_blob(digest), "the blob itself is fine and stays"


def test_a_blob_that_grew_in_place_is_corrupt(store: Store, record: Callable[..., str]) -> None:
    digest = record(key(1), b"video")
    path = store.blob_path(digest)
    os.chmod(path, 0o644)
    with path.open("ab") as f:
        f.write(b"!")
    assert [p.kind for p in store.verify().problems] == [ProblemKind.CORRUPT_BLOB]


def test_a_stray_file_under_objects_is_quarantined(store: Store, root: Path) -> None:
    stray = root / "objects" / "sha256" / "zz"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    (problem,) = store.verify().problems
    assert problem.kind is ProblemKind.STRAY_FILE
    assert not (stray / "notes.txt").exists()


def test_orphan_blobs_are_reported_by_verify_but_kept(store: Store) -> None:
    digest = put_blob(store, [b"nobody points here"]).digest
    report = store.verify()
    assert report.clean
    assert [orphan.digest for orphan in report.orphans] == [digest]
    assert store.has_blob(digest)


def test_gc_removes_outputs_and_blobs_no_root_needs(store: Store, record: Callable[..., str]) -> None:
    kept = record(key(1), b"wanted")
    gone = record(key(2), b"no longer wanted")
    report = store.gc({key(1)}, dry_run=False)
    assert {(r.kind, r.name) for r in report.removed} == {(RemovalKind.OUTPUT, key(2)), (RemovalKind.BLOB, gone)}
    assert report.bytes_freed == len(b"no longer wanted")
    assert store.has_blob(kept)
    assert not store.has_blob(gone)
    assert set(store.outputs_for([key(1), key(2)])) == {key(1)}


def test_a_dry_run_lists_what_would_go_and_changes_nothing(store: Store, record: Callable[..., str]) -> None:
    gone = record(key(2), b"no longer wanted")
    report = store.gc(set(), dry_run=True)
    assert report.dry_run
    assert report.bytes_freed == len(b"no longer wanted")
    assert store.has_blob(gone)
    assert key(2) in store.outputs_for([key(2)])
    assert store.gc(set(), dry_run=False).removed == report.removed


def test_a_blob_shared_by_a_kept_key_survives_gc(store: Store, record: Callable[..., str]) -> None:
    shared = record(key(1), b"same bytes")
    record(key(2), b"same bytes")
    store.gc({key(1)}, dry_run=False)
    assert store.has_blob(shared)


def test_gc_never_removes_an_in_flight_attempt_or_its_key(store: Store, record: Callable[..., str]) -> None:
    attempt = store.claim(key(3), namespace="f", model="m", request_body={})
    store.record_submitted(attempt.id, "req-3")
    report = store.gc(set(), dry_run=False)
    assert report.removed == ()
    assert store.attempts_for([key(3)])[key(3)].state is AttemptState.SUBMITTED


def test_gc_defers_unreferenced_blobs_while_a_live_apply_is_running(store: Store) -> None:
    attempt = store.claim(key(1), namespace="f", model="m", request_body={})
    downloading = put_blob(store, [b"about to be recorded"])
    report = store.gc(set(), dry_run=False)
    assert [d.name for d in report.deferred] == [downloading.digest]
    assert store.has_blob(downloading.digest)
    store.record_output(
        key(1), digest=downloading.digest, size=downloading.size, model="m", request_id=None, cost_usd=None,
        namespace="f", attempt_id=attempt.id,
    )  # fmt: skip
    assert store.outputs_for([key(1)])[key(1)].digest == downloading.digest


def test_a_dead_owners_open_attempt_does_not_hold_back_gc_of_orphans(store: Store, dead_owner: Owner) -> None:
    store.claim(key(1), namespace="f", model="m", request_body={}, owner=dead_owner)
    orphan = put_blob(store, [b"left behind"])
    report = store.gc(set(), dry_run=False)
    assert [r.name for r in report.removed] == [orphan.digest]
    assert store.open_attempts()[0].key == key(1)


def test_gc_forgets_finished_attempts_of_keys_no_spec_wants(store: Store) -> None:
    attempt = store.claim(key(1), namespace="f", model="m", request_body={})
    store.release(attempt.id)
    report = store.gc(set(), dry_run=False)
    assert [r.kind for r in report.removed] == [RemovalKind.ATTEMPT]
    assert store.attempts_for([key(1)]) == {}


def test_orphans_are_the_outputs_no_current_key_names(store: Store, record: Callable[..., str]) -> None:
    for n in range(5):
        record(key(n), b"video %d" % n)
    orphans = store.orphans({"fake": [key(0), key(1), key(9)]}, limit=2)
    assert (orphans.count, orphans.size) == (3, 3 * len(b"video 0"))
    expected = sorted(key(n) for n in (2, 3, 4))[:2]
    assert [o.key for o in orphans.listed] == expected
    assert len(store.orphans({}, limit=None).listed) == 5


def test_verify_recounts_the_totals_an_older_reconciler_threw_off(
    store: Store, record: Callable[..., str], root: Path
) -> None:
    for n in range(3):
        record(key(n), b"video %d" % n)
    # A reconciler of schema version 1, still running after a newer one upgraded the store, records
    # a video again as it did: INSERT OR REPLACE, with SQLite's default of no recursive triggers.
    conn = sqlite3.connect(root / "state.sqlite")
    conn.execute("INSERT OR REPLACE INTO outputs SELECT * FROM outputs WHERE key = ?", (key(1),))
    conn.commit()
    true_count, true_bytes = conn.execute("SELECT count(*), sum(size) FROM outputs").fetchone()
    conn.close()
    assert store.orphans({}, limit=0).count == true_count + 1  # what verify is there to put right

    (problem,) = store.verify().problems
    assert problem.kind is ProblemKind.WRONG_TOTALS
    assert str(problem).endswith(f"fake: recounted (4 outputs of {4 * 7:,} bytes kept; 3 of 21 stored)")
    orphans = store.orphans({}, limit=0)
    assert (orphans.count, orphans.size) == (true_count, true_bytes)
    assert store.verify().clean

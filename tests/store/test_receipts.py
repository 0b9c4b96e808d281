"""Receipts: every recorded output has one on disk, and a new database is rebuilt from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from reconciler.store import Store

KEY_A = "sha256:" + "a" * 64
KEY_B = "sha256:" + "b" * 64


def _receipt(root: Path, key: str) -> Path:
    hexdigest = key.removeprefix("sha256:")
    return root / "receipts" / hexdigest[:2] / f"{hexdigest[2:]}.json"


def test_recording_an_output_writes_its_receipt_with_what_identifies_it(
    store: Store, root: Path, record: Callable[..., str]
) -> None:
    digest = record(KEY_A, b"video a")
    receipt = json.loads(_receipt(root, KEY_A).read_text())
    assert receipt["key"] == KEY_A
    assert receipt["digest"] == digest
    assert receipt["size"] == len(b"video a")
    assert receipt["model"] == "wan2.7-t2v"
    assert receipt["request_id"] == "r-" + KEY_A[-6:]
    assert receipt["cost_usd"] == 0.5
    assert list((root / "tmp").iterdir()) == []  # written through a temp file, nothing left behind


def test_a_store_opened_without_its_database_restores_the_outputs_whose_blobs_are_whole(
    store: Store, root: Path, clock, record: Callable[..., str]
) -> None:
    record(KEY_A, b"video a")
    digest_b = record(KEY_B, b"video b")
    kept = store.outputs_for([KEY_A, KEY_B])
    store.close()
    for path in root.glob("state.sqlite*"):
        path.unlink()
    store.blob_path(digest_b).chmod(0o644)
    store.blob_path(digest_b).unlink()  # one video's blob is gone too: its receipt restores nothing
    with Store.open(root, clock=clock) as reopened:
        assert reopened.outputs_for([KEY_A, KEY_B]) == {KEY_A: kept[KEY_A]}
        assert reopened.restored is not None
        assert [o.key for o in reopened.restored.missing_blob] == [KEY_B]


def test_plan_reading_a_store_whose_database_is_gone_sees_its_outputs(
    store: Store, root: Path, clock, record: Callable[..., str]
) -> None:
    record(KEY_A, b"video a")
    store.close()
    for path in root.glob("state.sqlite*"):
        path.unlink()
    with Store.open_readonly(root, clock=clock) as view:
        assert set(view.outputs_for([KEY_A])) == {KEY_A}


def test_gc_removes_the_receipts_of_the_outputs_it_removes(
    store: Store, root: Path, record: Callable[..., str]
) -> None:
    record(KEY_A, b"video a")
    record(KEY_B, b"video b")
    store.gc({KEY_A})
    assert _receipt(root, KEY_A).is_file()
    assert not _receipt(root, KEY_B).exists()


def test_verify_writes_the_receipt_an_output_lacks(store: Store, root: Path, record: Callable[..., str]) -> None:
    record(KEY_A, b"video a")
    _receipt(root, KEY_A).unlink()  # as in a store from before receipts
    store.verify()
    assert json.loads(_receipt(root, KEY_A).read_text())["key"] == KEY_A

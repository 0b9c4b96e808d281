"""Opening a store: layout on first use, schema versions, read-only views for plan, errors users can act on."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import reconciler
from reconciler.errors import StoreBusyError, StoreError, StoreVersionError
from reconciler.store import SCHEMA_VERSION, Store
from tests.conftest import put_blob


def key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"key-{n}".encode()).hexdigest()


def set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    finally:
        conn.close()


def test_opening_a_missing_store_creates_its_layout(root: Path, clock) -> None:
    with Store.open(root, clock=clock):
        pass
    assert (root / "objects" / "sha256").is_dir()
    assert (root / "tmp").is_dir()
    assert (root / "state.sqlite").is_file()
    assert (root / ".gitignore").read_text().endswith("*\n")


def test_the_state_database_uses_wal_and_is_versioned(root: Path, clock) -> None:
    Store.open(root, clock=clock).close()
    conn = sqlite3.connect(root / "state.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


def test_what_was_recorded_is_there_after_reopening(root: Path, clock) -> None:
    with Store.open(root, clock=clock) as store:
        info = put_blob(store, [b"video"])
        store.record_output(
            key(1), digest=info.digest, size=info.size, model="m", request_id="r", cost_usd=1.0, namespace="fake"
        )
    with Store.open(root, clock=clock) as store:
        assert store.outputs_for([key(1)])[key(1)].digest == info.digest


def test_a_store_written_by_a_newer_version_is_refused_untouched(root: Path, clock) -> None:
    Store.open(root, clock=clock).close()
    set_user_version(root / "state.sqlite", SCHEMA_VERSION + 1)
    before = (root / "state.sqlite").read_bytes()
    with pytest.raises(StoreVersionError) as refused:
        Store.open(root, clock=clock)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(refused.value)
    assert f"up to version {SCHEMA_VERSION}" in str(refused.value)
    with pytest.raises(StoreVersionError):
        Store.open_readonly(root)
    assert (root / "state.sqlite").read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_with_a_store_error(root: Path, clock) -> None:
    root.mkdir()
    (root / "state.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreVersionError, match="not a reconciler store") as refused:
        Store.open(root, clock=clock)
    assert isinstance(refused.value.__cause__, sqlite3.DatabaseError)


def test_someone_elses_sqlite_database_is_refused(root: Path, clock) -> None:
    root.mkdir()
    conn = sqlite3.connect(root / "state.sqlite")
    conn.execute("CREATE TABLE notes (text)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreVersionError, match="no reconciler schema version"):
        Store.open(root, clock=clock)


def test_a_store_root_that_cannot_be_created_is_a_store_error(tmp_path: Path, clock) -> None:
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(StoreError, match="cannot create the store"):
        Store.open(tmp_path / "file" / ".reconciler", clock=clock)


def test_a_read_only_view_of_a_missing_store_is_empty_and_creates_nothing(root: Path) -> None:
    with Store.open_readonly(root) as view:
        assert view.outputs_for([key(1)]) == {}
        assert view.attempts_for([key(1)]) == {}
        assert view.all_outputs() == []
        assert view.orphans({"fake": [key(1)]}).count == 0
        assert view.observe([key(1)]).stored == {}
        assert view.open_attempts() == []
        assert view.observed_latency("wan2.7-t2v") is None
        assert view.uploaded_url("fake", "abc") is None
        assert not view.has_blob("sha256:" + "0" * 64)
    assert not root.exists()


def test_a_read_only_view_sees_what_a_writer_committed_and_never_blocks_it(root: Path, clock) -> None:
    with Store.open(root, clock=clock) as store, Store.open_readonly(root) as view:
        assert view.attempts_for([key(1)]) == {}
        attempt = store.claim(key(1), namespace="fake", model="m", request_body={"prompt": "a"})
        assert attempt is not None
        assert view.attempts_for([key(1)])[key(1)].id == attempt.id
        # A long read snapshot in the view does not stop the writer from committing.
        conn = sqlite3.connect(f"file:{root / 'state.sqlite'}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM attempts").fetchone()
            store.record_submitted(attempt.id, "req-1")
            conn.execute("COMMIT")
        finally:
            conn.close()
        assert view.attempts_for([key(1)])[key(1)].request_id == "req-1"


def test_a_write_lock_held_too_long_by_another_process_is_a_busy_store_error(root: Path, clock) -> None:
    with Store.open(root, clock=clock, busy_timeout_s=0.2) as store:
        other = sqlite3.connect(root / "state.sqlite", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreBusyError, match=r"locked by another reconciler process for 0\.2s") as busy:
                store.claim(key(1), namespace="fake", model="m", request_body={})
            assert isinstance(busy.value.__cause__, sqlite3.OperationalError)
            assert store.attempts_for([key(1)]) == {}, "reads still work while another process writes"
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert store.claim(key(1), namespace="fake", model="m", request_body={}) is not None


def test_only_the_db_module_imports_sqlite3() -> None:
    package = Path(reconciler.__file__).parent
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import sqlite3|from sqlite3 )", path.read_text(), re.MULTILINE)
    )
    assert importers == ["store/db.py"]


def test_a_closed_store_refuses_lookups_instead_of_answering_nothing_is_stored(root: Path, clock) -> None:
    store = Store.open(root, clock=clock)
    store.close()
    with pytest.raises(StoreError, match="already closed"):
        store.outputs_for([key(1)])
    store.close()  # closing twice is harmless


def test_an_empty_database_file_left_by_a_crash_on_first_open_is_initialised(root: Path, clock) -> None:
    root.mkdir()
    (root / "state.sqlite").touch()
    with Store.open_readonly(root) as view:
        assert view.outputs_for([key(1)]) == {}
    with Store.open(root, clock=clock) as store:
        assert store.claim(key(1), namespace="fake", model="m", request_body={}) is not None


OPENER = """
import sys, time
from pathlib import Path
from reconciler.store import Store
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.0005)
Store.open(Path(sys.argv[1])).close()
"""


def test_many_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    # Two applies started together on a fresh store used to fail one of them at once with
    # "database is locked": SQLite does not wait when two connections switch a new file to WAL.
    import subprocess
    import sys

    for attempt in range(4):
        root, go = tmp_path / f"store-{attempt}", tmp_path / f"go-{attempt}"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(root), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]  # fmt: skip
        for process in processes:
            assert process.stdout is not None
            process.stdout.readline()  # everything imported: the opens below start together
        go.touch()
        errors = [process.communicate(timeout=60)[1] for process in processes]
        assert [process.returncode for process in processes] == [0] * 6, errors


def test_a_version_1_store_is_upgraded_once_and_counts_the_outputs_it_already_held(root: Path, clock) -> None:
    # A store as the first release left it: version 1's tables, outputs of two backends, no totals.
    with Store.open(root, clock=clock) as store:
        blobs = [put_blob(store, [b"video %d" % n + b"x" * n]) for n in range(5)]
    path = root / "state.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE output_totals")
        conn.execute("DROP TABLE last_change")
        conn.execute("PRAGMA user_version = 1")
        conn.executemany(
            "INSERT INTO outputs (key, digest, size, model, namespace, created) VALUES (?, ?, ?, 'm', ?, 0)",
            [(key(n), b.digest, b.size, "segmind" if n < 3 else "mock") for n, b in enumerate(blobs)],
        )
    with Store.open_readonly(root, clock=clock) as view:  # plan's way in: it upgrades, then reads
        everything = view.orphans({}, limit=0)
        api_named = view.orphans({"segmind": [key(0), key(1), key(2)]}, limit=None)
    assert (everything.count, everything.size) == (5, sum(b.size for b in blobs))
    assert [o.key for o in api_named.listed] == sorted([key(3), key(4)])
    assert (api_named.count, api_named.size) == (2, blobs[3].size + blobs[4].size)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        totals = dict(conn.execute("SELECT namespace, outputs FROM output_totals").fetchall())
    assert totals == {"segmind": 3, "mock": 2}


def test_a_version_2_store_is_upgraded_to_keep_a_change_token_that_every_write_then_replaces(root: Path, clock) -> None:
    with Store.open(root, clock=clock) as store:
        blob = put_blob(store, [b"a video"])
    path = root / "state.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%_changes'").fetchall():
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE last_change")
        conn.execute("PRAGMA user_version = 2")
    with Store.open_readonly(root, clock=clock) as view:  # plan's way in: it upgrades, then reads
        before = view.change_token()
    assert before is not None
    with Store.open(root, clock=clock) as store:
        store.record_output(
            key(0), digest=blob.digest, size=blob.size, model="m", request_id=None, cost_usd=None, namespace="segmind"
        )
        assert store.change_token() not in (None, before)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)

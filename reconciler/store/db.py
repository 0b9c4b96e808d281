"""The store's one door to SQLite: connections, transactions, and the translation of every sqlite3 error.

No other module imports sqlite3. Every call that can raise goes through `_translated`, which turns
sqlite3 exceptions into `StoreError`s that say what to do, chained with `from exc`.

Connections run in autocommit mode and open transactions explicitly: writes take `BEGIN IMMEDIATE`
so a claim reads and writes under one lock; reads in WAL mode never block a writer and are never
blocked by one. Writers use `synchronous=FULL`: a committed claim or output survives a power cut.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from reconciler.errors import StoreBusyError, StoreDamagedError, StoreError, StoreVersionError

Row = tuple[Any, ...]

BUSY_TIMEOUT_S = 30.0
CACHE_KIB = 64 * 1024

_HINTS = {
    "SQLITE_FULL": "the disk is full; free some space and run again",
    "SQLITE_READONLY": "it is read-only here; check the permissions of the store directory",
    "SQLITE_PERM": "permission was denied; check the permissions of the store directory",
    "SQLITE_CANTOPEN": "it cannot be opened; check that the directory exists and is writable",
    "SQLITE_CORRUPT": "the database is damaged; run `reconciler verify --rebuild` to rebuild it from the receipts",
    "SQLITE_IOERR": "the disk reported an I/O error; check the disk and run `reconciler verify`",
}


def json_list(values: Iterable[str]) -> str:
    """Many values as one parameter for `json_each(?)`: one query, no variable limit.

    Sorted and unique, so index probes walk the B-tree in order and stay in cached pages.
    """
    return json.dumps(sorted(set(values)))


# A question about at least 1/SCAN_SHARE of a table's rows reads the table whole: one sequential
# scan filtered by a set is cheaper than sorting and encoding the keys and probing the index once
# for each (a plan of 100,000 specs asks about every output the store has).
SCAN_SHARE: Final = 4
SCAN_MIN: Final = 1_000  # fewer keys are asked about by index, without counting the table


def scans(db: Database | Transaction, table: str, asked: int) -> bool:
    """Whether asking about `asked` keys of `table` is better answered by reading it whole."""
    return asked >= SCAN_MIN and reads_whole(asked, db.count(table))


def reads_whole(asked: int, rows: int) -> bool:
    """Whether asking about `asked` keys of a table of `rows` rows is better answered by reading it whole."""
    return asked >= SCAN_MIN and asked * SCAN_SHARE >= rows


def as_set(keys: Collection[str]) -> Set[str]:
    return keys if isinstance(keys, (set, frozenset)) else set(keys)


def qualified(columns: str, alias: str) -> str:
    """ "a, b" -> "t.a, t.b" for a column list used in a join."""
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


@contextmanager
def _translated(path: Path, busy_s: float = BUSY_TIMEOUT_S) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        base = name.split("_", 2)[:2]
        family = "_".join(base)
        where = f"the store database {path}"
        if family in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            raise StoreBusyError(
                f"{where} stayed locked by another reconciler process for {busy_s:g}s;"
                " wait for it to finish and run again"
            ) from exc
        if family == "SQLITE_NOTADB":
            raise StoreVersionError(
                f"{path} is not a reconciler store database; point --store at another directory"
            ) from exc
        hint = _HINTS.get(family, "run `reconciler verify`, and report this if it persists")
        kind = StoreDamagedError if family == "SQLITE_CORRUPT" else StoreError
        raise kind(f"{where} failed ({exc}): {hint}") from exc


def _switch_to_wal(conn: sqlite3.Connection, busy_s: float) -> None:
    """`PRAGMA journal_mode=WAL`, waiting for a concurrent opener: two runs creating one new store
    at once make SQLite answer "locked" at once (its busy handler is not consulted for this)."""
    deadline = time.monotonic() + busy_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Transaction:
    """Statements inside one open transaction; obtained from `Database.write` or `Database.read`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_s: float, *, snapshot: bool = False) -> None:
        self._conn = conn
        self._path = path
        self._busy_s = busy_s
        # A read transaction sees one snapshot: a table's row count, once counted, stays true in it.
        self._counts: dict[str, int] | None = {} if snapshot else None

    def count(self, table: str) -> int:
        """How many rows `table` has (a walk of its smallest index: counted once per read transaction)."""
        if self._counts is not None and table in self._counts:
            return self._counts[table]
        row = self.one(f"SELECT count(*) FROM {table}")
        counted = 0 if row is None else int(row[0])
        if self._counts is not None:
            self._counts[table] = counted
        return counted

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with _translated(self._path, self._busy_s):
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with _translated(self._path, self._busy_s):
            row: Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def each(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        """The rows of one statement as they are stepped to: stop early, and the rest are never read."""
        with _translated(self._path, self._busy_s):
            yield from self._conn.execute(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with _translated(self._path, self._busy_s):
            return self._conn.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT; the rowid of the new row."""
        with _translated(self._path, self._busy_s):
            rowid = self._conn.execute(sql, params).lastrowid
        assert rowid is not None
        return rowid

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _translated(self._path, self._busy_s):
            self._conn.executemany(sql, rows)


class Database:
    """One connection to state.sqlite; close it, or use it as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool, busy_s: float) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self.busy_s = busy_s
        # Calls come from the event loop and, for a remote store (`writes_over_network`), from the
        # engine's worker threads too, which make its claim and record writes: one transaction at a time.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, readonly: bool, busy_s: float = BUSY_TIMEOUT_S) -> Database:
        """Connect; a writable connection creates the file and switches it to WAL with FULL sync.

        `busy_s` is how long a write waits for another process's write lock before giving up.
        """
        uri = f"{path.absolute().as_uri()}?mode={'ro' if readonly else 'rwc'}"
        with _translated(path, busy_s):
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_s, check_same_thread=False)
            try:
                if not readonly:
                    _switch_to_wal(conn, busy_s)
                    conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
                # A REPLACE that deletes a row fires its delete triggers (the outputs' totals, schema.py).
                conn.execute("PRAGMA recursive_triggers=ON")
                # Plan looks up every spec's key at once; keep the indexes it walks in memory.
                conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            except BaseException:
                conn.close()
                raise
        return cls(conn, path, readonly=readonly, busy_s=busy_s)

    def close(self) -> None:
        with self._lock, _translated(self.path, self.busy_s):
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One statement outside any explicit transaction (a consistent snapshot by itself)."""
        with self._lock:
            return Transaction(self._conn, self.path, self.busy_s).rows(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._lock:
            return Transaction(self._conn, self.path, self.busy_s).one(sql, params)

    def count(self, table: str) -> int:
        with self._lock:
            return Transaction(self._conn, self.path, self.busy_s).count(table)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back if the block raises."""
        with self._transaction("BEGIN IMMEDIATE") as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A deferred transaction: several reads see one snapshot, and no writer is blocked."""
        with self._transaction("BEGIN", snapshot=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, begin: str, *, snapshot: bool = False) -> Iterator[Transaction]:
        with self._lock:
            with _translated(self.path, self.busy_s):
                self._conn.execute(begin)
            try:
                yield Transaction(self._conn, self.path, self.busy_s, snapshot=snapshot)
                with _translated(self.path, self.busy_s):
                    self._conn.execute("COMMIT")
            except BaseException:
                # Also after a failed COMMIT: never leave the connection inside a transaction.
                if self._conn.in_transaction:
                    with _translated(self.path, self.busy_s):
                        self._conn.execute("ROLLBACK")
                raise

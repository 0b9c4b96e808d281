"""The versioned schema of state.sqlite and its migrations.

The version lives in `PRAGMA user_version`; `PRAGMA application_id` marks the file as ours so a stray
SQLite file is refused instead of written into. `MIGRATIONS[n]` takes a store from version n-1 to n;
a new release appends a step and never edits an old one. A store whose version is newer than
`SCHEMA_VERSION` was written by a newer reconciler and is refused untouched.

Version 2 keeps each namespace's count and bytes of outputs in `output_totals`, by triggers on the
outputs table: a plan's orphan line (all outputs minus those the specs name) no longer walks
100,000 rows to count them, and a plan on one backend does not look up its specs' keys of a backend
the store holds nothing of. Writers use INSERT, UPSERT or DELETE, which fire the triggers (a REPLACE
deletes without firing them unless `recursive_triggers` is on, which every connection sets).

Version 3 keeps a token that every change of what a plan reads (outputs, attempts) replaces with a
random one, by triggers: a plan made when the token was T stays the plan while the token is still T
(`store.lastplan` shows it again without reading 100,000 outputs). Random, not a counter: a store
restored from a copy and then changed otherwise can never come back to a token it had.
"""

from __future__ import annotations

from reconciler.errors import StoreVersionError
from reconciler.store.db import Database, Transaction

APPLICATION_ID = 0x52454356  # "RECV"

SCHEMA_VERSION = 3

_V1 = (
    """CREATE TABLE outputs (
        key        TEXT PRIMARY KEY,
        digest     TEXT NOT NULL,
        size       INTEGER NOT NULL CHECK (size >= 0),
        model      TEXT NOT NULL,
        request_id TEXT,
        cost_usd   REAL,
        namespace  TEXT NOT NULL,
        name_hint  TEXT,
        created    REAL NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX outputs_by_digest ON outputs (digest)",
    """CREATE TABLE attempts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        key           TEXT NOT NULL,
        namespace     TEXT NOT NULL,
        model         TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('claimed', 'submitted', 'completed', 'stored',
                                                     'failed', 'expired', 'released', 'superseded')),
        request_json  TEXT NOT NULL,
        request_id    TEXT,
        owner_host    TEXT NOT NULL,
        owner_boot    TEXT NOT NULL,
        owner_pid     INTEGER NOT NULL,
        owner_started INTEGER NOT NULL,
        claimed_at    REAL NOT NULL,
        submitted_at  REAL,
        completed_at  REAL,
        updated_at    REAL NOT NULL,
        error         TEXT,
        reason        TEXT CHECK (reason IN ('permanent', 'temporary')),
        supersedes    INTEGER REFERENCES attempts (id) ON DELETE SET NULL,
        in_doubt      INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX attempts_by_key ON attempts (key, id)",
    "CREATE INDEX attempts_open ON attempts (key) WHERE state IN ('claimed', 'submitted', 'completed')",
    "CREATE INDEX attempts_by_model ON attempts (model, completed_at) WHERE completed_at IS NOT NULL",
    """CREATE TABLE uploads (
        namespace    TEXT NOT NULL,
        image_sha256 TEXT NOT NULL,
        url          TEXT NOT NULL,
        created      REAL NOT NULL,
        PRIMARY KEY (namespace, image_sha256)
    ) WITHOUT ROWID""",
)

# A namespace's count and bytes of outputs, kept by the triggers below (a row at 0 once its last output went).
_V2 = (
    """CREATE TABLE output_totals (
        namespace TEXT PRIMARY KEY,
        outputs   INTEGER NOT NULL,
        bytes     INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "INSERT INTO output_totals SELECT namespace, count(*), sum(size) FROM outputs GROUP BY namespace",
    """CREATE TRIGGER outputs_added AFTER INSERT ON outputs BEGIN
        INSERT INTO output_totals (namespace, outputs, bytes) VALUES (NEW.namespace, 1, NEW.size)
        ON CONFLICT (namespace) DO UPDATE SET outputs = outputs + 1, bytes = bytes + excluded.bytes;
    END""",
    """CREATE TRIGGER outputs_removed AFTER DELETE ON outputs BEGIN
        UPDATE output_totals SET outputs = outputs - 1, bytes = bytes - OLD.size WHERE namespace = OLD.namespace;
    END""",
    """CREATE TRIGGER outputs_changed AFTER UPDATE OF size, namespace ON outputs BEGIN
        UPDATE output_totals SET outputs = outputs - 1, bytes = bytes - OLD.size WHERE namespace = OLD.namespace;
        INSERT INTO output_totals (namespace, outputs, bytes) VALUES (NEW.namespace, 1, NEW.size)
        ON CONFLICT (namespace) DO UPDATE SET outputs = outputs + 1, bytes = bytes + excluded.bytes;
    END""",
)

# The token of the last change of what a plan reads; any writer of any version fires these triggers.
_CHANGED_BY = [(table, event) for table in ("outputs", "attempts") for event in ("INSERT", "UPDATE", "DELETE")]
_V3 = (
    """CREATE TABLE last_change (
        one   INTEGER PRIMARY KEY CHECK (one = 1),
        token BLOB NOT NULL
    )""",
    "INSERT INTO last_change (one, token) VALUES (1, randomblob(16))",
    *(
        f"""CREATE TRIGGER {table}_{event.lower()}_changes AFTER {event} ON {table} BEGIN
        UPDATE last_change SET token = randomblob(16);
    END"""
        for table, event in _CHANGED_BY
    ),
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1, 2: _V2, 3: _V3}


def read_version(tx: Transaction) -> tuple[int, int]:
    """(application_id, user_version) of the open database."""
    app = tx.one("PRAGMA application_id")
    version = tx.one("PRAGMA user_version")
    assert app is not None
    assert version is not None
    return int(app[0]), int(version[0])


def check_version(db: Database, app: int, version: int) -> None:
    """Refuse a database that is not ours or is newer than this code; an older one is fine."""
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store at {db.path.parent} has schema version {version}, but this reconciler"
            f" understands up to version {SCHEMA_VERSION}; upgrade reconciler to use this store"
        )
    if version < 0:
        raise StoreVersionError(
            f"{db.path} has schema version {version} (PRAGMA user_version), which no reconciler writes:"
            " it is damaged or not a reconciler store; point --store at another directory"
        )
    if version > 0 and app != APPLICATION_ID:
        raise StoreVersionError(
            f"{db.path} is an SQLite database but not a reconciler store; point --store at another directory"
        )


def check_schema(db: Database, tx: Transaction) -> int:
    """The store's schema version, refusing what neither plan nor apply may use: the one check both make.

    Version 0 with no tables is a store being created (by this open, or a concurrent one that has
    not committed yet); version 0 with tables is something else, and is refused.
    """
    app, version = read_version(tx)
    check_version(db, app, version)
    if version == 0 and tx.one("SELECT 1 FROM sqlite_master LIMIT 1") is not None:
        raise StoreVersionError(
            f"{db.path} holds tables but no reconciler schema version (PRAGMA user_version is 0): it is not"
            " a reconciler store, or its version was reset; point --store at another directory"
        )
    return version


def migrate(db: Database) -> None:
    """Bring a writable database to SCHEMA_VERSION in one transaction; a no-op when it is current."""
    with db.write() as tx:
        version = check_schema(db, tx)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                tx.execute(statement)
        if version < SCHEMA_VERSION:
            tx.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

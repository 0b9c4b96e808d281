"""Rows of what has been fetched and kept: outputs (key -> blob) and the uploaded-image cache.

Recording an output is the moment a paid result becomes safe: it happens in one FULL-sync
transaction that also closes the attempt that produced it, and only after the blob is an object.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Set

from reconciler.errors import AttemptStateError, StoreError
from reconciler.records import OUTPUT_COLUMNS, AttemptState, Orphans, Output, maker
from reconciler.store import attempts
from reconciler.store.db import Database, Row, Transaction, as_set, json_list, qualified, reads_whole, scans
from reconciler.store.objects import Objects
from reconciler.store.owner import Alive

# Recording a key again updates its row in place (never a REPLACE): the outputs' totals follow it.
_RECORD = (
    f"INSERT INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in (c.strip() for c in OUTPUT_COLUMNS.split(",")[1:]))
)


def record_output(
    db: Database,
    objects: Objects,
    key: str,
    *,
    digest: str,
    size: int,
    model: str,
    request_id: str | None,
    cost_usd: float | None,
    namespace: str,
    name_hint: str | None,
    attempt_id: int | None,
    alive: Alive,
    now: float,
) -> Output:
    """Point `key` at an existing blob (replacing any previous output) and mark the attempt STORED."""
    path = objects.path(digest)
    output = Output(key, digest, size, model, request_id, cost_usd, namespace, name_hint, now)
    with db.write() as tx:
        # Checked under the write lock, so a concurrent gc cannot delete the blob after the check.
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            raise StoreError(f"cannot record {key}: blob {digest} is not in the store; write it first") from None
        if actual != size:
            raise StoreError(f"cannot record {key}: blob {digest} has {actual} bytes, not {size}")
        if attempt_id is not None:
            before = attempts.move(tx, attempt_id, AttemptState.STORED, alive=alive, now=now)
            if before.key != key:
                raise AttemptStateError(f"attempt {attempt_id} is for {before.key}, not for {key}")
        tx.execute(_RECORD, (key, digest, size, model, request_id, cost_usd, namespace, name_hint, now))
    return output


def outputs_for(db: Database | Transaction, keys: Collection[str]) -> dict[str, Output]:
    """The outputs of those keys that have one, in one query: indexed, or a scan when they are many."""
    if scans(db, "outputs", len(keys)):
        wanted, make = as_set(keys), maker(Output)
        return {row[0]: make(row) for row in db.rows(f"SELECT {OUTPUT_COLUMNS} FROM outputs") if row[0] in wanted}
    return {row[0]: Output.from_row(row) for row in _joined(db, OUTPUT_COLUMNS, json_list(keys))}


def digests_for(db: Database | Transaction, keys: Collection[str]) -> dict[str, str]:
    """key -> blob digest, for those keys that have an output: `outputs_for` reading two columns of nine."""
    if scans(db, "outputs", len(keys)):
        wanted = as_set(keys)
        return {key: digest for key, digest in db.rows("SELECT key, digest FROM outputs") if key in wanted}
    return dict(_joined(db, "key, digest", json_list(keys)))


def _joined(db: Database | Transaction, columns: str, keys_json: str) -> list[Row]:
    """`columns` of the outputs of the keys in `keys_json` (a `json_list`), one index probe each."""
    return db.rows(
        f"SELECT {qualified(columns, 'o')} FROM json_each(?) AS w JOIN outputs AS o ON o.key = w.value", (keys_json,)
    )


def sizes(db: Database) -> set[int]:
    """The distinct sizes of stored outputs: a file of any other size is no stored video (see layout)."""
    return {int(row[0]) for row in db.rows("SELECT DISTINCT size FROM outputs")}


def drop_lost(db: Database, objects: Objects, key: str) -> bool:
    """Forget the output of `key` if its blob is gone from objects/; whether it was.

    Checked again under the write lock, where `record_output` checks its blob too, so an output
    recorded a moment ago by a concurrent run is never dropped.
    """
    if (row := db.one("SELECT digest FROM outputs WHERE key = ?", (key,))) is None or objects.has(str(row[0])):
        return False
    with db.write() as tx:
        row = tx.one("SELECT digest FROM outputs WHERE key = ?", (key,))
        if row is None or objects.has(str(row[0])):
            return False
        tx.execute("DELETE FROM outputs WHERE key = ?", (key,))
    return True


def orphans(db: Database, roots: Mapping[str, Collection[str]], *, limit: int | None) -> Orphans:
    """The outputs no root names (`roots`: namespace -> keys): how many, their bytes, the first `limit` by key."""
    with db.read() as tx:
        return survey(tx, (), roots, limit=limit)[1]


def totals(tx: Transaction) -> dict[str, tuple[int, int]]:
    """namespace -> (outputs, bytes) of each namespace the store holds outputs of: kept by triggers, no walk."""
    return {
        row[0]: (row[1], row[2])
        for row in tx.rows("SELECT namespace, outputs, bytes FROM output_totals WHERE outputs > 0")
    }


def recount(tx: Transaction) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Set the kept totals to the outputs' own count and bytes; namespace -> (kept, true) where they differed.

    The triggers keep them in step with every writer of this schema. A reconciler from before it
    (version 1), still running while a newer one upgraded the store, writes with INSERT OR REPLACE
    and no recursive triggers: re-recording a key counts it twice. `verify` puts that right.
    """
    kept = {row[0]: (row[1], row[2]) for row in tx.rows("SELECT namespace, outputs, bytes FROM output_totals")}
    true = {
        row[0]: (row[1], int(row[2]))
        for row in tx.rows("SELECT namespace, count(*), total(size) FROM outputs GROUP BY namespace")
    }
    wrong = {
        namespace: (kept.get(namespace, (0, 0)), true.get(namespace, (0, 0)))
        for namespace in kept.keys() | true.keys()
        if kept.get(namespace, (0, 0)) != true.get(namespace, (0, 0))
    }
    for namespace, (_, (count, size)) in wrong.items():
        tx.execute(
            "INSERT INTO output_totals (namespace, outputs, bytes) VALUES (?, ?, ?)"
            " ON CONFLICT (namespace) DO UPDATE SET outputs = excluded.outputs, bytes = excluded.bytes",
            (namespace, count, size),
        )
    return wrong


def survey(
    tx: Transaction, keys: Collection[str], roots: Mapping[str, Collection[str]], *, limit: int | None
) -> tuple[dict[str, str], Orphans]:
    """In one snapshot: the blobs of `keys` (as `digests_for`), and the orphans of `roots` (as `orphans`).

    `roots` maps a namespace to the keys its specs have. Orphans are counted as "all minus those
    named", from the totals the store keeps, so no orphan row is read unless it is listed: a store
    with 90,000 old outputs costs plan a probe per root, not 90,000 values. A key is made in one
    namespace (keys.py hashes it in), so the roots of a namespace the store holds nothing of name
    nothing, and are not looked up: a plan against the API in a store of API videos probes its
    specs' keys once, not twice. When the keys asked about are many (a plan of 100,000 specs), the
    table is read once, three columns of it, and both answers come from that one pass; only the
    orphans listed are read whole.
    """
    held = totals(tx)
    every = sum(count for count, _ in held.values())
    looked = [as_set(roots[namespace]) for namespace in sorted(held) if namespace in roots]
    named: Set[str] = looked[0] if len(looked) == 1 else frozenset().union(*looked)
    if reads_whole(max(len(keys), len(named)), every):
        wanted = as_set(keys)
        rows = tx.rows("SELECT key, digest, size FROM outputs")
        found = {key: digest for key, digest, _ in rows if key in wanted}
        stray = [(key, size) for key, _, size in rows if key not in named]
        shown = stray if limit is None or len(stray) <= limit else heapq.nsmallest(limit, stray)
        whole = outputs_for(tx, [key for key, _ in shown]) if shown else {}
        return found, Orphans(
            count=len(stray), size=sum(size for _, size in stray), listed=tuple(whole[key] for key in sorted(whole))
        )
    # One probe per root: the roots stored, with their blobs and sizes. The keys asked about are
    # roots too when plan asks (every spec's key is one), so most of them are answered by it.
    hits = _joined(tx, "key, digest, size", json_list(named)) if named else []
    wanted = as_set(keys)
    found = {key: digest for key, digest, _ in hits if key in wanted}
    if unnamed := [key for key in wanted if key not in named]:
        found.update(digests_for(tx, unnamed))
    # The first orphans by key: a walk in key order past the named ones, so it reads at most one
    # row per root stored, and the `limit` listed, beyond them.
    listed: list[Output] = []
    if limit != 0 and every > len(hits):
        for row in tx.each(f"SELECT {OUTPUT_COLUMNS} FROM outputs ORDER BY key"):
            if row[0] not in named:
                listed.append(Output._make(row))
                if len(listed) == limit:
                    break
    return found, Orphans(
        count=every - len(hits),
        size=sum(size for _, size in held.values()) - sum(size for _, _, size in hits),
        listed=tuple(listed),
    )


def all_outputs(db: Database) -> list[Output]:
    return [Output.from_row(row) for row in db.rows(f"SELECT {OUTPUT_COLUMNS} FROM outputs ORDER BY key")]


def remember_upload(db: Database, namespace: str, image_sha256: str, url: str, *, now: float) -> None:
    with db.write() as tx:
        tx.execute(
            "INSERT OR REPLACE INTO uploads (namespace, image_sha256, url, created) VALUES (?, ?, ?, ?)",
            (namespace, image_sha256, url, now),
        )


def uploaded_url(db: Database, namespace: str, image_sha256: str) -> str | None:
    row = db.one("SELECT url FROM uploads WHERE namespace = ? AND image_sha256 = ?", (namespace, image_sha256))
    return None if row is None else str(row[0])

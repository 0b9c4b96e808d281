"""Receipts: with every stored blob, what identifies it, so a lost database costs nothing to rebuild.

    <root>/receipts/<2 hex>/<62 hex>.json    one per key (named by the key's hash), written
                                             atomically before the output row that it mirrors

state.sqlite is the index; the receipts are the ledger. When the database is gone or damaged,
`restore` puts back an output row for every receipt whose blob is still in objects/ with its
recorded size, so the next apply fetches and pays for nothing that was already stored. A receipt
is small (key, digest, size, model, request id, cost, namespace, name hint, time) and never read
on the hot path: only a rebuild reads them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from reconciler.errors import StoreError
from reconciler.records import OUTPUT_COLUMNS, Output, is_digest
from reconciler.store.db import Database
from reconciler.store.objects import Objects, fsync_dir

FORMAT = 1


class Restored(NamedTuple):
    """What a rebuild found: outputs put back, receipts whose blob is gone, files it could not read."""

    restored: tuple[Output, ...]
    missing_blob: tuple[Output, ...]
    unreadable: tuple[Path, ...]


class Receipts:
    """The receipt files of one store root."""

    def __init__(self, objects: Objects) -> None:
        self._objects = objects
        self.dir = objects.root / "receipts"

    def path(self, key: str) -> Path:
        if not is_digest(key):
            raise ValueError(f"not a key: {key!r}")
        hexdigest = key.removeprefix("sha256:")
        return self.dir / hexdigest[:2] / f"{hexdigest[2:]}.json"

    def write(self, output: Output) -> None:
        """Write (or replace) the receipt of `output.key`: temp file, fsync, rename, fsync the directory."""
        target = self.path(output.key)
        me = self._objects.identity.me
        # Named like a blob's temp file, so Store.open removes it if this process dies mid-write.
        import secrets  # only what writes needs it; a plan reads the store without it

        temp = self._objects.tmp / f"{me.pid}-{me.started}-{secrets.token_hex(8)}.part"
        data = json.dumps({"format": FORMAT, **output._asdict()}, sort_keys=True).encode()
        try:
            self._objects.tmp.mkdir(parents=True, exist_ok=True)
            new_shard = not target.parent.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            if new_shard:
                fsync_dir(target.parent.parent)
            with temp.open("xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
            fsync_dir(target.parent)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise StoreError(f"could not write the receipt {target} ({exc}); check disk space and permissions") from exc

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def any(self) -> bool:
        return self.dir.is_dir() and any(shard.is_dir() and any(shard.iterdir()) for shard in self.dir.iterdir())

    def read_all(self) -> tuple[list[Output], list[Path]]:
        """Every receipt as an Output, and the files that are not a readable receipt."""
        found: list[Output] = []
        bad: list[Path] = []
        for path in self._files():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.pop("format", None) != FORMAT:
                    raise ValueError("unknown format")
                output = Output(**data)
                if self.path(output.key) != path or not is_digest(output.digest):
                    raise ValueError("named for another key")
            except (OSError, ValueError, TypeError):
                bad.append(path)
                continue
            found.append(output)
        return found, bad

    def _files(self) -> Iterator[Path]:
        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.iterdir()):
            if shard.is_dir():
                yield from sorted(p for p in shard.iterdir() if p.suffix == ".json")


def restore(db: Database, objects: Objects, receipts: Receipts) -> Restored:
    """Put back the output row of every receipt whose key has none and whose blob is whole in objects/.

    A blob's size is checked here; its hash is checked by verify (run after a rebuild).
    """
    found, unreadable = receipts.read_all()
    restored: list[Output] = []
    missing: list[Output] = []
    with db.write() as tx:
        for output in found:
            path = objects.path(output.digest)
            try:
                whole = path.stat().st_size == output.size
            except FileNotFoundError:
                whole = False
            if not whole:
                missing.append(output)
                continue
            changed = tx.execute(
                f"INSERT OR IGNORE INTO outputs ({OUTPUT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (output.key, output.digest, output.size, output.model, output.request_id, output.cost_usd,
                 output.namespace, output.name_hint, output.created),
            )  # fmt: skip
            if changed:
                restored.append(output)
    return Restored(tuple(restored), tuple(missing), tuple(unreadable))


def worth(receipts: Receipts, objects: Objects) -> tuple[int, float]:
    """How many stored videos the receipts name whose blobs are here, and what they cost to make."""
    found, _ = receipts.read_all()
    kept = [o for o in found if objects.has(o.digest)]
    return len(kept), sum(o.cost_usd or 0.0 for o in kept)

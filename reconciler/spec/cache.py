"""A parse cache for spec files, kept on disk beside the store.

It maps a digest of (path, bytes, language and catalog versions, and the version of what is
derived: the keys) to the file's FileResult, so a file is re-read and re-hashed on every run
(cheap) but re-parsed, re-resolved and re-keyed only when its bytes change: a cache hit can never
be stale, even for an edit within the same second. A change of the catalog or of the spec
language changes FORMAT, and the whole cache is dropped.

The cache is one file of `marshal` data (Python's fastest loader for plain values, written
atomically): each file's result is kept as its own encoded record, decoded only when that file is
asked for. A missing, corrupt or foreign cache is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from reconciler import catalog
from reconciler.errors import Location, SpecError
from reconciler.spec.values import LANGUAGE_VERSION, FileEntry, FileResult, PartialEntry, SpecEntry, SpecWarning

FORMAT: Final = f"reconciler-parse-cache/marshal-2/{LANGUAGE_VERSION}/{catalog.CATALOG_VERSION}"
# Entries of files that are no longer seen are dropped after this many saves.
KEEP_UNSEEN_SAVES: Final = 3
# The cache of earlier versions, removed when this one is written.
LEGACY: Final = ("parse.pickle",)


class FileParseCache:
    """A ParseCache backed by one file; `save()` writes it back when something changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, tuple[int, bytes]] = {}  # digest -> (saves unseen, encoded FileResult)
        self._used: set[str] = set()
        self._dirty = False
        self._load()

    @classmethod
    def in_store(cls, store_root: Path) -> FileParseCache:
        """The cache every command shares, kept under the store directory."""
        return cls(store_root / "cache" / "parse.marshal")

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        try:
            stored = marshal.loads(data)
        except Exception:  # a corrupt or foreign cache is only a slower run, never an error
            return
        if isinstance(stored, dict) and stored.get("format") == FORMAT and isinstance(stored.get("records"), dict):
            self._records = stored["records"]

    def get(self, digest: str) -> FileResult | None:
        found = self._records.get(digest)
        if found is None:
            return None
        try:
            result = decode(found[1])
        except Exception:  # a record that does not decode is a miss, and is replaced
            return None
        self._used.add(digest)
        return result

    def put(self, digest: str, result: FileResult) -> None:
        try:
            record = encode(result)
        except ValueError:  # a value marshal cannot keep: this file is resolved on every run
            return
        self._records[digest] = (0, record)
        self._used.add(digest)
        self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed; failures are ignored (the cache is an optimisation)."""
        kept: dict[str, tuple[int, bytes]] = {}
        for digest, (age, record) in self._records.items():
            if digest in self._used:
                kept[digest] = (0, record)
            elif age + 1 < KEEP_UNSEEN_SAVES:
                kept[digest] = (age + 1, record)
        if not self._dirty and len(kept) == len(self._records):
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".parse-cache-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(marshal.dumps({"format": FORMAT, "records": kept}))
                os.replace(temp, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            for name in LEGACY:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path.parent / name)
        self._records = kept
        self._dirty = False


def _where(where: Location) -> tuple[str, int, int]:
    return (where.path, where.line, where.col)


def encode(result: FileResult) -> bytes:
    """A FileResult as marshal bytes of plain tuples; ValueError when a value cannot be kept."""
    entries = tuple(_plain(entry) for entry in result.partials)
    errors = tuple((_where(e.where), e.message, e.hint) for e in result.errors)
    warnings = tuple((_where(w.where), w.message) for w in result.warnings)
    return marshal.dumps((entries, errors, warnings))


def decode(record: bytes) -> FileResult:
    entries, errors, warnings = marshal.loads(record)
    return FileResult(
        partials=tuple(_entry(fields) for fields in entries),
        errors=tuple(SpecError(Location(*where), message, hint) for where, message, hint in errors),
        warnings=tuple(SpecWarning(Location(*where), message) for where, message in warnings),
    )


_FINISHED, _PARTIAL = 0, 1


def _plain(entry: FileEntry) -> tuple[Any, ...]:
    if isinstance(entry, SpecEntry):
        assert not entry.images  # a file's own entries name no local file
        return (_FINISHED, entry.name, entry.model, entry.params, entry.params_json, entry.tags, _where(entry.where),
                dict(entry.keys))  # fmt: skip
    refs = tuple((param, written, _where(spot)) for param, written, spot in entry.image_refs)
    return (_PARTIAL, entry.name, entry.model, entry.params, entry.tags, _where(entry.where), refs)


def _entry(fields: tuple[Any, ...]) -> FileEntry:
    if fields[0] == _FINISHED:
        _, name, model, params, params_json, tags, where, keys = fields
        return SpecEntry(name, model, params, params_json, tags, Location(*where), keys=keys)
    _, name, model, params, tags, where, refs = fields
    image_refs = tuple((param, written, Location(*spot)) for param, written, spot in refs)
    return PartialEntry(name, model, params, tags, Location(*where), image_refs)

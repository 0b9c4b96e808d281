"""A parse cache for spec files, kept on disk beside the store.

It maps a digest of (path, bytes, language and catalog versions) to the file's FileResult, so a
file is re-read and re-hashed on every run (cheap) but re-parsed and re-resolved only when its
bytes change: a cache hit can never be stale, even for an edit within the same second. The cache
is one pickle written atomically; a missing, corrupt or foreign cache is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Final

from reconciler import catalog
from reconciler.spec.values import LANGUAGE_VERSION, FileResult

FORMAT: Final = f"reconciler-parse-cache/{LANGUAGE_VERSION}/{catalog.CATALOG_VERSION}"
# Entries of files that are no longer seen are dropped after this many saves.
KEEP_UNSEEN_SAVES: Final = 3


class FileParseCache:
    """A ParseCache backed by one file; `save()` writes it back when something changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, tuple[int, FileResult]] = {}
        self._used: set[str] = set()
        self._dirty = False
        self._load()

    @classmethod
    def in_store(cls, store_root: Path) -> FileParseCache:
        """The cache every command shares, kept under the store directory."""
        return cls(store_root / "cache" / "parse.pickle")

    def _load(self) -> None:
        try:
            with self.path.open("rb") as handle:
                stored = pickle.load(handle)
        except FileNotFoundError:
            return
        except Exception:  # a corrupt or foreign cache is only a slower run, never an error
            return
        if isinstance(stored, dict) and stored.get("format") == FORMAT:
            self._entries = stored["entries"]

    def get(self, digest: str) -> FileResult | None:
        found = self._entries.get(digest)
        if found is None:
            return None
        self._used.add(digest)
        return found[1]

    def put(self, digest: str, result: FileResult) -> None:
        self._entries[digest] = (0, result)
        self._used.add(digest)
        self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed; failures are ignored (the cache is an optimisation)."""
        kept: dict[str, tuple[int, FileResult]] = {}
        for digest, (age, result) in self._entries.items():
            if digest in self._used:
                kept[digest] = (0, result)
            elif age + 1 < KEEP_UNSEEN_SAVES:
                kept[digest] = (age + 1, result)
        if not self._dirty and len(kept) == len(self._entries):
            return
        with contextlib.suppress(OSError, pickle.PicklingError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".parse-cache-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump({"format": FORMAT, "entries": kept}, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temp, self.path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        self._entries = kept
        self._dirty = False

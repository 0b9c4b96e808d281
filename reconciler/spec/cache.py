"""A parse cache for spec files, kept on disk beside the store.

It maps a digest of (path, bytes, language and catalog versions, and the version of what is
derived: the keys) to the file's FileResult, so a file is re-parsed, re-resolved and re-keyed only
when its bytes change: a hit by digest can never be stale, even for an edit within the same second.
A file is not even read when its stat (device, inode, size, mtime, ctime) is what it was when its
bytes were last hashed, and that stat was settled then (see `saw`: a same-second edit or a utime
call changes ctime). A change of the catalog or of the spec language changes FORMAT, and the whole
cache is dropped.

The file is an index (digest -> where its record lies, and the files known by stat) then the
records, each a FileResult encoded by `codec` for `marshal` (Python's fastest loader of plain
values). Opening reads the index only; a record is read when its file is asked for, so the cache of
100,000 specs is never held in memory beside the specs it decodes to. It is written atomically; a
missing, corrupt or foreign cache is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final

from reconciler import catalog
from reconciler.atomic import replacing
from reconciler.spec.codec import decode, encode
from reconciler.spec.values import LANGUAGE_VERSION, FileResult
from reconciler.stamps import settled, stamp

FORMAT: Final = f"reconciler-parse-cache/marshal-4/{LANGUAGE_VERSION}/{catalog.CATALOG_VERSION}"
MAGIC: Final = b"RPC\x00v004"  # 8 bytes, then the index's length (8 bytes, little-endian), the index, the records
# Entries of files that are no longer seen are dropped after this many saves.
KEEP_UNSEEN_SAVES: Final = 3
# The cache of earlier versions, removed when this one is written.
LEGACY: Final = ("parse.pickle",)


class FileParseCache:
    """A ParseCache backed by one file; `save()` writes it back when something changed."""

    def __init__(self, path: Path, *, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        self._now_ns = now_ns  # the wall clock a file's stat times are compared with (see `saw`)
        self._index: dict[str, tuple[int, int, int]] = {}  # digest -> (saves unseen, offset, length) in the file
        self._fresh: dict[str, bytes] = {}  # digest -> encoded FileResult, put since the file was read
        self._used: set[str] = set()
        # Files known by their stat: name -> (device, inode, size, mtime, ctime, digest).
        self._files: dict[str, tuple[int, int, int, int, int, str]] = {}
        self._looked: dict[str, tuple[tuple[int, int, int, int, int], int]] = {}  # name -> (stat, when looked)
        self._files_changed = False
        self._fd = -1
        self._room = 0  # bytes a record may read (set when a cache file is loaded)
        self._close: Callable[[], object] = lambda: None
        self._load()

    @classmethod
    def in_store(cls, store_root: Path) -> FileParseCache:
        """The cache every command shares, kept under the store directory."""
        return cls(store_root / "cache" / "parse.marshal")

    def _load(self) -> None:
        try:
            # Non-blocking: a FIFO put where the cache was is passed over, never waited on.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return
        try:
            info = os.fstat(fd)
            head = os.pread(fd, 16, 0)
            size = int.from_bytes(head[8:], "little")
            # Every length read from the file is bounded by the file's size before anything is read.
            whole = stat.S_ISREG(info.st_mode) and head[:8] == MAGIC and 16 + size <= info.st_size
            stored = marshal.loads(os.pread(fd, size, 16)) if whole else None
        except Exception:  # a corrupt or foreign cache is only a slower run, never an error
            stored = None
        if not (
            isinstance(stored, dict)
            and stored.get("format") == FORMAT
            and isinstance(stored.get("index"), dict)
            and isinstance(stored.get("files"), dict)
        ):
            os.close(fd)
            return
        # The open file stays readable if another run replaces it; it is closed with this cache.
        self._fd, self._base, self._index, self._files = fd, 16 + size, stored["index"], stored["files"]
        self._room = info.st_size - self._base  # the most any record may read
        self._close = weakref.finalize(self, os.close, fd)

    def _record(self, digest: str) -> bytes | None:
        if (fresh := self._fresh.get(digest)) is not None:
            return fresh
        if (found := self._index.get(digest)) is None:
            return None
        _, offset, length = found
        if not (isinstance(offset, int) and isinstance(length, int) and offset >= 0 and 0 <= length <= self._room):
            return None  # an index that points past the file's end is a corrupt cache: a miss
        data = os.pread(self._fd, length, self._base + offset)
        return data if len(data) == length else None

    def get(self, digest: str) -> FileResult | None:
        try:
            record = self._record(digest)
            result = decode(record) if record is not None else None
        except Exception:  # a record that does not read or decode is a miss, and is replaced
            return None
        if result is not None:
            self._used.add(digest)
        return result

    def digest_of(self, path: Path, name: str) -> str | None:
        """The digest `saw` recorded for `name` if the file's stat is the same (device, inode, size, times)."""
        before = self._now_ns()
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        signature = stamp(info)
        self._looked[name] = (signature, before)
        known = self._files.get(name)
        return known[5] if known is not None and known[:5] == signature else None

    def saw(self, name: str, digest: str) -> None:
        """Remember `digest` for the stat `digest_of` took, unless that stat is too recent to trust.

        A stat counts only when it had settled (`stamps.settled`): a later write then changes ctime.
        A recent file is read and hashed on every run until it has been left alone for that long.
        """
        looked = self._looked.pop(name, None)
        if looked is None:
            return
        signature, before = looked
        known = (*signature, digest) if settled(signature, before) else None
        if self._files.get(name) != known:
            if known is None:
                self._files.pop(name, None)
            else:
                self._files[name] = known
            self._files_changed = True

    def put(self, digest: str, result: FileResult) -> None:
        try:
            self._fresh[digest] = encode(result)
        except ValueError:  # a value marshal cannot keep: this file is resolved on every run
            return
        self._used.add(digest)

    def save(self) -> None:
        """Write the cache if it changed; failures are ignored (the cache is an optimisation)."""
        ages = {digest: 0 if digest in self._used else age + 1 for digest, (age, _, _) in self._index.items()}
        ages.update(dict.fromkeys(self._fresh, 0))
        kept = {digest: age for digest, age in ages.items() if age < KEEP_UNSEEN_SAVES}
        if not self._fresh and not self._files_changed and len(kept) == len(self._index):
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(self.path) as temp, temp.open("wb") as handle:
                self._write(handle, kept)
            for name in LEGACY:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path.parent / name)
            self._close()
            self._fd, self._index, self._fresh, self._files, self._files_changed = -1, {}, {}, {}, False
            self._load()

    def _write(self, handle: BinaryIO, kept: dict[str, int]) -> None:
        """The index, then each record, read from the old file one at a time (never all held at once)."""
        index: dict[str, tuple[int, int, int]] = {}
        offset = 0
        for digest, age in kept.items():
            fresh = self._fresh.get(digest)
            length = len(fresh) if fresh is not None else self._index[digest][2]
            index[digest] = (age, offset, length)
            offset += length
        files = {name: known for name, known in self._files.items() if known[5] in index}
        head = marshal.dumps({"format": FORMAT, "index": index, "files": files})
        handle.write(MAGIC + len(head).to_bytes(8, "little") + head)
        for digest, (_, _, length) in index.items():
            record = self._record(digest)
            if record is None or len(record) != length:
                raise OSError(f"the cache's record {digest} cannot be read back")
            handle.write(record)

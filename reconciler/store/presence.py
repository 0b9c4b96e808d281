"""Which blobs are here, remembered while the directories they are in stay as they were.

A blob is a file in its shard directory (`objects/sha256/<2 hex>/`), and a directory's mtime and
ctime move whenever an entry is added to it, removed or renamed: no blob comes or goes without its
shard directory's stamp changing. So the answer to "which of these blobs are here?" stays true while
the stamps of the shard directories it looked in are what they were just before it looked, and had
settled then (`stamps.settled`, the parse cache's rule). Such an answer is kept in
`<store>/cache/blobs.json` by a fingerprint of the question; asking the same question again costs a
stat of each of those directories instead of a look at each of the blobs (100,000 for a plan of
100,000 stored specs).

An answer is not kept when a blob it looked at is a symbolic link (its target can go without its
directory changing) or when a directory had changed too recently to be sure of. A missing, damaged
or foreign file is ignored, and a file that cannot be written is no error: it is a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Set
from pathlib import Path
from typing import Any, Final

from reconciler.atomic import replacing
from reconciler.stamps import Stamp, settled, stamp

FORMAT: Final = "reconciler-blob-answers/1"
KEEP: Final = 4  # answers kept, the most recently asked first (plan's question, apply's, a --target's)
REMEMBER_FROM: Final = 1_000  # fewer blobs cost less to look at than an answer costs to keep
# The largest answers file read: KEEP answers that each name a million blobs gone would be ~300 MB;
# a file past this was not written by a store of a size this tool serves, and is ignored unread.
MAX_FILE_BYTES: Final = 256 * 2**20
SHARDS: Final = frozenset(f"{n:02x}" for n in range(256))  # the names of the shard directories

Stamps = dict[str, Stamp | None]  # shard ("ab") -> its directory's stamp, None when there is none


def fingerprint(digests: Iterable[str]) -> str:
    """The question: the blobs asked about, in the order asked (the store asks in key order)."""
    return hashlib.sha256("\n".join(dict.fromkeys(digests)).encode()).hexdigest()


def stamps_of(base: str, shards: Iterable[str]) -> Stamps:
    found: Stamps = {}
    for shard in shards:
        try:
            found[shard] = stamp(os.stat(f"{base}/{shard}"))
        except OSError:
            found[shard] = None
    return found


class Answers:
    """The answers kept in one file: question -> (the shard stamps it relied on, the blobs not there)."""

    def __init__(self, path: Path, *, now_ns: Callable[[], int]) -> None:
        self.path = path
        self.now_ns = now_ns  # the wall clock the directories' times are compared with
        self._kept: dict[str, tuple[Stamps, list[str]]] | None = None

    def recall(self, question: str, base: str, shards: Set[str]) -> set[str] | None:
        """The blobs of `question` not there, if it was answered and none of its directories changed since.

        `shards` are the directories its blobs are in: an answer relying on others (edited by hand) is no answer.
        """
        kept = self._load().get(question)
        if kept is None:
            return None
        relied, gone = kept
        return set(gone) if relied.keys() == shards and stamps_of(base, relied) == relied else None

    def keep(self, question: str, relied: Stamps, before_ns: int, gone: Iterable[str]) -> None:
        """Keep an answer that relied on `relied` (stamps taken after `before_ns`), if they had settled."""
        if not all(taken is None or settled(taken, before_ns) for taken in relied.values()):
            return
        kept = {question: (relied, sorted(gone))}
        kept.update((q, answer) for q, answer in self._load().items() if q != question and len(kept) < KEEP)
        self._kept = kept
        document = {"format": FORMAT, "answers": [[q, r, g] for q, (r, g) in kept.items()]}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with replacing(self.path) as temp:
                temp.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")

    def _load(self) -> dict[str, tuple[Stamps, list[str]]]:
        if self._kept is None:
            try:
                self._kept = _parsed(json.loads(_read_file(self.path)))
            # RecursionError: a document nested deeper than the parser goes (no file this module wrote).
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
                self._kept = {}
        return self._kept


def _read_file(path: Path) -> bytes:
    """The bytes of `path` if it is a regular file of at most MAX_FILE_BYTES: a pipe or a device put in
    its place is never waited on, and a huge file never read."""
    with open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK)) as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path} is larger than any answers file this store writes")
        return file.read(MAX_FILE_BYTES + 1)


def _parsed(document: Mapping[str, Any]) -> dict[str, tuple[Stamps, list[str]]]:
    """The answers of a file's document; anything but this format's exact shape is a ValueError."""
    if document["format"] != FORMAT:
        raise ValueError("another format")
    kept: dict[str, tuple[Stamps, list[str]]] = {}
    for question, relied, gone in document["answers"]:
        stamps: Stamps = {}
        for shard, taken in relied.items():
            if shard not in SHARDS:  # only shard directories are relied on: no other path is looked at
                raise ValueError(f"no shard directory: {shard!r}")
            if taken is not None and (len(taken) != 5 or not all(type(n) is int for n in taken)):
                raise ValueError(f"a stamp that is none: {taken!r}")
            stamps[shard] = None if taken is None else (taken[0], taken[1], taken[2], taken[3], taken[4])
        if not all(isinstance(d, str) for d in gone):
            raise ValueError("a blob that is no name")
        kept[str(question)] = (stamps, list(gone))
    return kept

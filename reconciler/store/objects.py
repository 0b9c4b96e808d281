"""Content-addressed blobs on disk: `objects/sha256/<2 hex>/<62 hex>`, written atomically, never changed.

Bytes go to a temp file under `tmp/` (same filesystem as `objects/`), are hashed while they stream,
flushed and fsynced, made read-only, then renamed to the name of their hash, and the directory is
fsynced. A crash at any point leaves either no object or a whole one; what it can leave is a temp
file, named `<pid>-<start ticks>-<random>.part` so the next `Store.open` removes it once its owner
is dead (or a day has passed) without touching a temp file a running process is still writing.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from reconciler.errors import BlobRejectedError, StoreError
from reconciler.records import BlobInfo, Owner, is_digest
from reconciler.store import presence
from reconciler.store.owner import Identity

CHUNK = 1 << 20
STALE_TEMP_S = 24 * 3600.0
_TEMP_RE = re.compile(r"(\d+)-(\d+)-[0-9a-f]+\.part")
_HEX = frozenset("0123456789abcdef")
SHARDS = presence.SHARDS


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Path) -> tuple[str, int]:
    """("sha256:<hex>", size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return f"sha256:{digest.hexdigest()}", size


class Objects:
    """The blob directories of one store root."""

    def __init__(self, root: Path, identity: Identity, *, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.root = root
        self.identity = identity
        self.objects = root / "objects" / "sha256"
        self._answers = presence.Answers(root / "cache" / "blobs.json", now_ns=now_ns)
        self.tmp = root / "tmp"
        self.quarantine_dir = root / "quarantine"

    def create_layout(self) -> None:
        for path in (self.objects, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            # Like .pytest_cache: a store put anywhere never ends up committed by accident.
            ignore.write_text("# Created by reconciler: the store holds paid videos; keep it out of git.\n*\n")

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise ValueError(f"not a blob digest: {digest!r}")
        hexdigest = digest.removeprefix("sha256:")
        return self.objects / hexdigest[:2] / hexdigest[2:]

    def has(self, digest: str) -> bool:
        """Whether `digest`'s object is here, as `present` says: a regular file (a link's target counts);
        one in a directory we may not search is a StoreError that says so."""
        self.path(digest)  # a name that is no digest is a ValueError, as it always was
        return bool(self._each({digest})[0])

    def present(self, digests: Iterable[str], *, listing: bool | Callable[[], bool] = False) -> set[str]:
        """Those of `digests` whose object is here (a regular file, as `has` says).

        One stat each; or, with `listing` (asked about a good share of a big store's blobs, as a
        plan of 100,000 stored specs is), by listing the shard directories they fall in, which
        reads each directory once instead of looking up each file. A question of many blobs asked
        before, whose directories have not changed since, is answered from what was seen then
        (`presence`): a stat of each directory. `listing` may be a question itself, asked only if
        the files are looked at.
        """
        asked = list(digests)
        wanted = set(asked)
        if len(wanted) < presence.REMEMBER_FROM:
            return self._look(wanted, listing=listing() if callable(listing) else listing)[0]
        base, question, shards = str(self.objects), presence.fingerprint(asked), {d[7:9] for d in wanted} & SHARDS
        gone = self._answers.recall(question, base, shards)
        if gone is not None:
            return wanted - gone
        before = self._answers.now_ns()
        # Taken before looking, so a blob that comes or goes while we look changes them.
        relied = presence.stamps_of(base, sorted(shards))
        there, links = self._look(wanted, listing=listing() if callable(listing) else listing)
        if not links:
            self._answers.keep(question, relied, before, wanted - there)
        return there

    def _look(self, wanted: set[str], *, listing: bool) -> tuple[set[str], bool]:
        """(those of `wanted` here, whether any of them is a symbolic link), from the files themselves."""
        base = str(self.objects)
        if not listing:
            return self._each(wanted)
        found: set[str] = set()
        links = False
        for shard in {d[7:9] for d in wanted} & SHARDS:
            try:
                with os.scandir(f"{base}/{shard}") as entries:
                    named = [entry for entry in entries if len(entry.name) == 62]
                links = links or any(entry.is_symlink() for entry in named)
                found.update(f"sha256:{shard}{entry.name}" for entry in named if entry.is_file())
            except (FileNotFoundError, NotADirectoryError):
                continue  # no blob of this shard is here
            except OSError:  # a shard that cannot be listed may still be searched: ask each file
                each, linked = self._each({d for d in wanted if d[7:9] == shard})
                found.update(each)
                links = links or linked
        # Only digests asked about come back, named "sha256:" + a shard's hex pair + 62 characters;
        # what the store asks about are digests it recorded (`record_output` takes none that is not
        # one), so the 62 need no look of their own at each: they are hex.
        return wanted & found, links

    def _each(self, wanted: set[str]) -> tuple[set[str], bool]:
        """`_look` at each file: one lstat each (and a stat of a link's target).

        A blob we may not look at is an error, not a blob gone: taken for lost, it would be bought again.
        """
        base = str(self.objects)
        there, links = set(), False
        for d in wanted:
            if not is_digest(d):
                continue
            try:
                info = os.lstat(f"{base}/{d[7:9]}/{d[9:]}")
                if stat.S_ISLNK(info.st_mode):
                    links, info = True, os.stat(f"{base}/{d[7:9]}/{d[9:]}")
            except PermissionError:
                raise StoreError(
                    f"cannot look at {base}/{d[7:9]}/{d[9:]}: permission denied. Check the permissions of the"
                    " store directory; a video stored there would otherwise be taken for lost and made again"
                ) from None
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                there.add(d)
        return there, links

    def writer(self, *, max_bytes: int | None = None, expected_size: int | None = None) -> BlobWriter:
        return BlobWriter(self, max_bytes=max_bytes, expected_size=expected_size)

    def walk(self) -> Iterator[tuple[str | None, Path]]:
        """Every file under objects/: (digest, path), with digest None for a name that is not one."""
        if not self.objects.is_dir():
            return
        for shard in sorted(self.objects.iterdir()):
            if not shard.is_dir() or shard.is_symlink():
                yield None, shard
                continue
            for path in sorted(shard.iterdir()):
                name = shard.name + path.name
                ok = len(shard.name) == 2 and len(name) == 64 and set(name) <= _HEX
                ok = ok and path.is_file() and not path.is_symlink()
                yield (f"sha256:{name}" if ok else None), path

    def remove(self, digest: str) -> int:
        """Delete one object; the bytes freed (0 if it was already gone)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"could not remove {path} ({exc}); check the store's permissions") from exc
        return size

    def quarantine(self, path: Path, *, now: float) -> Path:
        """Move a bad file out of objects/ into quarantine/ for a person to inspect."""
        import secrets  # (random, hmac) only for what writes: a plan reads the store without it

        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{path.parent.name}{path.name}.{int(now)}.{secrets.token_hex(4)}"
        try:
            os.replace(path, target)
            fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(f"could not move {path} to {target} ({exc}); check permissions") from exc
        return target

    def clean_temp(self, *, now: float) -> list[Path]:
        """Remove temp files whose writer is dead or that are older than a day; the paths removed."""
        if not self.tmp.is_dir():
            return []
        me = self.identity.me
        removed = []
        for path in self.tmp.iterdir():
            match = _TEMP_RE.fullmatch(path.name)
            try:
                old = now - path.lstat().st_mtime > STALE_TEMP_S
            except FileNotFoundError:
                continue
            if match and not old:
                owner = Owner(me.host, me.boot, int(match[1]), int(match[2]))
                if self.identity.alive(owner):
                    continue
            elif not match and not old:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"could not remove stray temp file {path} ({exc})") from exc
            removed.append(path)
        return removed


class BlobWriter:
    """An object being written: `write` chunks, then `commit`; leaving the `with` without it discards."""

    def __init__(self, objects: Objects, *, max_bytes: int | None, expected_size: int | None) -> None:
        import secrets

        self._objects = objects
        self._max_bytes = max_bytes
        self._expected_size = expected_size
        me = objects.identity.me
        self.temp_path = objects.tmp / f"{me.pid}-{me.started}-{secrets.token_hex(8)}.part"
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False
        try:
            objects.tmp.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreError(f"could not create a temp file in {objects.tmp} ({exc}); check permissions") from exc
        self._file = os.fdopen(fd, "wb")

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise StoreError("this blob writer is already committed or aborted; open a new one")
        if self._max_bytes is not None and self.size + len(chunk) > self._max_bytes:
            self.abort()
            raise BlobRejectedError(f"a blob grew past the limit of {self._max_bytes} bytes; it was discarded")
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()
            raise StoreError(f"could not write {self.temp_path} ({exc}); is the disk full?") from exc
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> BlobInfo:
        """Make the bytes an object (or find the identical one already there) and return it."""
        if self._done:
            raise StoreError("this blob writer is already committed or aborted; open a new one")
        if self._expected_size is not None and self.size != self._expected_size:
            self.abort()
            raise BlobRejectedError(
                f"a blob ended after {self.size} bytes where {self._expected_size} were expected"
                " (truncated download?); it was discarded"
            )
        digest = f"sha256:{self._hash.hexdigest()}"
        target = self._objects.path(digest)
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            # The same bytes are already an object: keep it, unless it was damaged since (then heal it).
            if target.is_file() and hash_file(target) == (digest, self.size):
                self.temp_path.unlink()
            else:
                new_shard = not target.parent.exists()
                target.parent.mkdir(exist_ok=True)
                if new_shard:
                    fsync_dir(target.parent.parent)
                os.chmod(self.temp_path, 0o444)
                os.replace(self.temp_path, target)
                fsync_dir(target.parent)
        except OSError as exc:
            self.abort()
            raise StoreError(f"could not store a blob as {target} ({exc}); check disk space and permissions") from exc
        self._done = True
        return BlobInfo(digest=digest, size=self.size, path=target)

    def abort(self) -> None:
        """Discard the temp file; harmless after commit or a previous abort."""
        if self._done:
            return
        self._done = True
        self._file.close()
        self.temp_path.unlink(missing_ok=True)

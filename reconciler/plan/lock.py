"""The lock file: every spec's name with its key and model, and the video stored for it. Pure.

    reconciler.lock (TOML, sorted by name; written by apply, committed with the specs)

        version = 1
        namespace = "segmind"

        [videos."birds/eagle"]
        key = "sha256:..."
        model = "wan2.7-t2v"
        digest = "sha256:..."      # once a video is stored for the key
        size = 1234567

    build(namespace, specs, stored, previous) -> Lock      what apply writes
    compare(lock, specs) -> Drift                          what `plan --locked` checks
    dumps(lock) / loads(text, path)                        the file's text, byte-stable

A pull request that changes a spec changes its key, so it must change the lock too: reviewers see
in the lock's diff which videos will be made. Only names, keys and models are compared; digests
are a record of what was made, which a CI runner with an empty store cannot check. Nothing here
reads or writes a file: the command line hands the text in and takes it out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from reconciler.errors import Location, SpecError, SpecErrors
from reconciler.records import Output, is_digest

LOCK_VERSION: Final = 1

HEADER: Final = (
    "# reconciler.lock: every spec's request key and the video stored for it.\n"
    "# Written by `reconciler apply` (or `reconciler plan --update-lock`); do not edit it by hand.\n"
    "# Commit it with the specs: `reconciler plan --locked` fails when the two disagree.\n"
)


@dataclass(frozen=True)
class Locked:
    """One spec in the lock: its key and model, and the video stored for that key (when there is one)."""

    key: str
    model: str
    digest: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Lock:
    namespace: str
    videos: Mapping[str, Locked] = field(default_factory=dict)  # by spec name


@dataclass(frozen=True)
class Changed:
    name: str
    old: str  # the key in the lock
    new: str  # the key of the spec now


@dataclass(frozen=True)
class Renamed:
    old: str  # the name in the lock
    new: str  # the spec's name now, with the same key


@dataclass(frozen=True)
class Drift:
    """How the specs differ from their lock; each field sorted by name."""

    added: tuple[str, ...] = ()  # specs the lock does not name
    removed: tuple[str, ...] = ()  # names in the lock no spec has any more
    changed: tuple[Changed, ...] = ()  # specs whose request (hence key) changed
    renamed: tuple[Renamed, ...] = ()  # a name gone and a new one with its key: the same video, nothing to make

    @property
    def agrees(self) -> bool:
        return not (self.added or self.removed or self.changed or self.renamed)

    def lines(self) -> list[str]:
        """`added: name`, `removed: name`, `changed: name (key sha256:aaa -> sha256:bbb)`, `renamed: a -> b`."""
        return (
            [f"added: {name}" for name in self.added]
            + [f"removed: {name}" for name in self.removed]
            + [f"changed: {c.name} (key {short(c.old)} -> {short(c.new)})" for c in self.changed]
            + [f"renamed: {r.old} -> {r.new} (same key)" for r in self.renamed]
        )


@dataclass(frozen=True)
class Check:
    """The lock at `path` checked against the specs (`--locked`), and the videos it records that this
    store lacks, which apply would make again (a cold CI cache)."""

    path: str
    drift: Drift
    made_elsewhere: tuple[str, ...] = ()


def short(key: str) -> str:
    """A key as people compare it at a glance: `sha256:` and the first 12 hex digits."""
    return key[: len("sha256:") + 12]


def build(
    namespace: str,
    specs: Mapping[str, Locked],
    *,
    stored: Mapping[str, Output],
    previous: Lock | None = None,
) -> Lock:
    """The lock of `specs` (name -> key and model), with the video stored for each key.

    A key this store has no output for keeps the digest the previous lock recorded for it (under
    any name: a rename keeps it), so an apply on a machine that lacks some videos (a cold CI cache,
    a targeted run) never erases what was made elsewhere.
    """
    known: dict[str, Locked] = {}
    if previous is not None and previous.namespace == namespace:
        known = {v.key: v for v in previous.videos.values() if v.digest is not None}
    videos: dict[str, Locked] = {}
    for name in sorted(specs):
        spec = specs[name]
        output = stored.get(spec.key)
        if output is not None:
            videos[name] = Locked(spec.key, spec.model, output.digest, output.size)
        elif spec.key in known:
            videos[name] = Locked(spec.key, spec.model, known[spec.key].digest, known[spec.key].size)
        else:
            videos[name] = Locked(spec.key, spec.model)
    return Lock(namespace, videos)


def compare(lock: Lock, specs: Mapping[str, Locked]) -> Drift:
    """What changed in the specs since the lock was written (names and keys only, never digests)."""
    added = sorted(set(specs) - set(lock.videos))
    removed = sorted(set(lock.videos) - set(specs))
    # A removed name and an added one with the same key are a rename, paired in name order.
    unpaired: dict[str, list[str]] = {}
    for name in added:
        unpaired.setdefault(specs[name].key, []).append(name)
    renamed = []
    for name in removed:
        same = unpaired.get(lock.videos[name].key)
        if same:
            renamed.append(Renamed(name, same.pop(0)))
    paired = {r.old for r in renamed} | {r.new for r in renamed}
    return Drift(
        added=tuple(n for n in added if n not in paired),
        removed=tuple(n for n in removed if n not in paired),
        renamed=tuple(renamed),
        changed=tuple(
            Changed(name, lock.videos[name].key, specs[name].key)
            for name in sorted(set(specs) & set(lock.videos))
            if lock.videos[name].key != specs[name].key
        ),
    )


def made_elsewhere(lock: Lock, specs: Mapping[str, Locked], names: Collection[str]) -> tuple[str, ...]:
    """Of `names` (specs this store lacks), those whose video the lock records: made on another store."""
    return tuple(
        sorted(
            name
            for name in names
            if (entry := lock.videos.get(name)) is not None
            and entry.digest is not None
            and name in specs
            and specs[name].key == entry.key
        )
    )


def dumps(lock: Lock) -> str:
    """The file's text: a header, then one table per spec sorted by name. Same lock, same bytes."""
    lines = [HEADER, f"version = {LOCK_VERSION}", f"namespace = {_string(lock.namespace)}"]
    for name in sorted(lock.videos):
        video = lock.videos[name]
        lines += ["", f"[videos.{_string(name)}]", f"key = {_string(video.key)}", f"model = {_string(video.model)}"]
        if video.digest is not None:
            lines.append(f"digest = {_string(video.digest)}")
        if video.size is not None:
            lines.append(f"size = {video.size}")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    # A JSON string with every non-ASCII character escaped is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


_CONFLICT = re.compile(r"^(<<<<<<<|>>>>>>>|=======)( |$)", re.MULTILINE)
_REBUILD = "rebuild it from the specs with `reconciler plan --update-lock`"


def loads(text: str, path: str) -> Lock:
    """Parse a lock file's text; every problem is a SpecError pointing into `path`."""
    import tomllib  # only a run that reads the lock pays for it

    conflict = _CONFLICT.search(text)
    if conflict is not None:
        line = text.count("\n", 0, conflict.start()) + 1
        raise _error(path, "it has git merge conflict markers", _REBUILD, line=line)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(match.group(1)) if (match := re.search(r"line (\d+)", str(exc))) else 0
        raise _error(path, f"TOML syntax error: {exc}", _REBUILD, line=line) from None
    except RecursionError:  # tomllib recurses per nesting level; a lock never nests past a few
        raise _error(path, "it is nested too deeply to be a reconciler lock", _REBUILD) from None
    version = document.get("version")
    if version != LOCK_VERSION:
        if isinstance(version, int) and version > LOCK_VERSION:
            raise _error(path, f"lock version {version} was written by a newer reconciler", "upgrade reconciler")
        raise _error(path, f"not a reconciler lock (version = {version!r}, expected {LOCK_VERSION})", _REBUILD)
    namespace = document.get("namespace")
    table = document.get("videos", {})
    if not isinstance(namespace, str) or not isinstance(table, dict):
        raise _error(path, "a lock needs `namespace` (a string) and a [videos] table", _REBUILD)
    return Lock(namespace, {str(name): _entry(path, str(name), value) for name, value in table.items()})


def _entry(path: str, name: str, value: Any) -> Locked:
    if not isinstance(value, dict):
        raise _error(path, f"videos.{name} must be a table", _REBUILD)
    key, model, digest, size = (value.get(k) for k in ("key", "model", "digest", "size"))
    if not (isinstance(key, str) and is_digest(key)) or not isinstance(model, str):
        raise _error(path, f"videos.{name} needs a `key` (sha256:...) and a `model`", _REBUILD)
    if digest is not None and not (isinstance(digest, str) and is_digest(digest)):
        raise _error(path, f"videos.{name}.digest must be sha256: and 64 hex digits", _REBUILD)
    if size is not None and not (type(size) is int and size >= 0):
        raise _error(path, f"videos.{name}.size must be a whole number of bytes", _REBUILD)
    return Locked(key, model, digest, size)


def _error(path: str, message: str, hint: str, *, line: int = 0) -> SpecErrors:
    return SpecErrors([SpecError(Location(path, line), message, hint)])

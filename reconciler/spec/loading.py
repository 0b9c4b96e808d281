"""Loading: every spec file under some paths, read, resolved (through the parse cache) and finished.

    discover --> each file: unchanged by its stat (the cache knows its digest), or read --digest-->
             cache hit, or resolve_file (parse, expand, resolve) --media.finish_entries--> SpecEntry
             --check_unique--> SpecSet, or SpecErrors with all mistakes

The work per file is a pure function of its path and bytes, so the injected cache keeps it by a
digest of both (and the language and catalog versions): a hit is never stale.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from reconciler import catalog
from reconciler.errors import Location, SpecError, SpecErrors
from reconciler.spec.discovery import discover, display_path
from reconciler.spec.files import Refused, TooLarge, read_regular, roots_of
from reconciler.spec.limits import MAX_FILE_BYTES, too_large
from reconciler.spec.media import finish_entries
from reconciler.spec.values import (
    LANGUAGE_VERSION,
    Collector,
    Derive,
    FileEntry,
    FileResult,
    ParseCache,
    SpecEntry,
    SpecSet,
    SpecWarning,
)


def file_digest(path: str, data: bytes) -> str:
    digest = hashlib.sha256(f"{LANGUAGE_VERSION}:{catalog.CATALOG_VERSION}:{path}\0".encode())
    digest.update(data)
    return digest.hexdigest()


def load(
    paths: Sequence[str | Path],
    *,
    cache: ParseCache | None = None,
    allow_outside_files: bool = False,
    derive: Derive | None = None,
    read: list[str] | None = None,
) -> SpecSet:
    """Load, resolve and check every spec under `paths`; raises SpecErrors with every mistake.

    Local files named by specs must lie inside `paths` (or a file's directory) unless
    `allow_outside_files`. With `derive`, each entry's `keys` is derived (and cached with its file).
    `read` (with a cache) gets the digest of each file as it was loaded, as `digests` gives them:
    what a plan kept by them was made from, even if a file changed since `digests` looked.
    """
    files, errors = discover(paths)
    if not files and not errors:
        shown = ", ".join(str(p) for p in paths)
        errors.append(SpecError(Location(shown), "no spec files (*.yaml, *.yml, *.toml) found", "add one, see README"))
    partials: list[FileEntry] = []
    warnings: list[SpecWarning] = []
    shown_files: list[str] = []
    for path in files:
        shown = display_path(path)
        shown_files.append(shown)
        result = load_file(path, shown, cache, derive, read)
        partials.extend(result.partials)
        errors.extend(result.errors)
        warnings.extend(result.warnings)
    entries = finish_entries(partials, errors, roots=None if allow_outside_files else roots_of(paths))
    check_unique(entries, errors)
    if errors:
        raise SpecErrors(_dedupe(errors))
    return SpecSet(entries=tuple(entries), files=tuple(shown_files), warnings=tuple(warnings))


def digests(paths: Sequence[str | Path], cache: ParseCache, derive: Derive | None = None) -> tuple[str, ...] | None:
    """The digest of each spec file under `paths`, as `load` looks it up in `cache`: what the specs are.

    Two loads whose files have the same digests load the same specs (the parse cache's promise),
    unless a spec names local files, which are hashed on every load. A file known by its stat is
    not read. None when a file cannot be found or read: `load` says what is wrong.
    """
    files, errors = discover(paths)
    if errors or not files:
        return None
    salt = derive.version if derive is not None else ""
    found = []
    for path in files:
        shown = display_path(path)
        name = _cache_name(path, shown, salt)
        if (known := cache.digest_of(path, name)) is None:
            try:
                data = read_regular(path, MAX_FILE_BYTES)
            except (TooLarge, Refused, OSError):
                return None
            known = _digest(path, shown, salt, data)
            cache.saw(name, known)
        found.append(known)
    return tuple(found)


def load_file(
    path: Path, shown: str, cache: ParseCache | None, derive: Derive | None = None, read: list[str] | None = None
) -> FileResult:
    salt = derive.version if derive is not None else ""
    name = _cache_name(path, shown, salt)
    if cache is not None and (known := cache.digest_of(path, name)) is not None:
        cached = cache.get(known)
        if cached is not None:
            if read is not None:
                read.append(known)
            return cached
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except TooLarge as exc:
        return FileResult(errors=(too_large(shown, exc.size),))
    except Refused as exc:
        return FileResult(errors=(SpecError(Location(shown), f"cannot read file: it {exc.reason}"),))
    except OSError as exc:
        return FileResult(errors=(SpecError(Location(shown), f"cannot read file: {exc.strerror}"),))
    digest = _digest(path, shown, salt, data) if cache is not None else ""
    if read is not None:
        read.append(digest)
    if cache is not None:
        cache.saw(name, digest)
        cached = cache.get(digest)
        if cached is not None:
            return cached
    result = resolve_file(shown, data)
    if derive is not None:
        result = result._replace(partials=tuple(_derived(part, derive) for part in result.partials))
    if cache is not None:
        cache.put(digest, result)
        # Served as a warm run serves it (parameters kept encoded): a cold load of 100,000 specs
        # then holds no more than a warm one.
        return cache.get(digest) or result
    return result


def _cache_name(path: Path, shown: str, salt: str) -> str:
    """The name the parse cache knows a file's stat by."""
    return f"{os.path.abspath(path)}\0{shown}\0{salt}"


def _digest(path: Path, shown: str, salt: str, data: bytes) -> str:
    """The digest the parse cache keeps a file's result by: its resolved path, as shown, and its bytes."""
    return file_digest(f"{path.resolve()}\0{shown}\0{salt}", data)


def _derived(part: FileEntry, derive: Derive) -> FileEntry:
    # An entry with local files has no params_json yet: its keys wait for its files' hashes.
    return part._replace(keys=derive(part.model, part.params_json)) if isinstance(part, SpecEntry) else part


def resolve_file(shown: str, data: bytes) -> FileResult:
    """Everything one file's bytes decide: its entries, mistakes and warnings."""
    # The parsers (and expansion, resolution) load with the first file to parse: a warm load parses none.
    from reconciler.spec.documents import parse
    from reconciler.spec.expansion import document_entries

    try:
        doc = parse(shown, data)
    except SpecError as exc:
        return FileResult(errors=(exc,))
    out = Collector()
    partials = list(document_entries(doc, out))
    return FileResult(tuple(partials), tuple(out.errors), tuple(out.warnings))


def check_unique(entries: list[SpecEntry], errors: list[SpecError]) -> None:
    first: dict[str, SpecEntry] = {}
    for entry in entries:
        other = first.setdefault(entry.name, entry)
        if other is not entry:
            errors.append(
                SpecError(
                    entry.where,
                    f"duplicate name {entry.name!r}: also defined at {other.where}",
                    "names must be unique across all spec files",
                )
            )
            errors.append(SpecError(other.where, f"duplicate name {entry.name!r}: also defined at {entry.where}"))


def _dedupe(errors: list[SpecError]) -> list[SpecError]:
    seen: set[str] = set()
    unique: list[SpecError] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.add(text)
            unique.append(error)
    return unique

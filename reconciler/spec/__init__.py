"""The spec language: spec files under some paths become resolved, named video requests.

    discovery   paths --> spec files, in a stable order
    documents   bytes --> Document (YAML/TOML data with the position of every key)
    expansion   Document --> entries: defaults merged, matrix expanded, names checked
    resolution  entry --catalog.check--> SpecEntry: every parameter coerced and defaulted
                (a PartialEntry while it names local files)
    media       PartialEntry --local images and audio hashed--> SpecEntry
    loading     all of the above per file, through the parse cache, names unique --> SpecSet
    cache       the parse cache on disk (records encoded by `codec`), with each entry's keys (`Derive`)

All mistakes of all files are collected and raised together as one SpecErrors, each with
`file:line:col`. The work per file is a pure function of its bytes, so a cache (injected, see
`reconciler.spec.cache`) can keep it by content hash; local images and audio are hashed on every
load, since they are not part of the spec file's bytes. Every file is read through
`reconciler.spec.files` (regular files only, bounded, local media inside the spec directories).
`live` reloads file by file for watch; `schema` describes the language as JSON Schema.

The names below load on first use: a module that needs only the values (SpecEntry, for the plan
and the keys) does not import the parsers, and a warm load (every file served by the parse cache)
never imports them at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.exports import exports

if TYPE_CHECKING:
    from reconciler.spec.discovery import discover, display_path, is_spec_file_name
    from reconciler.spec.expansion import MAX_MATRIX, name_problem
    from reconciler.spec.loading import check_unique, digests, file_digest, load, load_file, resolve_file
    from reconciler.spec.media import LOCAL_IMAGE_PREFIX, finish_entries
    from reconciler.spec.values import (
        LANGUAGE_VERSION,
        FileResult,
        LocalFile,
        LocalImage,
        ParseCache,
        PartialEntry,
        SpecEntry,
        SpecSet,
        SpecWarning,
    )

_HOMES = {
    "reconciler.spec.discovery": ("discover", "display_path", "is_spec_file_name"),
    "reconciler.spec.expansion": ("MAX_MATRIX", "name_problem"),
    "reconciler.spec.loading": ("check_unique", "digests", "file_digest", "load", "load_file", "resolve_file"),
    "reconciler.spec.media": ("LOCAL_IMAGE_PREFIX", "finish_entries"),
    "reconciler.spec.values": (
        "LANGUAGE_VERSION",
        "FileResult",
        "LocalFile",
        "LocalImage",
        "ParseCache",
        "PartialEntry",
        "SpecEntry",
        "SpecSet",
        "SpecWarning",
    ),
}

__all__ = [
    "LANGUAGE_VERSION",
    "LOCAL_IMAGE_PREFIX",
    "MAX_MATRIX",
    "FileResult",
    "LocalFile",
    "LocalImage",
    "ParseCache",
    "PartialEntry",
    "SpecEntry",
    "SpecSet",
    "SpecWarning",
    "check_unique",
    "digests",
    "discover",
    "display_path",
    "file_digest",
    "finish_entries",
    "is_spec_file_name",
    "load",
    "load_file",
    "name_problem",
    "resolve_file",
]

if not TYPE_CHECKING:  # type checkers read the names from the imports above, and so know each one's type
    __getattr__ = exports(__name__, _HOMES)

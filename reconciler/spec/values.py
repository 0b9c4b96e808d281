"""The values of the spec language: what loading hands out, and what one file's parse leaves for later.

    one file's FileResult (cacheable): SpecEntry, or PartialEntry --media.finish_entries--> SpecEntry

A FileResult is all that one file's bytes decide; a ParseCache keeps FileResults between runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple, Protocol, TypeAlias

from reconciler.errors import Location, SpecError

# Bump when the meaning of a spec file changes: cached results of the old language are ignored.
# 2: local audio files; local files outside the spec directories are refused.
LANGUAGE_VERSION: Final = 2


class LocalFile(NamedTuple):
    """A local file given for an image or audio parameter; it counts by its bytes, not its path."""

    param: str
    path: str  # absolute path of the file
    sha256: str  # hex digest of its bytes
    media_type: str  # image/png, image/jpeg, image/webp, audio/mpeg or audio/wav


LocalImage = LocalFile  # the engine's name for it, from when only images could be local

NO_KEYS: Final[Mapping[str, str]] = MappingProxyType({})  # an entry whose keys were not derived


class SpecEntry(NamedTuple):
    """One declared video, resolved: every parameter present, coerced, defaulted.

    Immutable; a NamedTuple rather than a frozen dataclass because a big project loads 100,000 of
    them on every plan, and a tuple is made five times faster.
    """

    name: str
    model: str
    params: Mapping[str, Any]  # as sent to the API, except local images (see `images`)
    params_json: str  # canonical JSON of the identity parameters: what the key is made of
    tags: tuple[str, ...]
    where: Location
    images: tuple[LocalImage, ...] = ()
    # Its content key by namespace, derived once at load and kept in the parse cache (`Derive`);
    # empty when not derived: `keys.entry_key` computes what is missing.
    keys: Mapping[str, str] = NO_KEYS

    # Compared without `keys`: they are derived from the rest, and known or not is no difference.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecEntry) and self[:7] == other[:7]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:7])  # as compared (a TypeError for parameters kept as a dict, like a dict's)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and deep-copied with its keys as a dict: NO_KEYS, a mapping proxy, cannot be pickled.
        return (SpecEntry, (*self[:7], dict(self.keys)))


class SpecWarning(NamedTuple):
    where: Location
    message: str

    def __str__(self) -> str:
        return f"{self.where}: warning: {self.message}"


class SpecSet(NamedTuple):
    """Everything declared under some paths."""

    entries: tuple[SpecEntry, ...]
    files: tuple[str, ...]
    warnings: tuple[SpecWarning, ...] = ()


class PartialEntry(NamedTuple):
    """An entry that names local files (images, audio): finished, its files hashed, on every load."""

    name: str
    model: str
    params: dict[str, Any]  # every parameter but the local files, which `image_refs` names
    tags: tuple[str, ...]
    where: Location
    image_refs: tuple[tuple[str, str, Location], ...]  # (param, path as written, where): images, audio


# What one file decides of an entry: all of it (a SpecEntry), or all but its local files.
FileEntry: TypeAlias = "SpecEntry | PartialEntry"


class FileResult(NamedTuple):
    """The cacheable outcome of one file: a pure function of its path and bytes."""

    partials: tuple[FileEntry, ...] = ()  # its entries, in order
    errors: tuple[SpecError, ...] = ()
    warnings: tuple[SpecWarning, ...] = ()


class Derive(Protocol):
    """What a layer above derives from a resolved request (its content keys), kept in the parse cache with it.

    `version` is part of the cache digest, so a derivation of another version is never served.
    """

    @property
    def version(self) -> str: ...

    def __call__(self, model: str, params_json: str) -> dict[str, str]: ...


class ParseCache(Protocol):
    """Keeps FileResults by a digest of (path, bytes, language and catalog versions).

    It may also know a file's digest without its bytes being read: `digest_of` answers only when
    the file is certainly unchanged since `saw` recorded it (loading reads and hashes it otherwise).
    """

    def get(self, digest: str) -> FileResult | None: ...

    def put(self, digest: str, result: FileResult) -> None: ...

    def digest_of(self, path: Path, name: str) -> str | None:
        """The digest of the file at `path` (known to the cache as `name`), if certainly unchanged, else None."""
        ...

    def saw(self, name: str, digest: str) -> None:
        """The file `digest_of` just looked at under `name` has `digest` (its bytes were read and hashed)."""
        ...


@dataclass
class Collector:
    """The mistakes and warnings found while reading one file."""

    errors: list[SpecError] = field(default_factory=list)
    warnings: list[SpecWarning] = field(default_factory=list)

    def error(self, where: Location, message: str, hint: str | None = None) -> None:
        self.errors.append(SpecError(where, message, hint))

"""The values of the spec language: what loading hands out, and what one file's parse leaves for later.

    PartialEntry (one file's verdict, cacheable) --media.finish_entries--> SpecEntry (local files hashed)

A FileResult is all that one file's bytes decide; a ParseCache keeps FileResults between runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from reconciler.errors import Location, SpecError

# Bump when the meaning of a spec file changes: cached results of the old language are ignored.
# 2: local audio files; local files outside the spec directories are refused.
LANGUAGE_VERSION: Final = 2


@dataclass(frozen=True)
class LocalFile:
    """A local file given for an image or audio parameter; it counts by its bytes, not its path."""

    param: str
    path: str  # absolute path of the file
    sha256: str  # hex digest of its bytes
    media_type: str  # image/png, image/jpeg, image/webp, audio/mpeg or audio/wav


LocalImage = LocalFile  # the engine's name for it, from when only images could be local


@dataclass(frozen=True)
class SpecEntry:
    """One declared video, resolved: every parameter present, coerced, defaulted."""

    name: str
    model: str
    params: Mapping[str, Any]  # as sent to the API, except local images (see `images`)
    params_json: str  # canonical JSON of the identity parameters: what the key is made of
    tags: tuple[str, ...]
    where: Location
    images: tuple[LocalImage, ...] = ()


@dataclass(frozen=True)
class SpecWarning:
    where: Location
    message: str

    def __str__(self) -> str:
        return f"{self.where}: warning: {self.message}"


@dataclass(frozen=True)
class SpecSet:
    """Everything declared under some paths."""

    entries: tuple[SpecEntry, ...]
    files: tuple[str, ...]
    warnings: tuple[SpecWarning, ...] = ()


@dataclass(frozen=True)
class PartialEntry:
    """An entry as far as its own file decides it; local images are resolved on every load."""

    name: str
    model: str
    params: dict[str, Any]
    params_json: str | None  # None while a local image is still to be hashed
    tags: tuple[str, ...]
    where: Location
    image_refs: tuple[tuple[str, str, Location], ...] = ()  # (param, path as written, where): images, audio


@dataclass(frozen=True)
class FileResult:
    """The cacheable outcome of one file: a pure function of its path and bytes."""

    partials: tuple[PartialEntry, ...] = ()
    errors: tuple[SpecError, ...] = ()
    warnings: tuple[SpecWarning, ...] = ()


class ParseCache(Protocol):
    """Keeps FileResults by a digest of (path, bytes, language and catalog versions)."""

    def get(self, digest: str) -> FileResult | None: ...

    def put(self, digest: str, result: FileResult) -> None: ...


@dataclass
class Collector:
    """The mistakes and warnings found while reading one file."""

    errors: list[SpecError] = field(default_factory=list)
    warnings: list[SpecWarning] = field(default_factory=list)

    def error(self, where: Location, message: str, hint: str | None = None) -> None:
        self.errors.append(SpecError(where, message, hint))

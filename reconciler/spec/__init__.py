"""The spec language: spec files under some paths become resolved, named video requests.

    files --documents.parse--> documents --entries--> defaults merged, matrix expanded, names checked
          --catalog.check--> every parameter coerced and defaulted --local files--> images, audio hashed

All mistakes of all files are collected and raised together as one SpecErrors, each with
`file:line:col`. The work per file is a pure function of its bytes, so a cache (injected, see
`reconciler.spec.cache`) can keep it by content hash; local images and audio are hashed on every
load, since they are not part of the spec file's bytes. Every file is read through
`reconciler.spec.files` (regular files only, bounded, local media inside the spec directories).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from reconciler import catalog
from reconciler.errors import Location, SpecError, SpecErrors
from reconciler.spec.documents import MAX_FILE_BYTES, SUFFIXES, Document, PathKey, parse, too_large
from reconciler.spec.files import (
    ACCEPTED,
    MAX_MEDIA_BYTES,
    Refused,
    TooLarge,
    media_type,
    outside,
    read_regular,
    roots_of,
)

# Bump when the meaning of a spec file changes: cached results of the old language are ignored.
# 2: local audio files; local files outside the spec directories are refused.
LANGUAGE_VERSION: Final = 2
MAX_MATRIX: Final = 10_000
NAME_SEGMENT: Final = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
TAG: Final = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
RESERVED: Final = ("model", "tags", "matrix")
LOCAL_IMAGE_PREFIX: Final = "local:sha256:"
OUTSIDE_HINT: Final = (
    "move the file under the spec directory, or set `allow_outside_files = true` under [reconciler] "
    "in reconciler.toml if you trust every spec"
)


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
class _Partial:
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

    partials: tuple[_Partial, ...] = ()
    errors: tuple[SpecError, ...] = ()
    warnings: tuple[SpecWarning, ...] = ()


class ParseCache(Protocol):
    """Keeps FileResults by a digest of (path, bytes, language and catalog versions)."""

    def get(self, digest: str) -> FileResult | None: ...

    def put(self, digest: str, result: FileResult) -> None: ...


@dataclass
class _Collector:
    errors: list[SpecError] = field(default_factory=list)
    warnings: list[SpecWarning] = field(default_factory=list)

    def error(self, where: Location, message: str, hint: str | None = None) -> None:
        self.errors.append(SpecError(where, message, hint))


def display_path(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[SpecError]]:
    """Spec files under the given paths, recursively, in a stable order; editor and hidden files skipped."""
    found: dict[Path, None] = {}
    errors: list[SpecError] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            found[root] = None
        elif root.is_dir():
            for item in sorted(_walk(root)):
                found[item] = None
        elif root.exists():  # a FIFO or a device given by name: reading refuses it, saying what it is
            found[root] = None
        else:
            errors.append(SpecError(Location(str(given)), "no such file or directory"))
    return list(found), errors


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in filenames:
            if is_spec_file_name(name):
                yield Path(dirpath) / name


def is_spec_file_name(name: str) -> bool:
    """A YAML or TOML file that is not an editor's temp, backup or lock file."""
    if name.startswith((".", "#", "~")) or name.endswith(("~", ".swp", ".swx", ".tmp", ".bak")):
        return False
    return name.endswith(SUFFIXES)


def file_digest(path: str, data: bytes) -> str:
    digest = hashlib.sha256(f"{LANGUAGE_VERSION}:{catalog.CATALOG_VERSION}:{path}\0".encode())
    digest.update(data)
    return digest.hexdigest()


def load(paths: Sequence[str | Path], *, cache: ParseCache | None = None, allow_outside_files: bool = False) -> SpecSet:
    """Load, resolve and check every spec under `paths`; raises SpecErrors with every mistake.

    Local files named by specs must lie inside `paths` (or a file's directory) unless
    `allow_outside_files`.
    """
    files, errors = discover(paths)
    if not files and not errors:
        shown = ", ".join(str(p) for p in paths)
        errors.append(SpecError(Location(shown), "no spec files (*.yaml, *.yml, *.toml) found", "add one, see README"))
    partials: list[_Partial] = []
    warnings: list[SpecWarning] = []
    shown_files: list[str] = []
    for path in files:
        shown = display_path(path)
        shown_files.append(shown)
        result = load_file(path, shown, cache)
        partials.extend(result.partials)
        errors.extend(result.errors)
        warnings.extend(result.warnings)
    entries = finish_entries(partials, errors, roots=None if allow_outside_files else roots_of(paths))
    check_unique(entries, errors)
    if errors:
        raise SpecErrors(_dedupe(errors))
    return SpecSet(entries=tuple(entries), files=tuple(shown_files), warnings=tuple(warnings))


def load_file(path: Path, shown: str, cache: ParseCache | None) -> FileResult:
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except TooLarge as exc:
        return FileResult(errors=(too_large(shown, exc.size),))
    except Refused as exc:
        return FileResult(errors=(SpecError(Location(shown), f"cannot read file: it {exc.reason}"),))
    except OSError as exc:
        return FileResult(errors=(SpecError(Location(shown), f"cannot read file: {exc.strerror}"),))
    digest = file_digest(f"{path.resolve()}\0{shown}", data) if cache is not None else ""
    if cache is not None:
        cached = cache.get(digest)
        if cached is not None:
            return cached
    result = resolve_file(shown, data)
    if cache is not None:
        cache.put(digest, result)
    return result


def resolve_file(shown: str, data: bytes) -> FileResult:
    """Everything one file's bytes decide: its entries, mistakes and warnings."""
    try:
        doc = parse(shown, data)
    except SpecError as exc:
        return FileResult(errors=(exc,))
    out = _Collector()
    partials = list(_document_entries(doc, out))
    return FileResult(tuple(partials), tuple(out.errors), tuple(out.warnings))


def _document_entries(doc: Document, out: _Collector) -> Iterable[_Partial]:
    top = doc.data
    for key in top:
        if key not in ("videos", "defaults"):
            hint = catalog.did_you_mean(key, ("videos", "defaults")) or "a spec file holds `videos:` and `defaults:`"
            out.error(doc.at((key,), key=True), f"unknown top-level key {key!r}", hint)
    if "videos" not in top:
        if any(key not in ("videos", "defaults") for key in top):
            return  # a misspelt `videos` is already reported, with a did-you-mean
        out.error(doc.at(()), "no `videos:` mapping in this file", "add `videos:` with one entry per video")
        return
    videos = top["videos"]
    if videos is None:
        videos = {}
    if not isinstance(videos, dict):
        out.error(
            doc.at(("videos",)),
            f"`videos` must be a mapping of name to entry, not {catalog.describe_type(videos)}",
        )
        return
    defaults = _defaults(doc, out)
    if defaults is None:
        return
    for name, body in videos.items():
        yield from _entry(doc, name, body, defaults=defaults, out=out)


def _defaults(doc: Document, out: _Collector) -> dict[str, Any] | None:
    defaults = doc.data.get("defaults")
    if defaults is None:
        return {}
    if not isinstance(defaults, dict):
        out.error(doc.at(("defaults",)), f"`defaults` must be a mapping, not {catalog.describe_type(defaults)}")
        return None
    if "matrix" in defaults:
        out.error(
            doc.at(("defaults", "matrix"), key=True),
            "`matrix` cannot be a default",
            "put the matrix on the entries it expands",
        )
        return None
    return defaults


def _entry(doc: Document, name: str, body: Any, *, defaults: dict[str, Any], out: _Collector) -> Iterable[_Partial]:
    here = ("videos", name)
    where = doc.at(here, key=True)
    if not isinstance(body, dict):
        out.error(
            doc.at(here),
            f"entry {name!r} must be a mapping with `model:` and parameters, not {catalog.describe_type(body)}",
        )
        return
    origin: dict[str, PathKey] = {k: ("defaults", k) for k in defaults}
    origin.update({k: (*here, k) for k in body})
    merged = {**defaults, **body}
    model = _model(doc, merged, origin, out, where)
    tags = _tags(doc, defaults, body, here, out)
    matrix = _matrix(doc, body.get("matrix"), here, model, out)
    if model is None or tags is None or matrix is None:
        return
    given = {k: v for k, v in merged.items() if k not in RESERVED}
    names = _expanded_names(doc, name, matrix, here, out)
    if names is None:
        return
    seen_errors: set[tuple[Location, str]] = set()
    for expanded_name, combo in names:
        params = dict(given)
        combo_origin = dict(origin)
        for param, (value, index) in combo.items():
            params[param] = value
            combo_origin[param] = (*here, "matrix", param, index)
        if not _name_ok(doc, expanded_name, here, out):
            continue
        partial = _resolve(
            doc,
            expanded_name,
            model=model,
            given=params,
            origin=combo_origin,
            tags=tags,
            where=where,
            out=out,
            seen=seen_errors,
        )
        if partial is not None:
            yield partial


def _model(
    doc: Document, merged: dict[str, Any], origin: dict[str, PathKey], out: _Collector, where: Location
) -> catalog.Model | None:
    slug = merged.get("model")
    if slug is None:
        out.error(where, "entry has no `model`", "known models: " + ", ".join(catalog.SLUGS))
        return None
    model = catalog.get(slug) if isinstance(slug, str) else None
    if model is None:
        closest = catalog.closest(str(slug), catalog.SLUGS)
        out.error(
            doc.at(origin["model"]),
            f"unknown model {catalog.show(slug)}",
            "known models: " + ", ".join(closest),
        )
    return model


def _tags(
    doc: Document, defaults: dict[str, Any], body: dict[str, Any], here: PathKey, out: _Collector
) -> tuple[str, ...] | None:
    tags: list[str] = []
    for source, block in ((("defaults",), defaults), (here, body)):
        value = block.get("tags", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            out.error(doc.at((*source, "tags")), "`tags` must be a list of words, like [demo, v2]")
            return None
        for index, tag in enumerate(value):
            if not isinstance(tag, str) or not TAG.match(tag):
                out.error(
                    doc.at((*source, "tags", index)),
                    f"tag {catalog.show(tag)} is not a word",
                    "tags are lowercase letters, digits, - and _",
                )
                return None
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


def _matrix(
    doc: Document, matrix: Any, here: PathKey, model: catalog.Model | None, out: _Collector
) -> dict[str, list[Any]] | None:
    if matrix is None:
        return {}
    spot = (*here, "matrix")
    if not isinstance(matrix, dict) or not matrix:
        out.error(doc.at(spot), "`matrix` must be a mapping of parameter to a list of values")
        return None
    size = 1
    for param, values in matrix.items():
        if model is not None and param not in model.by_name:
            hint = catalog.did_you_mean(
                param, tuple(model.by_name)
            ) or "parameters of " + model.slug + ": " + ", ".join(sorted(model.by_name))
            out.error(
                doc.at((*spot, param), key=True),
                f"unknown parameter {param!r} in matrix for {model.slug}",
                hint,
            )
            return None
        if param in RESERVED:
            out.error(doc.at((*spot, param), key=True), f"`{param}` cannot be a matrix dimension")
            return None
        if not isinstance(values, list) or not values:
            out.error(doc.at((*spot, param)), f"matrix values for {param!r} must be a non-empty list")
            return None
        size *= len(values)
    if size > MAX_MATRIX:
        out.error(
            doc.at(spot, key=True),
            f"matrix expands to {size:,} entries; at most {MAX_MATRIX:,} are allowed",
            "split it into several entries",
        )
        return None
    return matrix


def _expanded_names(
    doc: Document, name: str, matrix: dict[str, list[Any]], here: PathKey, out: _Collector
) -> list[tuple[str, dict[str, tuple[Any, int]]]] | None:
    if not matrix:
        return [(name, {})]
    params = list(matrix)
    result: list[tuple[str, dict[str, tuple[Any, int]]]] = []
    for indexes in itertools.product(*(range(len(matrix[p])) for p in params)):
        combo = {p: (matrix[p][i], i) for p, i in zip(params, indexes, strict=True)}
        if "{" in name:
            try:
                expanded = name.format(**{p: _slug(v) for p, (v, _) in combo.items()})
            except (KeyError, IndexError, ValueError) as exc:
                out.error(
                    doc.at(here, key=True),
                    f"name template {name!r} cannot be filled: {exc}",
                    "use {param} placeholders naming matrix parameters: " + ", ".join(params),
                )
                return None
        else:
            suffix = "-".join(f"{_slug(p)}-{_slug(v)}" for p, (v, _) in combo.items())
            expanded = f"{name}/{suffix}"
        result.append((expanded, combo))
    return result


def _slug(value: Any) -> str:
    """A matrix value as a name segment: 16:9 -> 16x9, 1280*720 -> 1280x720, "A cat" -> a-cat."""
    text = catalog.show(value).strip('"').lower()
    text = re.sub(r"[:*]", "x", text)
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-._")
    return re.sub(r"-{2,}", "-", text) or "x"


def _name_ok(doc: Document, name: str, here: PathKey, out: _Collector) -> bool:
    problem = name_problem(name)
    if problem is not None:
        out.error(
            doc.at(here, key=True),
            f"name {name!r} {problem}",
            "names are lowercase segments of a-z, 0-9, '.', '_' and '-' joined by '/'",
        )
        return False
    return True


def name_problem(name: str) -> str | None:
    """Why a name cannot become a file under out/, or None when it can."""
    if not name:
        return "is empty"
    if name.startswith("/"):
        return "is absolute"
    if len(name) > 200:
        return "is longer than 200 characters"
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            return "has an empty, '.' or '..' segment"
        if not NAME_SEGMENT.match(segment):
            return f"has an unsafe segment {segment!r}" + (" (uppercase)" if segment != segment.lower() else "")
    return None


def _resolve(
    doc: Document,
    name: str,
    *,
    model: catalog.Model,
    given: dict[str, Any],
    origin: dict[str, PathKey],
    tags: tuple[str, ...],
    where: Location,
    out: _Collector,
    seen: set[tuple[Location, str]],
) -> _Partial | None:
    local = {
        p.name
        for p in model.params
        if p.local is not None and isinstance(given.get(p.name), str) and not _is_url(given[p.name])
    }
    params, problems = catalog.check(model, given, fill_defaults=True, skip=frozenset(local))
    for problem in problems:
        spot = doc.at(origin[problem.param], key=problem.on_key) if problem.param in origin else where
        # A whole-entry problem (a missing parameter) names the entry; a value's problem names its field.
        message = f"{name}: {problem.message}" if problem.param is None else problem.message
        if (spot, message) not in seen:
            seen.add((spot, message))
            out.error(spot, message, problem.hint)
    if problems:
        return None
    if not model.reproducible_by_default and params.get(model.seed_param) is None:
        out.warnings.append(
            SpecWarning(
                where,
                f"{name}: {model.slug} picks a random seed when none is given, so this video is not "
                "reproducible; set `seed:` to pin it",
            )
        )
    refs = tuple((p, str(given[p]), doc.at(origin[p])) for p in sorted(local))
    params_json = None if refs else catalog.canonical_json(catalog.identity_params(model, params))
    return _Partial(name, model.slug, params, params_json, tags, where, refs)


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def finish_entries(
    partials: list[_Partial], errors: list[SpecError], *, roots: Sequence[Path] | None
) -> list[SpecEntry]:
    """Entries with their local files hashed; a local file outside `roots` is a mistake (None: any)."""
    entries: list[SpecEntry] = []
    hashed: dict[str, LocalFile | SpecError] = {}
    for part in partials:
        if not part.image_refs:
            assert part.params_json is not None
            entries.append(SpecEntry(part.name, part.model, part.params, part.params_json, part.tags, part.where))
            continue
        images: list[LocalFile] = []
        params = dict(part.params)
        model = catalog.BY_SLUG[part.model]
        for param, written, spot in part.image_refs:
            path = (Path(spot.path).parent / written).resolve()
            key = f"{param}\0{path}\0{spot}"
            if key not in hashed:
                hashed[key] = _hash_local(model.by_name[param], path, written, spot, roots)
            found = hashed[key]
            if isinstance(found, SpecError):
                errors.append(found)
                break
            images.append(found)
            params[param] = LOCAL_IMAGE_PREFIX + found.sha256
        else:
            params_json = catalog.canonical_json(catalog.identity_params(model, params))
            entries.append(SpecEntry(part.name, part.model, params, params_json, part.tags, part.where, tuple(images)))
    return entries


def _hash_local(
    param: catalog.Param, path: Path, written: str, spot: Location, roots: Sequence[Path] | None
) -> LocalFile | SpecError:
    assert param.local is not None
    name, kind = param.name, param.local.value
    hint = "give an https:// URL or a path relative to the spec file"
    if roots is not None and outside(path, roots):
        # A spec from a pull request must not send a file of the machine running it to the API.
        where = ", ".join(display_path(root) for root in roots)
        return SpecError(
            spot,
            f"{name}: local {kind} {written!r} resolves to {path}, outside the spec directory ({where}); "
            "it would be uploaded to the API",
            OUTSIDE_HINT,
        )
    try:
        data = read_regular(path, MAX_MEDIA_BYTES)
    except FileNotFoundError:
        return SpecError(spot, f"{name}: local {kind} {written!r} does not exist", hint)
    except Refused as exc:
        return SpecError(spot, f"{name}: local {kind} {written!r} {exc.reason}", hint)
    except OSError as exc:
        return SpecError(spot, f"{name}: cannot read {written!r}: {exc.strerror}", hint)
    found = media_type(param.local, data)
    if found is None:
        return SpecError(spot, f"{name}: {written!r} is not {ACCEPTED[param.local]}", "check the file's contents")
    return LocalFile(name, str(path), hashlib.sha256(data).hexdigest(), found)


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

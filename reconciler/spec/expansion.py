"""Expansion: one parsed document becomes its entries, defaults merged and matrices expanded.

    document --top level checked--> videos x defaults --merged--> matrix --product--> named entries
             --resolution.resolve--> FileEntry (or the mistakes that stop it)

Names are checked here (they become files under out/); what a name template or a matrix value
makes of a name is `_slug`'s rule. Every mistake is collected, never raised.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any, Final

from reconciler import catalog
from reconciler.errors import Location
from reconciler.spec.documents import Document, PathKey
from reconciler.spec.resolution import resolve
from reconciler.spec.values import Collector, FileEntry

MAX_MATRIX: Final = 10_000
NAME_SEGMENT: Final = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
TAG: Final = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
RESERVED: Final = ("model", "tags", "matrix")


def document_entries(doc: Document, out: Collector) -> Iterable[FileEntry]:
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


def _defaults(doc: Document, out: Collector) -> dict[str, Any] | None:
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


def _entry(doc: Document, name: str, body: Any, *, defaults: dict[str, Any], out: Collector) -> Iterable[FileEntry]:
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
        partial = resolve(
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
    doc: Document, merged: dict[str, Any], origin: dict[str, PathKey], out: Collector, where: Location
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
    doc: Document, defaults: dict[str, Any], body: dict[str, Any], here: PathKey, out: Collector
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
    doc: Document, matrix: Any, here: PathKey, model: catalog.Model | None, out: Collector
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
    doc: Document, name: str, matrix: dict[str, list[Any]], here: PathKey, out: Collector
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


def _name_ok(doc: Document, name: str, here: PathKey, out: Collector) -> bool:
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

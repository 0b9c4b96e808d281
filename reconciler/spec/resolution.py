"""Resolution: one expanded entry checked against its model, every parameter coerced and defaulted.

    given parameters --catalog.check--> full parameters --identity--> canonical JSON (the key's input)

A parameter naming a local file (an image, audio) is left for `media.finish_entries`, which hashes
the file on every load: its bytes are not part of the spec file's.
"""

from __future__ import annotations

from typing import Any

from reconciler import catalog
from reconciler.errors import Location
from reconciler.spec.documents import Document, PathKey
from reconciler.spec.values import Collector, FileEntry, PartialEntry, SpecEntry, SpecWarning


def resolve(
    doc: Document,
    name: str,
    *,
    model: catalog.Model,
    given: dict[str, Any],
    origin: dict[str, PathKey],
    tags: tuple[str, ...],
    where: Location,
    out: Collector,
    seen: set[tuple[Location, str]],
) -> FileEntry | None:
    """`given` checked against `model`: the entry (partial while it names local files), or None with every
    problem reported to `out`."""
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
    if local:
        refs = tuple((p, str(given[p]), doc.at(origin[p])) for p in sorted(local))
        return PartialEntry(name, model.slug, params, tags, where, refs)
    return SpecEntry(
        name, model.slug, params, catalog.canonical_json(catalog.identity_params(model, params)), tags, where
    )


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))

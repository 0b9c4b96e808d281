"""A JSON Schema for spec files, generated from the catalog, so editors complete and check specs.

`reconciler schema` prints it; `schema/spec.schema.json` is a committed copy that the example specs
point at (`# yaml-language-server: $schema=...`), and a test keeps that copy current. Pure.
"""

from __future__ import annotations

from typing import Any

from reconciler import catalog
from reconciler.spec.expansion import MAX_MATRIX

SCHEMA_ID = "https://github.com/reconciler/reconciler/schema/spec.schema.json"
_KIND_TYPES = {
    catalog.Kind.STRING: "string",
    catalog.Kind.INTEGER: "integer",
    catalog.Kind.NUMBER: "number",
    catalog.Kind.BOOLEAN: "boolean",
    catalog.Kind.URI: "string",
}


def param_schema(param: catalog.Param) -> dict[str, Any]:
    """One parameter's schema; integers also accept digit strings, as the API does ("5")."""
    out: dict[str, Any] = {"description": f"{param.description} ({param.rule()})"}
    kind = _KIND_TYPES[param.kind]
    types: list[str] = [kind]
    if param.kind in (catalog.Kind.INTEGER, catalog.Kind.NUMBER):
        types.append("string")
    if param.has_default and param.default is None:
        types.append("null")
    out["type"] = types[0] if len(types) == 1 else types
    if param.choices is not None:
        out["enum"] = list(param.choices) + [str(c) for c in param.choices if not isinstance(c, str)]
    out.update(param.json_bounds())
    if param.local is catalog.Media.IMAGE:
        out["description"] += "; a local PNG/JPEG/WebP path relative to the spec file also works"
    elif param.local is catalog.Media.AUDIO:
        out["description"] += "; a local MP3/WAV path relative to the spec file also works"
    if param.has_default:
        out["default"] = param.default
    return out


_TAGS = {
    "description": "Words for targeting (--target tag:WORD).",
    "type": "array",
    "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
}


def _model_branch(model: catalog.Model, *, with_matrix: bool) -> dict[str, Any]:
    props: dict[str, Any] = {"model": {"const": model.slug}, "tags": _TAGS}
    props.update({p.name: param_schema(p) for p in model.params})
    if with_matrix:
        props["matrix"] = {
            "description": f"Expand this entry to the cartesian product of these values (at most {MAX_MATRIX:,}).",
            "type": "object",
            "additionalProperties": False,
            "properties": {p.name: {"type": "array", "minItems": 1, "items": param_schema(p)} for p in model.params},
        }
    return {
        "if": {"properties": {"model": {"const": model.slug}}, "required": ["model"]},
        "then": {"properties": props, "additionalProperties": False},
    }


def spec_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07, which editors support best) of a spec file."""
    model_enum = {"description": "The Segmind model slug.", "enum": list(catalog.SLUGS)}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "reconciler spec file",
        "description": "Videos declared for reconciler: `videos` maps a name to a model and its parameters.",
        "type": "object",
        "additionalProperties": False,
        "required": ["videos"],
        "properties": {
            "defaults": {
                "description": "Merged under every entry of this file (model, tags, parameters).",
                "type": "object",
                "properties": {"model": model_enum, "tags": _TAGS},
            },
            "videos": {
                "description": "Name -> entry. Names are lowercase segments joined by '/'.",
                "type": ["object", "null"],
                "propertyNames": {"pattern": "^[a-z0-9{][a-z0-9._{}-]*(/[a-z0-9{][a-z0-9._{}-]*)*$"},
                "additionalProperties": {
                    "type": "object",
                    "properties": {"model": model_enum},
                    "allOf": [_model_branch(m, with_matrix=True) for m in catalog.MODELS],
                },
            },
        },
    }

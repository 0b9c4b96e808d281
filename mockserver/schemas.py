"""JSON Schemas of every body the fake sends, and the OpenAPI paths of its control surface.

The public request bodies come from the catalog (see openapi.py); the configuration's schema comes
from its pydantic model, so the document can never drift from what `PUT /_mock/config` accepts.
"""

from __future__ import annotations

from typing import Any

from mockserver.config import ClockMode, MockConfig
from mockserver.control import MAX_ADVANCE_S

_REF = "#/components/schemas/{model}"
# A non-empty base64 data URL, as POST /upload-asset accepts it.
_DATA_URL = (
    r"^data:[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+;base64,"
    r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)


def component_schemas() -> dict[str, Any]:
    """Every body the fake sends, by name, for `#/components/schemas/...`."""
    text = {"type": "string"}
    nullable_text = {"type": ["string", "null"]}
    states = {"type": "string", "enum": ["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]}
    row = {
        "request_id": text,
        "model_name": text,
        "model_status": {"type": "string", "enum": ["COMPLETED", "FAILED", "PENDING"]},
        "request_body": {"type": "object"},
        "generation_url": nullable_text,
        "credits_deduction": {"type": "number"},
        "latency_ms": {"type": ["integer", "null"]},
        "model_created": text,
        "created_at": text,
        "updated_at": text,
        "completed_at": nullable_text,
        "error": nullable_text,
    }
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": text}},
        "Submitted": {
            "type": "object",
            "required": ["request_id", "status", "status_url", "response_url"],
            "properties": {"request_id": text, "status": {"const": "QUEUED"}, "status_url": text, "response_url": text},
        },
        "Status": {
            "type": "object",
            "required": ["request_id", "status"],
            "properties": {"request_id": text, "status": states, "error": nullable_text, "model": text},
        },
        "Result": {
            "type": "object",
            "required": ["request_id", "status", "output", "metrics"],
            "properties": {
                "request_id": text,
                "status": {"const": "COMPLETED"},
                "model": text,
                "output": text,
                "seed": {"type": "integer"},
                "cost": {"type": "number"},
                "metrics": {"type": "object"},
            },
        },
        "Base64Video": {
            "type": "object",
            "required": ["request_id", "status", "output"],
            "properties": {"request_id": text, "status": states, "output": text, "content_type": text},
        },
        "HistoryRow": {"type": "object", "required": list(row), "properties": row},
        "HistoryPage": {
            "type": "object",
            "required": ["data", "page", "per_page", "total", "total_pages"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryRow"}},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "total_pages": {"type": "integer"},
            },
        },
        "Upload": {
            "type": "object",
            "required": ["data_urls"],
            "properties": {
                "data_urls": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 20,
                    "items": {"type": "string", "pattern": _DATA_URL},
                }
            },
        },
        "Uploaded": {
            "type": "object",
            "required": ["file_urls"],
            "properties": {"file_urls": {"type": "array", "items": text}, "message": text},
        },
    }


def config_schemas() -> dict[str, Any]:
    """MockConfig and the models it uses, with references into `#/components/schemas`."""
    schema = MockConfig.model_json_schema(ref_template=_REF)
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, "MockConfig": schema}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def control_paths() -> dict[str, Any]:
    """`/_mock/...`: no key, not journaled; see control.py."""
    bad = {"400": _ok(_ref("Error"), "Invalid body")}
    clock = {
        "type": "object",
        "required": ["now", "mode"],
        "properties": {"now": {"type": "number"}, "mode": {"enum": [m.value for m in ClockMode]}},
    }
    clock_change = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "advance": {"type": "number", "minimum": 0, "maximum": MAX_ADVANCE_S},
            "mode": {"enum": [m.value for m in ClockMode]},
        },
    }
    entry = {
        "type": "object",
        "required": ["at", "method", "path", "status", "created_job", "request_id", "body", "fault"],
        "properties": {
            "at": {"type": "number"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "status": {"type": "integer"},
            "created_job": {"type": "boolean"},
            "request_id": {"type": ["string", "null"]},
            "body": {},
            "fault": {"type": ["object", "null"]},
        },
    }
    job = {
        "type": "object",
        "required": ["id", "model", "state", "key", "submitted_at", "started_at", "finished_at", "expires_at"],
        "properties": {
            "id": {"type": "string"},
            "model": {"type": "string"},
            "state": {"enum": ["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]},
            "key": {"type": "string", "description": "sha256 of the canonical request (the request digest)"},
            "submitted_at": {"type": "number"},
            "started_at": {"type": "number"},
            "finished_at": {"type": "number"},
            "expires_at": {"type": "number"},
        },
    }

    def op(summary: str, response: dict[str, Any], body: dict[str, Any] | None = None, **extra: Any) -> Any:
        out: dict[str, Any] = {"summary": summary, "tags": ["control"], "security": [], "responses": response}
        if body is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        return out | extra

    journal = {"type": "object", "required": ["entries"], "properties": {"entries": {"type": "array", "items": entry}}}
    jobs = {"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": job}}}
    balances = {"type": "object", "properties": {"balances": {"type": "object"}}}
    top_up = {
        "type": "object",
        "required": ["api_key", "amount"],
        "properties": {"api_key": {"type": "string"}, "amount": {"type": "number", "exclusiveMinimum": 0}},
    }
    return {
        "/_mock/journal": {"get": op("Every public request, oldest first", {"200": _ok(journal, "The journal")})},
        "/_mock/jobs": {"get": op("Every job and its state now", {"200": _ok(jobs, "The jobs")})},
        "/_mock/clock": {
            "get": op("The server clock", {"200": _ok(clock, "Now and the mode")}),
            "post": op("Advance the clock and/or switch its mode", {"200": _ok(clock, "Now"), **bad}, clock_change),
        },
        "/_mock/config": {
            "get": op("The whole configuration", {"200": _ok(_ref("MockConfig"), "The configuration")}),
            "put": op(
                "Deep-merge a partial configuration; answers the whole",
                {"200": _ok(_ref("MockConfig"), "The configuration"), **bad},
                {"type": "object"},
            ),
        },
        "/_mock/credits": {
            "get": op("Every key's balance", {"200": _ok(balances, "Balances in USD")}),
            "post": op(
                "Top up a key",
                {"200": _ok({"type": "object"}, "The new balance"), "404": _ok(_ref("Error"), "Unknown key"), **bad},
                top_up,
            ),
        },
        "/_mock/reset": {
            "post": op("Forget every job, journal entry, balance change and upload", {"200": _ok({}, "Done")})
        },
    }

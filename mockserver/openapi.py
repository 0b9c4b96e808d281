"""The OpenAPI 3.1 document of the fake (`GET /openapi.json`), built from the catalog.

Each model gets its own `/v1/{slug}` and `/v2/{slug}` path with a request schema derived from its
parameters, so a schema-driven tool (schemathesis in our tests) sends bodies the server should
accept and checks every answer against the responses declared here.
"""

from __future__ import annotations

from typing import Any

from mockserver.schemas import component_schemas, config_schemas, control_paths
from reconciler import catalog

_TYPES = {
    catalog.Kind.STRING: {"type": "string"},
    catalog.Kind.INTEGER: {"type": "integer"},
    catalog.Kind.NUMBER: {"type": "number"},
    catalog.Kind.BOOLEAN: {"type": "boolean"},
    # The catalog's rule for a URL, exactly: http(s) and at least one character after the scheme.
    catalog.Kind.URI: {"type": "string", "pattern": "^(https://.|http://..)"},
}
_ERROR = {"$ref": "#/components/schemas/Error"}
_KEY: list[dict[str, list[str]]] = [{"ApiKey": []}]


def _param_schema(param: catalog.Param) -> dict[str, Any]:
    schema: dict[str, Any] = dict(_TYPES[param.kind], description=param.description)
    if param.choices is not None:
        schema["enum"] = list(param.choices)
    schema.update(param.json_bounds())
    if param.required and param.kind is catalog.Kind.STRING and param.choices is None:
        schema["pattern"] = r"\S"
    if param.has_default:
        schema["default"] = param.default
        if param.default is None:
            schema = {"anyOf": [schema, {"type": "null"}], "default": None, "description": param.description}
    return schema


def model_schema(model: catalog.Model) -> dict[str, Any]:
    return {
        "type": "object",
        "title": model.title,
        "properties": {p.name: _param_schema(p) for p in model.params},
        "required": [p.name for p in model.params if p.required],
        "additionalProperties": False,
    }


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Invalid parameters or request format",
        401: "Missing or invalid API key",
        404: "Not found (model, request, or expired result)",
        406: "Not enough credits to process the request",
        422: "The request FAILED (content-policy blocks included); the body carries error",
        429: "Too many requests",
        500: "Server error",
        502: "Bad gateway",
        504: "Timeout",
    }
    retry = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}
    return {str(c): _json(_ERROR, texts[c], retry if c == 429 else None) for c in codes}


_GATEWAY = (401, 429, 500, 502, 504)


def _request_id_param() -> dict[str, Any]:
    return {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for model in catalog.MODELS:
        body = {"required": True, "content": {"application/json": {"schema": model_schema(model)}}}
        paths[f"/v1/{model.slug}"] = {
            "post": {
                "summary": f"{model.title}: synchronous; waits and returns the video",
                "operationId": f"sync_{model.slug}",
                "security": _KEY,
                "requestBody": body,
                "responses": {
                    "200": {
                        "description": "The MP4, or JSON with it in base64 when base64 is true",
                        "content": {
                            "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                            "application/json": {"schema": {"$ref": "#/components/schemas/Base64Video"}},
                        },
                    },
                    **_errors(400, 406, 422, *_GATEWAY),
                },
            }
        }
        paths[f"/v2/{model.slug}"] = {
            "post": {
                "summary": f"{model.title}: submit asynchronously",
                "operationId": f"submit_{model.slug}",
                "security": _KEY,
                "requestBody": body,
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Submitted"}, "Accepted and QUEUED"),
                    **_errors(400, 406, *_GATEWAY),
                },
            }
        }
    status_ref = {"$ref": "#/components/schemas/Status"}
    paths["/v2/requests/{request_id}/status"] = {
        "get": {
            "summary": "Poll a request",
            "operationId": "status",
            "security": _KEY,
            "parameters": [_request_id_param()],
            "responses": {
                "200": _json(status_ref, "QUEUED, PROCESSING or COMPLETED"),
                "422": _json(status_ref, "FAILED, with error"),
                **_errors(404, *_GATEWAY),
            },
        }
    }
    paths["/v2/requests/{request_id}"] = {
        "get": {
            "summary": "The final body of a request",
            "operationId": "result",
            "security": _KEY,
            "parameters": [_request_id_param()],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Result"}, "COMPLETED, with output"),
                "202": _json(status_ref, "Not finished yet"),
                "422": _json(status_ref, "FAILED, with error"),
                **_errors(404, *_GATEWAY),
            },
        }
    }
    query = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000}},
        {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "from_date", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "to_date", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "model_name", "in": "query", "schema": {"type": "string"}},
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["COMPLETED", "FAILED", "PENDING"]}},
        {
            "name": "sort_by",
            "in": "query",
            "schema": {"type": "string", "enum": ["model_created", "model_name", "credits_deduction"]},
        },
        {"name": "sort_order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
    ]
    paths["/inference-request/request-history"] = {
        "get": {
            "summary": "The account's requests, newest first",
            "operationId": "history",
            "security": _KEY,
            "parameters": query,
            "responses": {
                "200": _json({"$ref": "#/components/schemas/HistoryPage"}, "One page of rows"),
                **_errors(400, *_GATEWAY),
            },
        }
    }
    paths["/inference-request/request-history/{request_id}"] = {
        "get": {
            "summary": "One of the account's requests, of any age",
            "operationId": "history_item",
            "security": _KEY,
            "parameters": [_request_id_param()],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/HistoryRow"}, "The row"),
                **_errors(404, *_GATEWAY),
            },
        }
    }
    paths["/upload-asset"] = {
        "post": {
            "summary": "Upload files as base64 data URLs; returns URLs on this server",
            "operationId": "upload",
            "security": _KEY,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Upload"}}},
            },
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Uploaded"}, "The files' URLs"),
                **_errors(400, *_GATEWAY),
            },
        }
    }
    media = {kind: {"schema": {"type": "string"}} for kind in ("video/mp4", "image/*", "audio/*", "*/*")}
    file_responses = {
        "200": {"description": "The file", "content": media},
        "206": {"description": "The requested byte range", "content": media},
        "416": {"description": "The range cannot be satisfied"},
        **_errors(404, 429, 500, 502, 504),
    }
    file_params = [
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "Range", "in": "header", "schema": {"type": "string"}},
    ]
    paths["/files/{name}"] = {
        "get": {
            "summary": "A video or an upload",
            "operationId": "file",
            "parameters": file_params,
            "responses": file_responses,
        },
        "head": {
            "summary": "A file's size and type",
            "operationId": "file_head",
            "parameters": file_params,
            "responses": file_responses,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mockserver: a fake of the Segmind serverless API for the Wan video models",
            "version": "1.0.0",
            "description": "Same paths and shapes as https://api.segmind.com; control routes under /_mock/.",
        },
        "paths": paths | control_paths(),
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {**component_schemas(), **config_schemas()},
        },
    }

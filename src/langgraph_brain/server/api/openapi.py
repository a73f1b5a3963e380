"""`GET /brain/openapi.json`: an OpenAPI 3.1 description of the memory API.

Request bodies are the pydantic models' own JSON schemas, so the description cannot drift from
what the routes accept; responses are described by the shapes in `schemas.py`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.brain.validation import CATEGORY_PATTERN, SLUG_PATTERN

from .errors import MAX_BODY_BYTES, endpoint
from .schemas import BulkRequest, PutMemory, SearchRequest

_SCOPE = {"name": "scope", "in": "path", "required": True, "schema": {"enum": ["user", "company"]}}
_SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": SLUG_PATTERN},
}
_THREAD = {"name": "thread_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AS_OPERATOR = [
    {
        "name": "user_id",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Operators (admin keys) and open mode only: act on this user.",
    },
    {
        "name": "company_id",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Operators (admin keys) and open mode only: act on this company.",
    },
]
_ERROR = {
    "description": 'Refused: {"detail": "<readable message>"}',
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_MEMORY = {
    "type": "object",
    "properties": {
        "scope": {"enum": ["user", "company"]},
        "entity_id": {"type": "string"},
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "content": {"type": "string"},
        "category": {"type": "string", "pattern": CATEGORY_PATTERN},
        "metadata": {"type": "object"},
        "version": {"type": "integer"},
        "sync_state": {"enum": ["pending", "synced"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "importance": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "access_count": {"type": "integer", "minimum": 0},
        "last_accessed_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    summary: str,
    params: list[dict[str, Any]],
    ok: dict[str, Any],
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (401, 403, 422),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params + _AS_OPERATOR,
        "responses": {"200": {"description": "OK", **ok}, **{str(code): _ERROR for code in errors}},
        "security": [{"bearer": []}],
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
        op["responses"].update({str(c): _ERROR for c in (400, 413, 415)})
    return op


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def build_spec() -> dict[str, Any]:
    """The whole OpenAPI document."""
    jsonl = {"application/x-ndjson": {"schema": {"type": "string", "description": "one Memory per line"}}}
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Memory")},
            "next_after": {"type": ["string", "null"]},
        },
    }
    counts = {
        "type": "object",
        "properties": {
            "saved_count": {"type": "integer"},
            "failed_count": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
    paths: dict[str, Any] = {
        "/brain/memories/{scope}": {
            "get": _op(
                "List memories by slug (keyset pages)",
                [
                    _SCOPE,
                    _query("category", {"type": "string"}),
                    _query("after", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("as_of", {"type": "string"}),
                ],
                _json(page),
            )
        },
        "/brain/memories/{scope}/{slug}": {
            "get": _op(
                "Get one memory",
                [_SCOPE, _SLUG, _query("as_of", {"type": "string"})],
                _json(_ref("Memory")),
                errors=(401, 403, 404, 422),
            ),
            "put": _op(
                "Create or replace one memory",
                [_SCOPE, _SLUG],
                _json({"type": "object"}),
                _json(_ref("PutMemory")),
            ),
            "delete": _op(
                "Forget one memory", [_SCOPE, _SLUG], _json(_ref("Memory")), errors=(401, 403, 404, 422)
            ),
        },
        "/brain/memories/{scope}/{slug}/history": {
            "get": _op(
                "The correction log of one memory",
                [_SCOPE, _SLUG],
                _json({"type": "object"}),
                errors=(401, 403, 404, 422),
            )
        },
        "/brain/search/{scope}": {
            "post": _op("Search memories", [_SCOPE], _json({"type": "object"}), _json(_ref("SearchRequest")))
        },
        "/brain/memories/{scope}/bulk": {
            "post": _op("Save many memories", [_SCOPE], _json(counts), _json(_ref("BulkRequest")))
        },
        "/brain/memories/{scope}/export": {"get": _op("Export as JSON lines", [_SCOPE], {"content": jsonl})},
        "/brain/memories/{scope}/import": {
            "post": _op(
                "Import JSON lines (bad lines reported by line number)", [_SCOPE], _json(counts), jsonl
            )
        },
        "/brain/context": {
            "get": _op(
                "Core memories, grouped and as system-prompt text",
                [_query("query", {"type": "string"})],
                _json({"type": "object"}),
            )
        },
        "/brain/stats": {"get": _op("Counts by scope and category", [], _json({"type": "object"}))},
        "/brain/conversations": {
            "get": _op(
                "The caller's threads, newest first",
                [_query("limit", {"type": "integer"})],
                _json({"type": "object"}),
            )
        },
        "/brain/conversations/{thread_id}/messages": {
            "get": _op(
                "A page of one thread's messages",
                [_THREAD, _query("cursor", {"type": "string"}), _query("limit", {"type": "integer"})],
                _json({"type": "object"}),
                errors=(401, 403, 404, 422),
            )
        },
        "/brain/conversations/{thread_id}": {
            "delete": _op("Delete one thread", [_THREAD], _json({"type": "object"}), errors=(401, 403, 404))
        },
        "/brain/health": {
            "get": {
                "summary": "Health (no credentials needed; details for operators)",
                "responses": {"200": {"description": "ok"}, "503": {"description": "degraded"}},
            }
        },
        "/brain/metrics": {
            "get": {
                "summary": "Prometheus metrics (operators only)",
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "text/plain exposition"}, "403": _ERROR},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "langgraph-brain memory API",
            "version": "1",
            "description": f"Bodies are JSON (imports: JSON lines), at most {MAX_BODY_BYTES} bytes.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                },
                "Memory": _MEMORY,
                "PutMemory": PutMemory.model_json_schema(),
                "SearchRequest": SearchRequest.model_json_schema(),
                "BulkRequest": BulkRequest.model_json_schema(
                    ref_template="#/components/schemas/BulkRequest/$defs/{model}"
                ),
            },
        },
    }


_SPEC: dict[str, Any] = {}


@endpoint
async def openapi_json(request: Request) -> Response:
    """The description (built once: it depends on code only)."""
    if not _SPEC:
        _SPEC.update(build_spec())
    return JSONResponse(_SPEC)


routes = [Route("/brain/openapi.json", openapi_json, methods=["GET"])]

__all__ = ["build_spec", "routes"]

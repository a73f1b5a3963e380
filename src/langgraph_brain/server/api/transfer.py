"""Many memories at once: bulk save, JSON-lines export and import.

    POST /brain/memories/{scope}/bulk    {"items": [{"slug", "content", "category"?, "metadata"?}]}
    GET  /brain/memories/{scope}/export  -> application/x-ndjson, one memory per line
    POST /brain/memories/{scope}/import  (body: JSON lines, the export format)

Saves go through `MemoryService.asave_many` (validation and the save protocol per memory), so a
bad item is reported and never stops the others, and nothing is stored half-way. Every item is
pinned to the route's scope and the caller's entity: an import line naming another scope or
entity is refused by line number, never written elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import metrics
from .caller import caller_of
from .errors import JSONL_TYPES, ApiError, decode_text, endpoint, read_body, read_model, require_content_type
from .params import scope_param
from .schemas import BulkRequest
from .state import aservice

#: Keys an import line may carry: the export format. Server-kept fields are ignored on import.
IMPORT_KEYS = frozenset(
    {"scope", "entity_id", "slug", "content", "category", "metadata", "created_at", "updated_at", "version",
     "sync_state"}
)  # fmt: skip
#: Most lines one import may carry (the 1 MiB body limit usually binds first).
MAX_IMPORT_LINES = 10_000


@endpoint
async def bulk_save(request: Request) -> Response:
    """Save up to 1,000 memories; answers {"saved_count", "failed_count", "errors": [{"index", ...}]}."""
    scope = scope_param(request)
    caller = caller_of(request)
    entity = caller.entity(request, scope)
    body = await read_model(request, BulkRequest)
    items = [
        {"scope": scope, "entity_id": entity, **item.model_dump(exclude_unset=True)} for item in body.items
    ]
    service = await aservice()
    with metrics.timed(metrics.SAVE_SECONDS, "bulk"):
        result = await service.asave_many(items, actor=caller.actor, reason="http-api bulk")
    return JSONResponse(result.as_dict())


@endpoint
async def export_memories(request: Request) -> Response:
    """Every memory of the entity, one JSON object per line (the format import reads)."""
    scope = scope_param(request)
    entity = caller_of(request).entity(request, scope)
    service = await aservice()
    rows = service.aexport(scope=scope, entity_id=entity)
    first = await anext(rows, None)  # fail before the 200 header is sent, not mid-stream

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield _line(first)
        async for row in rows:
            yield _line(row)

    filename = f"brain-{scope}-{entity}.jsonl".replace('"', "")
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _line(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def _pinned(scope: str, entity: str, normalize: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The import line check: the export format's fields only, and only the caller's own memories."""

    def prepare(parsed: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(parsed) - IMPORT_KEYS)
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)[:200]}; the export format has {sorted(IMPORT_KEYS)}"
            )
        if parsed.get("scope", scope) != scope:
            raise ValueError(
                f"scope is {str(parsed['scope'])[:40]!r}, but this import is for {scope!r} memories"
            )
        if "entity_id" in parsed and normalize(scope, parsed["entity_id"])[1] != entity:
            raise ValueError("entity_id names another owner; an import only writes the caller's own memories")
        item: dict[str, Any] = {
            k: parsed[k] for k in ("slug", "content", "category", "metadata") if k in parsed
        }
        return {"scope": scope, "entity_id": entity, **item}

    return prepare


@endpoint
async def import_memories(request: Request) -> Response:
    """Save JSON lines; bad lines are reported by their (1-based) line number, good ones stored."""
    scope = scope_param(request)
    caller = caller_of(request)
    entity = caller.entity(request, scope)
    require_content_type(request, JSONL_TYPES)
    text = decode_text(await read_body(request))
    lines = text.splitlines()
    if len(lines) > MAX_IMPORT_LINES:
        raise ApiError(
            413, f"{len(lines)} lines; an import takes at most {MAX_IMPORT_LINES}. Split the file."
        )
    if not any(line.strip() for line in lines):
        raise ApiError(422, "The import is empty: send one JSON object per line (the export format).")
    service = await aservice()
    with metrics.timed(metrics.SAVE_SECONDS, "import"):
        result = await service.aimport_jsonl(
            lines,
            actor=caller.actor,
            prepare=_pinned(scope, entity, service.normalize),
            reason="http-api import",
        )
    errors = [{"line": e["index"] + 1, "slug": e.get("slug"), "error": e["error"]} for e in result.errors]
    return JSONResponse(
        {"saved_count": result.saved_count, "failed_count": result.failed_count, "errors": errors}
    )


routes = [
    # Before /brain/memories/{scope}/{slug}: "export" would otherwise be read as a slug.
    Route("/brain/memories/{scope}/export", export_memories, methods=["GET"]),
    Route("/brain/memories/{scope}/bulk", bulk_save, methods=["POST"]),
    Route("/brain/memories/{scope}/import", import_memories, methods=["POST"]),
]

__all__ = ["IMPORT_KEYS", "MAX_IMPORT_LINES", "routes"]

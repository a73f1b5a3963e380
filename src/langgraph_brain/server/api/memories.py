"""One entity's memories: list (keyset pages), get, create/replace, forget, history.

    GET    /brain/memories/{scope}?category=&after=<slug>&limit=<1..500>&as_of=<ISO date/datetime>
    GET    /brain/memories/{scope}/{slug}?as_of=<ISO date/datetime>
    PUT    /brain/memories/{scope}/{slug}     {"content", "category"?, "metadata"?, "importance"?, "reason"?}
    DELETE /brain/memories/{scope}/{slug}
    GET    /brain/memories/{scope}/{slug}/history

The entity is the caller's user or company (`caller.Caller.entity`); every call goes through
MemoryService, so validation, the save protocol, row-level security and the history are the
same as for the agents' tools. `?as_of=` reads the versions valid at that past instant from the
history (`langgraph_brain.brain.as_of`); a bad value (future, no timezone, before the first memory)
is a 422.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import NOT_PROVIDED
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.brain.importance import ametadata_with_importance
from langgraph_brain.errors import MemoryNotFoundError

from . import metrics
from .caller import caller_of
from .errors import endpoint, read_model
from .params import after_param, category_param, int_param, scope_param, slug_param, text_param
from .schemas import PutMemory, history_json, memory_json, provided, save_json
from .state import aservice

MAX_PAGE = 500


@endpoint
async def list_memories(request: Request) -> Response:
    """A page of memories ordered by slug; pass `next_after` as `?after=` for the next one."""
    scope = scope_param(request)
    entity = caller_of(request).entity(request, scope)
    category = category_param(request, scope)
    after = after_param(request)
    limit = int_param(request, "limit", default=100, low=1, high=MAX_PAGE)
    service = await aservice()
    # One row more than asked tells whether another page exists, without a count.
    as_of = text_param(request, "as_of")
    rows = await service.alist(
        scope, entity, category=category, after_slug=after, limit=limit + 1, as_of=as_of
    )
    page = rows[:limit]
    next_after = page[-1].slug if len(rows) > limit else None
    return JSONResponse({"items": [memory_json(r) for r in page], "next_after": next_after})


def _not_found(scope: str, slug: str) -> MemoryNotFoundError:
    return MemoryNotFoundError(f"No {scope} memory with slug {slug!r}.")


@endpoint
async def get_memory(request: Request) -> Response:
    """One memory, or 404."""
    scope = scope_param(request)
    entity = caller_of(request).entity(request, scope)
    slug = slug_param(request)
    record = await (await aservice()).aget(scope, entity, slug, as_of=text_param(request, "as_of"))
    if record is None:
        raise _not_found(scope, slug)
    return JSONResponse(memory_json(record))


@endpoint
async def put_memory(request: Request) -> Response:
    """Create or replace one memory (idempotent: the same content again is "unchanged")."""
    scope = scope_param(request)
    caller = caller_of(request)
    entity = caller.entity(request, scope)
    slug = slug_param(request)
    body = await read_model(request, PutMemory)
    service = await aservice()
    metadata: Any = body.metadata if provided(body, "metadata") else NOT_PROVIDED
    if provided(body, "importance"):
        metadata = await ametadata_with_importance(service, scope, entity, slug, body.importance, metadata)
    with metrics.timed(metrics.SAVE_SECONDS, "single"):
        result = await service.asave(
            scope, entity, slug, body.content,
            category=body.category if provided(body, "category") else NOT_PROVIDED,
            metadata=metadata, actor=caller.actor, reason=body.reason or "http-api",
        )  # fmt: skip
    return JSONResponse(save_json(result), status_code=201 if result.status == "created" else 200)


@endpoint
async def delete_memory(request: Request) -> Response:
    """Forget one memory in the brain and in Mem0; answers with what was forgotten, or 404."""
    scope = scope_param(request)
    caller = caller_of(request)
    entity = caller.entity(request, scope)
    slug = slug_param(request)
    service = await aservice()
    try:
        record = await service.aforget(scope, entity, slug, actor=caller.actor, reason="http-api")
    except MemoryNotFoundError:
        raise _not_found(scope, slug) from None
    return JSONResponse(memory_json(record))


@endpoint
async def memory_history(request: Request) -> Response:
    """The correction log of one slug, newest first (also after the memory was forgotten)."""
    scope = scope_param(request)
    entity = caller_of(request).entity(request, scope)
    slug = slug_param(request)
    limit = int_param(request, "limit", default=100, low=1, high=1000)
    entries = await (await aservice()).ahistory(scope, entity, slug, limit=limit)
    if not entries:
        raise MemoryNotFoundError(f"No {scope} memory with slug {slug!r} has ever existed.")
    return JSONResponse({"items": [history_json(e) for e in entries]})


routes = [
    Route("/brain/memories/{scope}", list_memories, methods=["GET"]),
    Route("/brain/memories/{scope}/{slug}/history", memory_history, methods=["GET"]),
    Route("/brain/memories/{scope}/{slug}", get_memory, methods=["GET"]),
    Route("/brain/memories/{scope}/{slug}", put_memory, methods=["PUT"]),
    Route("/brain/memories/{scope}/{slug}", delete_memory, methods=["DELETE"]),
]

__all__ = ["routes"]

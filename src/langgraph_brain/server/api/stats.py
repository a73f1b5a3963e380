"""`GET /brain/stats`: how many memories the caller's user and company hold, by category,
how many are not yet synced with Mem0, when they last changed, and how many conversations.

Counts are read in each tenant's own transaction (row-level security applies), one statement per
scope; rows being forgotten (`deleting`) are not counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.brain.service import MemoryService
from langgraph_brain.checkpointers.threads import athreads_of

from .caller import caller_of
from .errors import endpoint
from .state import asaver, aservice

_COUNTS_SQL = """
SELECT category, count(*) AS n, count(*) FILTER (WHERE sync_state = 'pending') AS pending,
       max(updated_at) AS last_update
FROM brain_memories WHERE scope = %s AND entity_id = %s AND sync_state <> 'deleting'
GROUP BY category ORDER BY category
"""


async def _scope_stats(service: MemoryService, scope: str, entity: str) -> dict[str, Any]:
    rows = await service.tenancy.afetchall(scope, entity, _COUNTS_SQL, (scope, entity))
    last = max((r["last_update"] for r in rows), default=None)
    return {
        "entity_id": entity,
        "total": sum(int(r["n"]) for r in rows),
        "pending": sum(int(r["pending"]) for r in rows),
        "by_category": {r["category"]: int(r["n"]) for r in rows},
        "last_update": last.isoformat() if last else None,
    }


@endpoint
async def memory_stats(request: Request) -> Response:
    """{"user": {...}, "company": {...} | null, "conversations": n}."""
    user, company = caller_of(request).user_and_company(request)
    service = await aservice()
    saver = await asaver()
    user_stats, company_stats, threads = await asyncio.gather(
        _scope_stats(service, "user", user),
        _scope_stats(service, "company", company) if company else asyncio.sleep(0, None),
        athreads_of(saver.conn, "user", user, normalize=saver.owner_normalizer),
    )
    return JSONResponse({"user": user_stats, "company": company_stats, "conversations": len(threads)})


routes = [Route("/brain/stats", memory_stats, methods=["GET"])]

__all__ = ["routes"]

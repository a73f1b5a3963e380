"""`GET /brain/context`: the core memories an agent sees, as JSON groups and as prompt text.

The groups follow the seed's shape: `user_profile` (profile), `preferences` (preference),
`business_info` (the user's business memories and the company's core memories), `goals` (goal)
and `relevant_facts` (every other pinned memory; with `?query=`, also the best search hits of
the user and the company). `system_prompt` is exactly the block `MemoryContextMiddleware`
appends to the system prompt, rendered from the same rows (`memory_block.DEFAULT_SPEC`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.brain.models import MemoryRecord
from langgraph_brain.middleware.memory_block import DEFAULT_SPEC, MAX_ROWS_PER_SCOPE

from .caller import caller_of
from .errors import endpoint
from .params import int_param, text_param
from .schemas import hit_json, memory_json
from .state import aservice

_GROUPS = {
    "profile": "user_profile",
    "preference": "preferences",
    "business": "business_info",
    "goal": "goals",
}


def _group(scope: str, record: MemoryRecord) -> str:
    if scope == "company":
        return "business_info"
    return _GROUPS.get(record.category, "relevant_facts")


@endpoint
async def memory_context(request: Request) -> Response:
    """The caller's core memories (user and company), grouped, plus the system-prompt block."""
    user, company = caller_of(request).user_and_company(request)
    query = text_param(request, "query")
    k = int_param(request, "k", default=5, low=1, high=20)
    service = await aservice()
    reads = DEFAULT_SPEC.reads(user, company)
    found = await asyncio.gather(
        *(service.alist_core(s, e, categories=c, limit=MAX_ROWS_PER_SCOPE) for s, e, c in reads)
    )
    rows = {scope: records for (scope, _, _), records in zip(reads, found, strict=True)}
    body: dict[str, Any] = {
        g: [] for g in ("user_profile", "preferences", "business_info", "relevant_facts", "goals")
    }
    for scope, records in rows.items():
        for record in records:
            body[_group(scope, record)].append(memory_json(record))
    if query is not None:
        targets = [("user", user)] + ([("company", company)] if company else [])
        hits = await asyncio.gather(*(service.asearch(s, e, query, k=k) for s, e in targets))
        shown = {(m["scope"], m["slug"]) for group in body.values() for m in group}
        for (scope, _), scope_hits in zip(targets, hits, strict=True):
            body["relevant_facts"] += [
                {"scope": scope, **hit_json(h)} for h in scope_hits if (scope, h.slug) not in shown
            ]
    body["system_prompt"] = DEFAULT_SPEC.render(rows)
    body["user_id"], body["company_id"] = user, company
    return JSONResponse(body)


routes = [Route("/brain/context", memory_context, methods=["GET"])]

__all__ = ["routes"]

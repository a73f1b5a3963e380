"""Search one entity's memories: `POST /brain/search/{scope}` {"query", "mode"?, "k"?, "category"?,
"min_score"?, "as_of"?, "importance_weight"?, "recency_weight"?, "recency_half_life_days"?}
-> {"hits": [{"slug", "content", "category", "score", "updated_at"}]}, best first.

`MemoryService.asearch` does the work (only synced rows of this entity come back); `min_score`
is applied to its hits, so fewer than `k` may remain. `as_of` searches the versions valid at that
past instant (`langgraph_brain.brain.as_of`); a bad value is a 422. The ranking knobs replace the
server's for this search (`langgraph_brain.brain.ranking`); weights outside 0..1, summing above 1,
or a half-life that is not a positive number are a 422.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import metrics
from .caller import caller_of
from .errors import endpoint, read_model
from .params import scope_param
from .schemas import SearchRequest, hit_json
from .state import aservice


@endpoint
async def search_memories(request: Request) -> Response:
    """The best `k` memories for `query`."""
    scope = scope_param(request)
    entity = caller_of(request).entity(request, scope)
    body = await read_model(request, SearchRequest)
    service = await aservice()
    mode = body.mode or service.search_mode
    retrieval = body.ranking(service.retrieval)
    with metrics.timed(metrics.SEARCH_SECONDS, mode):
        hits = await service.asearch(
            scope,
            entity,
            body.query,
            k=body.k,
            category=body.category,
            mode=mode,
            as_of=body.as_of,
            retrieval=retrieval,
        )
    if body.min_score is not None:
        hits = [h for h in hits if h.score >= body.min_score]
    return JSONResponse({"hits": [hit_json(h) for h in hits], "mode": mode})


routes = [Route("/brain/search/{scope}", search_memories, methods=["POST"])]

__all__ = ["routes"]

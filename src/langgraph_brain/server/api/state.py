"""The process-wide objects the routes share: the brain's MemoryService and a BrainSaver on its pool.

The service is `get_shared_service()`, the one the graphs and the store of this server process
already use (one pool, one Mem0 index, one embedder). Conversations are read with a BrainSaver
built on that same pool: it runs no setup (the server's checkpointer did), it only reads and
deletes threads with the checkpointer's own code.
"""

from __future__ import annotations

from typing import Any

from langgraph_brain.brain.factory import get_shared_service
from langgraph_brain.brain.service import MemoryService
from langgraph_brain.checkpointers.saver import BrainSaver

from . import metrics

_savers: dict[int, BrainSaver] = {}


async def aservice() -> MemoryService:
    """The shared MemoryService, opened on first use, its operations measured (`metrics`)."""
    service = await get_shared_service()
    if service.observer is None:
        service.observer = metrics.observe_operation
    return service


async def asaver() -> BrainSaver:
    """A BrainSaver on the shared service's pool (one per service)."""
    service = await aservice()
    saver = _savers.get(id(service))
    if saver is None:
        saver = _savers[id(service)] = BrainSaver(service.pool)
    return saver


async def afetchall(query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of one read on the shared pool (checkpointer tables, which row-level security does not cover)."""
    service = await aservice()
    async with service.pool.connection() as conn:
        rows: list[dict[str, Any]] = await (await conn.execute(query, params)).fetchall()
    return rows


__all__ = ["afetchall", "asaver", "aservice"]

"""`brain_store`: the factory `langgraph.json`'s `store.path` names, reading settings at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..brain.factory import get_shared_service
from ..settings import BrainSettings
from .brain_store import BrainStore


@asynccontextmanager
async def brain_store(settings: BrainSettings | None = None) -> AsyncIterator[BrainStore]:
    """Yield a `BrainStore` over the process-wide MemoryService.

    Name it as ``"store": {"path": "langgraph_brain.store.brain_store"}``. The service is the one
    the graphs use (one pool, one Mem0 index, one embedder per server process), so it is not
    closed here: the graphs may still be running when the server leaves the store's context.
    With a custom store the LangGraph server runs no TTL sweeper of its own (`supports_ttl` is
    False; expiry is the brain's retention).
    """
    yield BrainStore(await get_shared_service(settings))


__all__ = ["brain_store"]

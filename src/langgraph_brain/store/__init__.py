"""LangGraph's `BaseStore` over the brain: `runtime.store`, the server's `/store`, Studio, langmem.

Name it in `langgraph.json` so the LangGraph server (and Studio's memory view) use the brain:

    "store": {"path": "langgraph_brain.store.brain_store"}

In-process, wrap an open service: ``BrainStore(service)``.
"""

from .brain_store import STORE_ACTOR, BrainStore, TTLNotSupportedError
from .factory import brain_store
from .namespaces import MAX_DEPTH, EntityPath, entity_path
from .values import CONTENT_FORMAT_KEY, OPERATORS, matches

__all__ = [
    "CONTENT_FORMAT_KEY",
    "MAX_DEPTH",
    "OPERATORS",
    "STORE_ACTOR",
    "BrainStore",
    "EntityPath",
    "TTLNotSupportedError",
    "brain_store",
    "entity_path",
    "matches",
]

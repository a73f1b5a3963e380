"""langgraph-brain: memory for LangGraph agents, on Postgres.

Short-term memory is `BrainSaver` (a Postgres checkpointer with pruning, TTL and a transcript)
plus the middleware from `create_memory_middleware` (compaction, memory context, token-budgeted
trimming); long-term memory is `MemoryService`, a slug-keyed brain table kept 1:1 in sync with
Mem0, exposed to agents through `create_memory_tools`.

The names below are the stable entry points; subpackages hold the rest, and the demo agents
live in `langgraph_brain.demo`. Each name is imported on first use, so `import langgraph_brain`
loads neither LangChain nor the database drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .brain import MemoryService, SaveResult, SearchHit, open_memory_service
    from .brain.reconcile import acheck_invariant, areconcile
    from .checkpointers import BrainSaver, Transcript, brain_checkpointer
    from .errors import (
        BrainConfigurationError,
        BrainError,
        MemoryBackendError,
        MemoryNotFoundError,
        MemoryValidationError,
    )
    from .maintenance import aerase
    from .middleware import create_memory_middleware
    from .settings import BrainSettings, get_settings
    from .tools import READ_ONLY_COMPANY, BrainContext, create_memory_tools

__version__ = "0.1.0"

# Public name -> the module that defines it. Keep in step with the TYPE_CHECKING block above.
_WHERE = {
    "BrainConfigurationError": ".errors",
    "BrainError": ".errors",
    "MemoryBackendError": ".errors",
    "MemoryNotFoundError": ".errors",
    "MemoryValidationError": ".errors",
    "BrainSettings": ".settings",
    "get_settings": ".settings",
    "MemoryService": ".brain",
    "SaveResult": ".brain",
    "SearchHit": ".brain",
    "open_memory_service": ".brain",
    "acheck_invariant": ".brain.reconcile",
    "areconcile": ".brain.reconcile",
    "aerase": ".maintenance",
    "BrainSaver": ".checkpointers",
    "Transcript": ".checkpointers",
    "brain_checkpointer": ".checkpointers",
    "create_memory_middleware": ".middleware",
    "BrainContext": ".tools",
    "READ_ONLY_COMPANY": ".tools",
    "create_memory_tools": ".tools",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "READ_ONLY_COMPANY",
    "BrainConfigurationError",
    "BrainContext",
    "BrainError",
    "BrainSaver",
    "BrainSettings",
    "MemoryBackendError",
    "MemoryNotFoundError",
    "MemoryService",
    "MemoryValidationError",
    "SaveResult",
    "SearchHit",
    "Transcript",
    "__version__",
    "acheck_invariant",
    "aerase",
    "areconcile",
    "brain_checkpointer",
    "create_memory_middleware",
    "create_memory_tools",
    "get_settings",
    "open_memory_service",
]

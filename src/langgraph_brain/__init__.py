"""langgraph-brain: memory for LangGraph agents, on Postgres.

Short-term memory is `BrainSaver` (a Postgres checkpointer with pruning, TTL and compaction)
plus token-budgeted trimming; long-term memory is `MemoryService`, a slug-keyed brain table
kept 1:1 in sync with Mem0, exposed to agents through `create_memory_tools`.

The names below are the stable public API; subpackages hold the rest.
"""

from .agents import (
    MemoryContextMiddleware,
    ScriptedToolCallingModel,
    create_assistant,
    create_memory_context_hook,
    create_supervisor,
)
from .brain import (
    BrainConfigurationError,
    BrainError,
    MemoryBackendError,
    MemoryNotFoundError,
    MemoryService,
    MemoryValidationError,
    SaveResult,
    SearchHit,
    open_memory_service,
)
from .brain.reconcile import acheck_invariant, areconcile
from .checkpointers import BrainSaver, CompactionMiddleware, Transcript, brain_checkpointer
from .maintenance import aerase
from .settings import BrainSettings, get_settings
from .tools import BrainContext, create_memory_tools
from .trimming import TrimmingMiddleware, make_trimming_hook, trim_history

__version__ = "0.1.0"

__all__ = [
    "BrainConfigurationError",
    "BrainContext",
    "BrainError",
    "BrainSaver",
    "BrainSettings",
    "CompactionMiddleware",
    "MemoryBackendError",
    "MemoryContextMiddleware",
    "MemoryNotFoundError",
    "MemoryService",
    "MemoryValidationError",
    "SaveResult",
    "ScriptedToolCallingModel",
    "SearchHit",
    "Transcript",
    "TrimmingMiddleware",
    "__version__",
    "acheck_invariant",
    "aerase",
    "areconcile",
    "brain_checkpointer",
    "create_assistant",
    "create_memory_context_hook",
    "create_memory_tools",
    "create_supervisor",
    "get_settings",
    "make_trimming_hook",
    "open_memory_service",
    "trim_history",
]

"""The brain's exceptions live in `langgraph_brain.errors`; re-exported here for existing imports."""

from ..errors import (
    BrainConfigurationError,
    BrainError,
    MemoryBackendError,
    MemoryNotFoundError,
    MemoryValidationError,
)

__all__ = [
    "BrainConfigurationError",
    "BrainError",
    "MemoryBackendError",
    "MemoryNotFoundError",
    "MemoryValidationError",
]

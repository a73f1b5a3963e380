"""Exceptions. Their messages are written to be read by a model as well as by a person."""

from __future__ import annotations


class BrainError(Exception):
    """Base class for every langgraph-brain error."""


class MemoryValidationError(BrainError, ValueError):
    """Bad input the caller (often a model) can fix: the message says how. Nothing was stored."""


class MemoryNotFoundError(BrainError, LookupError):
    """No memory with that slug exists for this user or company."""


class BrainConfigurationError(BrainError, RuntimeError):
    """A configuration problem, such as a missing user_id/company_id in the runtime context.

    Tools re-raise it instead of returning it to the model: no model action can fix it, and a run
    without an identity must stop rather than read or write someone else's memory.
    """


class MemoryBackendError(BrainError, RuntimeError):
    """Postgres or Mem0 failed (outage, timeout). Nothing half-stored is left visible to search;
    a committed pending row is finished by the next save of that slug or by `reconcile`."""

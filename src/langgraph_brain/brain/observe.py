"""Operation observers: how a deployment measures the brain without the brain importing a metrics library.

`MemoryService.observer` (None by default) is called once per save, search and forget with the
operation, its mode (the search mode; "" otherwise), the seconds it took and its outcome: "ok",
"not_found", "backend" (Postgres or Mem0 failed) or "error". The LangGraph server's memory API
installs one that feeds Prometheus (`langgraph_brain.server.api.metrics`), so the agents' tool
calls are measured with the API's own calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from .errors import MemoryBackendError, MemoryNotFoundError


class OperationObserver(Protocol):
    def __call__(self, operation: str, mode: str, seconds: float, outcome: str) -> None: ...


@contextmanager
def observed(observer: OperationObserver | None, operation: str, mode: str = "") -> Iterator[None]:
    """Time the block and report it to `observer` (nothing at all when there is none)."""
    if observer is None:
        yield
        return
    start = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except MemoryNotFoundError:
        outcome = "not_found"
        raise
    except MemoryBackendError:
        outcome = "backend"
        raise
    finally:
        observer(operation, mode, time.perf_counter() - start, outcome)


__all__ = ["OperationObserver", "observed"]

"""Blocking twins of MemoryService's async methods, for sync code outside the service's loop.

Each twin runs its a-method on the event loop the service was created on, from the calling
thread (`run_blocking`); the logic exists once, in the a-method.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.store.base import NOT_PROVIDED, NotProvided

from .models import Actor, MemoryRecord, SaveResult, SearchHit

T = TypeVar("T")


class BlockingTwins:
    """Mixed into MemoryService: `save`, `search`, `get`, `forget`, `list_core`, `list`."""

    _loop: asyncio.AbstractEventLoop | None
    if TYPE_CHECKING:  # defined by MemoryService
        asave: Callable[..., Coroutine[Any, Any, SaveResult]]
        asearch: Callable[..., Coroutine[Any, Any, list[SearchHit]]]
        aget: Callable[..., Coroutine[Any, Any, MemoryRecord | None]]
        aforget: Callable[..., Coroutine[Any, Any, MemoryRecord]]
        alist_core: Callable[..., Coroutine[Any, Any, list[MemoryRecord]]]
        alist: Callable[..., Coroutine[Any, Any, list[MemoryRecord]]]

    def save(
        self,
        scope: str,
        entity_id: str,
        slug: str,
        content: str,
        *,
        category: str | NotProvided | None = NOT_PROVIDED,
        metadata: Mapping[str, Any] | NotProvided | None = NOT_PROVIDED,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> SaveResult:
        """Blocking twin of `asave`."""
        coro = self.asave(
            scope, entity_id, slug, content,
            category=category, metadata=metadata, actor=actor, reason=reason,
        )  # fmt: skip
        return self.run_blocking(coro)

    def search(
        self,
        scope: str,
        entity_id: str,
        query: str,
        *,
        k: int = 5,
        category: str | None = None,
        mode: str | None = None,
    ) -> list[SearchHit]:
        """Blocking twin of `asearch`."""
        return self.run_blocking(self.asearch(scope, entity_id, query, k=k, category=category, mode=mode))

    def get(self, scope: str, entity_id: str, slug: str) -> MemoryRecord | None:
        """Blocking twin of `aget`."""
        return self.run_blocking(self.aget(scope, entity_id, slug))

    def forget(
        self,
        scope: str,
        entity_id: str,
        slug: str,
        *,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> MemoryRecord:
        """Blocking twin of `aforget`."""
        return self.run_blocking(self.aforget(scope, entity_id, slug, actor=actor, reason=reason))

    def list_core(
        self, scope: str, entity_id: str, *, categories: Sequence[str], limit: int = 200
    ) -> list[MemoryRecord]:
        """Blocking twin of `alist_core`."""
        return self.run_blocking(self.alist_core(scope, entity_id, categories=categories, limit=limit))

    def list(
        self,
        scope: str,
        entity_id: str,
        *,
        category: str | None = None,
        after_slug: str | None = None,
        limit: int = 100,
    ) -> list[MemoryRecord]:
        """Blocking twin of `alist`."""
        return self.run_blocking(
            self.alist(scope, entity_id, category=category, after_slug=after_slug, limit=limit)
        )

    def run_blocking(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the service's event loop from another thread and return its result."""
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise RuntimeError(
                "the sync MemoryService methods need the service's event loop running in another thread;"
                " use the async (a-prefixed) methods from async code."
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError(
                "called a sync MemoryService method on its own event loop; await the a-method."
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


__all__ = ["BlockingTwins"]

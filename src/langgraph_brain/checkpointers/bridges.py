"""Blocking twins of BrainSaver's own async operations, bridged to the saver's event loop.

Like upstream's sync methods on `AsyncPostgresSaver`: callable from any thread but the saver's
loop, where they refuse with advice instead of deadlocking it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any


class SyncBridges:
    """Mixin for BrainSaver: `delete_for_runs`, `copy_thread` and `prune` as blocking calls."""

    loop: asyncio.AbstractEventLoop

    if TYPE_CHECKING:  # provided by BrainSaver; declared for type checking only, so that
        # super() calls in BrainSaver still reach AsyncPostgresSaver at runtime.

        def adelete_for_runs(self, run_ids: Sequence[str]) -> Coroutine[Any, Any, None]: ...

        def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> Coroutine[Any, Any, None]: ...

        def aprune(
            self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep: int = 1
        ) -> Coroutine[Any, Any, None]: ...

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Sync bridge to `adelete_for_runs`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("adelete_for_runs")
        asyncio.run_coroutine_threadsafe(self.adelete_for_runs(run_ids), self.loop).result()

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Sync bridge to `acopy_thread`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("acopy_thread")
        asyncio.run_coroutine_threadsafe(
            self.acopy_thread(source_thread_id, target_thread_id), self.loop
        ).result()

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep: int = 1) -> None:
        """Sync bridge to `aprune`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("aprune")
        asyncio.run_coroutine_threadsafe(
            self.aprune(thread_ids, strategy=strategy, keep=keep), self.loop
        ).result()

    def _refuse_on_loop(self, name: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self.loop:
            raise asyncio.InvalidStateError(
                f"Synchronous calls to BrainSaver block its own event loop; use `await saver.{name}(...)`."
            )

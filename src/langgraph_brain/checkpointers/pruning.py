"""Background pruning at the start of each turn: at most one prune per thread in flight.

Two prunes of one thread at once can deadlock each other, so while one runs a second request
only asks it to run once more when done: the newest turn is always covered, and a busy thread
never queues more than one extra prune.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class BackgroundPruner:
    """Runs `prune(thread_id)` in background tasks, coalescing requests per thread.

    Args:
        prune: prunes one thread; it must not raise (log and return instead).
    """

    def __init__(self, prune: Callable[[str], Awaitable[None]]) -> None:
        self._prune = prune
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, thread_id: str) -> None:
        """Prune `thread_id` soon (on the running loop); never waits."""
        if thread_id in self._running:
            self._again.add(thread_id)
            return
        self._running.add(thread_id)
        task = asyncio.get_running_loop().create_task(self._loop(thread_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self, thread_id: str) -> None:
        try:
            while True:
                self._again.discard(thread_id)
                await self._prune(thread_id)
                if thread_id not in self._again:
                    return
        finally:
            self._running.discard(thread_id)

    async def adrain(self) -> None:
        """Wait until no prune is running or scheduled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

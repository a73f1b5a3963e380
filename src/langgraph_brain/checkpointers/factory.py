"""`brain_checkpointer`: the factory `langgraph.json` names, reading settings at the edge.

"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from datetime import timedelta
from pathlib import Path

from langgraph_brain.db.embedded import embedded_server
from langgraph_brain.settings import BrainSettings, get_settings

from .saver import BrainSaver


@asynccontextmanager
async def brain_checkpointer(settings: BrainSettings | None = None) -> AsyncIterator[BrainSaver]:
    """Factory for `langgraph.json`.

    Name it as `"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}`.
    Connects to `DATABASE_URL`, or starts the embedded Postgres under `BRAIN_DATA_DIR`, runs
    `setup()`, and prunes each thread to `BRAIN_KEEP_CHECKPOINTS` per turn. The LangGraph
    server calls it with no arguments and enters the returned async context manager.

    An embedded server this context started is released when it exits (the LangGraph server
    does that during its shutdown, and SIGTERM skips `atexit`): it stops unless another live
    process still uses it. See `langgraph_brain.db.embedded`.
    """
    s = settings or get_settings()
    server: AbstractContextManager[str] = (
        nullcontext(s.database_url) if s.database_url else embedded_server(Path(s.data_dir))
    )
    # Starting or stopping the embedded server blocks for about a second: not on the event loop.
    url = await asyncio.to_thread(server.__enter__)
    try:
        async with BrainSaver.from_conn_string(
            url,
            keep_checkpoints=s.keep_checkpoints,
            min_size=s.pool_min_size,
            max_size=s.pool_max_size,
            pool_timeout=s.pool_timeout,
            thread_ttl=None if s.thread_ttl_days is None else timedelta(days=s.thread_ttl_days),
            # BRAIN_AUTO_MIGRATE=false: run no DDL, refuse an un-migrated database by name.
            setup=s.auto_migrate,
        ) as saver:
            yield saver
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)

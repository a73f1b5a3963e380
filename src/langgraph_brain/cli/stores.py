"""The one way a command opens the stores: database, MemoryService and/or BrainSaver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import BrainSettings


@dataclass
class Stores:
    """What a command works with; fields are None when not requested from `open_stores`."""

    settings: BrainSettings
    url: str
    pool: Any = None
    service: Any = None
    saver: Any = None


def settings() -> BrainSettings:
    """The CLI's settings (environment and `.env`), read once per command."""
    from ..settings import get_settings

    return get_settings()


def where(s: BrainSettings) -> str:
    return "DATABASE_URL" if s.database_url else f"embedded Postgres in {s.data_dir}"


@asynccontextmanager
async def open_stores(
    s: BrainSettings | None = None, *, memory: bool = True, sessions: bool = True
) -> AsyncIterator[Stores]:
    """Open the database once (migrating it when BRAIN_AUTO_MIGRATE allows), then the
    MemoryService and/or the BrainSaver on it; close everything afterwards."""
    from contextlib import AsyncExitStack

    from ..brain import open_memory_service
    from ..checkpointers import BrainSaver
    from ..db import Database, resolve_database_url

    s = s or settings()
    url = await asyncio.to_thread(resolve_database_url, s.database_url, s.data_dir)
    async with AsyncExitStack() as stack:
        database = await Database.aopen(
            url,
            min_size=1,
            max_size=s.pool_max_size,
            connect_timeout=s.pool_timeout,
            migrate=s.auto_migrate,
        )
        stack.push_async_callback(database.aclose)
        stores = Stores(s, url, pool=database.pool)
        if memory:
            stores.service = await stack.enter_async_context(open_memory_service(s, database=database))
        if sessions:
            stores.saver = await stack.enter_async_context(
                BrainSaver.from_conn_string(
                    url,
                    keep_checkpoints=s.keep_checkpoints,
                    setup=s.auto_migrate,
                    pool_timeout=s.pool_timeout,
                )
            )
        yield stores

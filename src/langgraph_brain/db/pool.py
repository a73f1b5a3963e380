"""Connection pools with health checks, shared by the brain and the checkpointer."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

# AsyncPostgresSaver needs autocommit + dict rows; prepare_threshold=None keeps us safe behind
# transaction-mode poolers (PgBouncer, Supabase, Neon) where server-side prepared statements break.
CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "prepare_threshold": None,
    "row_factory": dict_row,
}


#: Seconds a caller waits for a connection. psycopg_pool's own default (30 s) is a long time for
#: an agent turn to hang during an outage before the tool can say the database is unavailable.
DEFAULT_POOL_TIMEOUT = 10.0


async def open_async_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "brain",
    connect_timeout: float = DEFAULT_POOL_TIMEOUT,
) -> AsyncConnectionPool[AsyncConnection[dict[str, Any]]]:
    """Open an async pool whose connections are checked before each use.

    The check costs one round trip, and buys recovery after a server restart or a connection
    killed by `pg_terminate_backend`: the dead connection is discarded instead of failing a turn.
    """
    pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs=CONNECTION_KWARGS,
        check=AsyncConnectionPool.check_connection,
        open=False,
        name=name,
        timeout=connect_timeout,
    )
    await pool.open(wait=True, timeout=30)
    return pool


def open_sync_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 5,
    name: str = "brain-sync",
    connect_timeout: float = DEFAULT_POOL_TIMEOUT,
) -> ConnectionPool:
    """A sync pool (Mem0's pgvector store is synchronous), with the same health check."""
    pool: ConnectionPool = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": None},
        check=ConnectionPool.check_connection,
        open=False,
        name=name,
        timeout=connect_timeout,
    )
    pool.open(wait=True, timeout=30)
    return pool

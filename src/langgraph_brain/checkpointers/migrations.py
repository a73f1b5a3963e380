"""The checkpointer's own append-only migrations: the transcript and the thread-owner indexes.

They run after langgraph-checkpoint-postgres' migrations (`BrainSaver.setup`), never need
pgvector and never touch the brain's tables, so short-term memory works on any Postgres >= 15.
Shipped entries are never edited; a change is a new entry at the end.
"""

from __future__ import annotations

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

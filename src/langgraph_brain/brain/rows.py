"""Rows of `brain_memories`: their SQL, their mapping, and how a service reaches one tenant's.

Every statement the brain runs against its own tables is a named constant here, so the service,
the save/forget protocol (`protocol.py`), search (`search.py`), transfer and reconcile only pick
and bind them. `Tenancy` opens the transactions in which row-level security sees exactly one
tenant; `key_lock` serialises every write to one memory key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ..db.rls import TENANT_SQL, Tenant, acheck_tenant_key, apipelined, asees_every_row, bind_tenant
from .errors import BrainConfigurationError
from .index import entity_key
from .models import Actor, MemoryRecord

Pool = AsyncConnectionPool[AsyncConnection[dict[str, Any]]]

#: The columns of a full row, as `to_record` maps them (`memory_id` as text: Mem0's ids are text).
ROW_COLUMNS = (
    "id, scope, entity_id, slug, content, category, metadata, content_hash, memory_id::text AS memory_id,"
    " sync_state, version, created_at, updated_at, importance"
)
#: A full row with its access counters (`brain_memory_access`, one primary-key probe each), for the
#: reads that return records; writes return ROW_COLUMNS only (their records show 0 / None).
READ_COLUMNS = (
    f"{ROW_COLUMNS}, coalesce((SELECT a.access_count FROM brain_memory_access a"
    " WHERE a.brain_id = brain_memories.id), 0) AS access_count,"
    " (SELECT a.last_accessed_at FROM brain_memory_access a WHERE a.brain_id = brain_memories.id)"
    " AS last_accessed_at"
)
_KEY = "scope = %s AND entity_id = %s AND slug = %s"

# Session-level advisory lock on one (scope, entity, slug); see `key_lock` for why session-level.
KEY_LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
KEY_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"

# Save: lock the row (if any) for the rest of the transaction, then insert or update it pending.
SELECT_ROW_FOR_UPDATE_SQL = f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE {_KEY} FOR UPDATE"
INSERT_ROW_SQL = (
    "INSERT INTO brain_memories (scope, entity_id, slug, content, category, metadata, content_hash)"
    f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {ROW_COLUMNS}"
)
UPDATE_ROW_SQL = (
    "UPDATE brain_memories SET content = %s, category = %s, metadata = %s, content_hash = %s,"
    " sync_state = 'pending', version = version + 1, updated_at = now()"
    f" WHERE id = %s RETURNING {ROW_COLUMNS}"
)
# The same writes with their brain_history entry in one statement (one round trip with COMMIT):
# params are the write's, then action, old content, actor, reason and whether to log at all.
_LOG_ROW = (
    "INSERT INTO brain_history (brain_id, scope, entity_id, slug, action, old_content, new_content,"
    " category, version, actor, reason) SELECT id, scope, entity_id, slug, %s, %s, content, category,"
    " version, %s, %s FROM r WHERE %s"
)
INSERT_ROW_LOGGED_SQL = f"WITH r AS ({INSERT_ROW_SQL}), h AS ({_LOG_ROW}) SELECT * FROM r"
UPDATE_ROW_LOGGED_SQL = f"WITH r AS ({UPDATE_ROW_SQL}), h AS ({_LOG_ROW}) SELECT * FROM r"
# Only the version that was pushed may be marked: a later save has moved it on and pushes itself.
MARK_SYNCED_SQL = (
    "UPDATE brain_memories SET sync_state = 'synced', memory_id = %s"
    " WHERE id = %s AND version = %s AND sync_state = 'pending'"
)
# Reconcile holds the key lock and has just pushed the row it re-read, whatever its state was.
MARK_REPAIRED_SQL = (
    "UPDATE brain_memories SET sync_state = 'synced', memory_id = %s WHERE id = %s AND version = %s"
)

# Forget: hide the row first (committed), delete it only after Mem0 has let go of it.
MARK_DELETING_SQL = (
    "UPDATE brain_memories SET sync_state = 'deleting', version = version + 1, updated_at = now()"
    f" WHERE {_KEY} AND sync_state <> 'deleting' RETURNING {ROW_COLUMNS}"
)
DELETE_MARKED_SQL = "DELETE FROM brain_memories WHERE id = %s AND version = %s AND sync_state = 'deleting'"
DELETE_ROW_SQL = "DELETE FROM brain_memories WHERE id = %s"

# Reads. A row being forgotten ('deleting') is never shown.
SELECT_ROW_SQL = f"SELECT {READ_COLUMNS} FROM brain_memories WHERE {_KEY} AND sync_state <> 'deleting'"
SELECT_ROW_BY_ID_SQL = f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE id = %s"
SELECT_ID_SQL = "SELECT id FROM brain_memories WHERE id = %s"
SELECT_ALL_ROWS_SQL = f"SELECT {ROW_COLUMNS} FROM brain_memories ORDER BY id"
SELECT_ALL_KEYS_SQL = "SELECT id, scope, entity_id, slug FROM brain_memories ORDER BY id"
# Keyset paging on slug (no OFFSET): a page costs the same however deep it is.
LIST_ROWS_SQL = (
    f"SELECT {READ_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
    " AND sync_state <> 'deleting' AND (%s::text IS NULL OR category = %s)"
    " AND (%s::text IS NULL OR slug > %s) ORDER BY slug LIMIT %s"
)
LIST_CORE_SQL = (
    f"SELECT {READ_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
    " AND sync_state <> 'deleting'"
    " AND (category = ANY(%s) OR metadata @> '{\"pinned\": true}')"
    " ORDER BY (metadata @> '{\"pinned\": true}') DESC, updated_at DESC LIMIT %s"
)
# Export pages by id on the admin pool: every tenant, or one scope, or one entity.
EXPORT_PAGE_SQL = (
    f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE id > %s"
    " AND sync_state <> 'deleting' AND (%s::text IS NULL OR scope = %s)"
    " AND (%s::text IS NULL OR entity_id = %s) ORDER BY id LIMIT 500"
)
# Search join-back: candidates by Mem0 id plus sequence neighbours by slug, in one statement and
# under the same tenant, sync and category filters; with the signals the final score reads
# (`ranking`: importance, generated by migration v9, and updated_at).
JOIN_HITS_SQL = (
    "SELECT memory_id::text AS memory_id, slug, content, category, updated_at, importance"
    " FROM brain_memories WHERE (memory_id = ANY(%s::uuid[]) OR (slug = ANY(%s::text[])"
    " AND (%s::text IS NULL OR category = %s))) AND scope = %s AND entity_id = %s"
    " AND sync_state = 'synced'"
)

SELECT_HISTORY_SQL = (
    "SELECT brain_id, scope, entity_id, slug, action, old_content, new_content, category,"
    " version, actor, reason, created_at FROM brain_history"
    " WHERE scope = %s AND entity_id = %s AND (%s::text IS NULL OR slug = %s)"
    " ORDER BY id DESC LIMIT %s"
)
INSERT_HISTORY_SQL = (
    "INSERT INTO brain_history (brain_id, scope, entity_id, slug, action, old_content, new_content,"
    " category, version, actor, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


class Tenancy:
    """How one service reaches one tenant's rows and index entries under row-level security.

    Args:
        pool: the pool tenant-scoped statements run on (the application role under RLS).
        key: the database's tenant key, which signs every tenant (`db.rls.parse_tenant_key`);
            None when the role is not limited by RLS (the owner).
    """

    def __init__(self, pool: Pool, key: bytes | None) -> None:
        self.pool = pool
        self.key = key

    def claim(self, scope: str, entity: str) -> Tenant:
        """The tenant as RLS checks it: scope, entity, Mem0 key, signed with the tenant key."""
        return Tenant.signed(self.key, scope, entity, entity_key(scope, entity))

    @asynccontextmanager
    async def transaction(self, conn: AsyncConnection[Any], scope: str, entity: str) -> AsyncIterator[None]:
        """A transaction on `conn` in which row-level security sees exactly one tenant.

        set_config(..., is_local => true) is SET LOCAL with parameters: it ends with the
        transaction, so a pooled connection never carries a tenant into its next use, and the
        signature is a bind parameter, never part of a statement other sessions can read.
        """
        async with conn.transaction():
            await conn.execute(TENANT_SQL, self.claim(scope, entity).params())
            yield

    @asynccontextmanager
    async def connection(self, scope: str, entity: str) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection inside a `transaction` for this tenant."""
        async with self.pool.connection() as conn, self.transaction(conn, scope, entity):
            yield conn

    async def afetchall(
        self, scope: str, entity: str, query: str | bytes, params: tuple[Any, ...] | Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Run one read in a transaction for this tenant and return its rows, in one round trip:
        BEGIN, the tenant, the query and COMMIT are pipelined and the rows read after the commit."""
        statement = query.encode() if isinstance(query, str) else query
        async with self.pool.connection() as conn, apipelined(conn):
            async with self.transaction(conn, scope, entity):
                cur = await conn.execute(statement, params)
            rows: list[dict[str, Any]] = await cur.fetchall()
        return rows

    async def acheck_access(self) -> None:
        """Fail fast when row-level security would hide every row from `pool`'s role.

        Raises:
            BrainConfigurationError: the key does not match this database's (rotated, or another
                database's), or the role needs a key and none was given.
        """
        async with self.pool.connection() as conn:
            if self.key is not None:
                if not await acheck_tenant_key(conn, self.key):
                    raise BrainConfigurationError(
                        "BRAIN_TENANT_KEY does not match this database's tenant key (was it rotated, or"
                        " taken from another database?): row-level security would hide every memory."
                        " `brain migrate --tenant-key`, run as the owner, prints the current key."
                    )
                return
            if not await asees_every_row(conn, "brain_memories"):
                raise BrainConfigurationError(
                    "this database role is limited by row-level security and no tenant key was given:"
                    " it would see no memories. Set BRAIN_TENANT_KEY to what `brain migrate --tenant-key`"
                    " prints (run as the owner), or connect as the owner."
                )

    @contextmanager
    def bind_index(self, scope: str, entity: str) -> Iterator[None]:
        """Bind the tenant for the index calls made inside (Mem0 OSS applies it to its SQL)."""
        with bind_tenant(self.claim(scope, entity)):
            yield


@asynccontextmanager
async def key_lock(pool: Pool, scope: str, entity: str, slug: str) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection holding the advisory lock for one key until the block exits.

    Session-level, not transaction-level: the lock must outlive the commit of the pending
    row and cover the Mem0 call, or two saves could reach Mem0 in the opposite order to
    their commits. If the process dies, Postgres drops the lock with the connection.

    The connection is in pipeline mode: statements are sent when a result is needed or a
    transaction commits, so the lock travels with the first transaction's statements and a save
    costs a few round trips instead of one per statement (each round trip is a wake-up that a
    busy machine delays). Postgres still runs them in order, so nothing runs before the lock.
    """
    name = f"{scope}\x1f{entity}\x1f{slug}"
    async with pool.connection() as conn, apipelined(conn):
        await conn.execute(KEY_LOCK_SQL, (name,))
        try:
            yield conn
        finally:
            await conn.execute(KEY_UNLOCK_SQL, (name,))


async def fetchone(conn: AsyncConnection[Any], query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    """Run one statement and return its first row (as a dict), or None."""
    cur = await conn.execute(query.encode(), params)
    row: dict[str, Any] | None = await cur.fetchone()
    return row


async def add_history(
    conn: AsyncConnection[Any],
    row: Mapping[str, Any],
    action: str,
    old: str | None,
    new: str | None,
    actor: Actor | None,
    reason: str | None,
) -> None:
    """Append one `brain_history` entry for `row`, in the caller's transaction."""
    await conn.execute(
        INSERT_HISTORY_SQL,
        (
            row["id"],
            row["scope"],
            row["entity_id"],
            row["slug"],
            action,
            old,
            new,
            row["category"],
            row["version"],
            Jsonb(dict(actor or {})),
            reason,
        ),
    )


def to_record(row: Mapping[str, Any]) -> MemoryRecord:
    """The `MemoryRecord` of a row read with `ROW_COLUMNS`."""
    return MemoryRecord(
        id=row["id"],
        scope=row["scope"],
        entity_id=row["entity_id"],
        slug=row["slug"],
        content=row["content"],
        category=row["category"],
        metadata=row["metadata"],
        memory_id=row["memory_id"],
        sync_state=row["sync_state"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        importance=row.get("importance"),
        access_count=row.get("access_count") or 0,
        last_accessed_at=row.get("last_accessed_at"),
    )

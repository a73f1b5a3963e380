"""Erase everything the brain holds about one user or one company (right to erasure).

`aerase_entity` removes the entity's brain rows, its whole `brain_history`, its archived memories
(`brain_archive`) and every Mem0 memory filed under it, and touches nothing else: every statement
matches the exact (scope, entity_id) pair, and Mem0 is asked only for memories whose entity key or
brain_id is that entity's (unlike mem0#3928, where deleting one user's memories wiped every user).
The conversation side (checkpoints and transcripts) is erased by `langgraph_brain.maintenance.aerase`,
which calls this.

Order matters for crash safety: the brain rows go first, in one transaction, because the brain
is the source of truth. Any Mem0 memory left behind by a crash after that commit is an orphan
(its brain_id has no row), which the next `reconcile` deletes, and running erase again also
finds it by its entity key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from .index import entity_key
from .reconcile import aensure_sees_every_tenant
from .service import MemoryService

logger = logging.getLogger(__name__)

#: Mem0's entity-linking side collection (only written when spaCy is installed). Mem0 names it
#: "<collection>_entities" for pgvector; its rows carry the same `user_id` filter key.
_MEM0_ENTITY_TABLE = "brain_mem0_entities"


@dataclass
class EraseReport:
    """What was removed for one entity."""

    scope: str
    entity_id: str
    brain_rows: int = 0
    history_rows: int = 0
    #: archived copies (`brain_archive`, retention) of the entity's memories
    archive_rows: int = 0
    index_memories: int = 0
    index_entities: int = 0
    threads: int = 0
    checkpoints: int = 0
    transcript_messages: int = 0
    #: thread records deleted on a LangGraph server (`langgraph_brain.server.erase`)
    server_threads: int = 0
    #: background-extraction cursors and queued jobs of the erased threads
    extraction_cursors: int = 0
    extraction_jobs: int = 0
    #: ids of the threads removed (so a caller can remove them elsewhere too, e.g. on a server)
    thread_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return asdict(self)

    @property
    def total(self) -> int:
        """Everything removed, summed (0 means the entity had nothing stored)."""
        return (
            self.brain_rows
            + self.history_rows
            + self.archive_rows
            + self.index_memories
            + self.index_entities
            + self.checkpoints
            + self.transcript_messages
            + self.server_threads
            + self.extraction_cursors
            + self.extraction_jobs
        )


async def aerase_entity(service: MemoryService, scope: str, entity_id: str) -> EraseReport:
    """Delete one user's or company's brain rows, history, archived memories and Mem0 memories.

    Runs on `service.admin_pool` (row-level security would hide other transactions' tenants
    from the application role, and erase must see every row of the entity whatever tenant the
    caller set). The entity id goes through the scope's normaliser, exactly as on save, so
    ``"  ANA "`` erases the memories saved for ``"ana"`` and nothing of ``"ana2"``.

    Agents of this entity that are saving while erase runs may commit a new memory after it;
    stop their sessions first, or run erase again afterwards.

    Args:
        service: the memory service (its admin pool and Mem0 index are used).
        scope: "user" or "company".
        entity_id: the user or company id.

    Returns:
        Counts of removed brain rows, history rows and Mem0 memories.

    Raises:
        MemoryValidationError: bad scope.
        BrainConfigurationError: empty or malformed entity id, or an admin pool whose role
            row-level security restricts to one tenant.
    """
    checked_scope, entity = service.normalize(scope, entity_id)
    await aensure_sees_every_tenant(service)
    report = EraseReport(checked_scope, entity)
    key = entity_key(checked_scope, entity)
    async with service.admin_pool.connection() as conn, conn.transaction():
        rows = await (
            await conn.execute(
                "DELETE FROM brain_memories WHERE scope = %s AND entity_id = %s"
                " RETURNING id, memory_id::text AS memory_id",
                (checked_scope, entity),
            )
        ).fetchall()
        history = await conn.execute(
            "DELETE FROM brain_history WHERE scope = %s AND entity_id = %s", (checked_scope, entity)
        )
        archive = await conn.execute(
            "DELETE FROM brain_archive WHERE scope = %s AND entity_id = %s", (checked_scope, entity)
        )
    report.brain_rows = len(rows)
    report.history_rows = max(history.rowcount, 0)
    report.archive_rows = max(archive.rowcount, 0)

    # Mem0: the rows' own memories, anything still tagged with one of their brain ids (a crashed
    # save's orphan), and anything filed under the entity's key. The key lookup is an exact match
    # on Mem0's user_id ("user:1" never matches "user:12").
    doomed: set[str] = {r["memory_id"] for r in rows if r["memory_id"]}
    doomed.update(h.memory_id for h in await service.index.alist(entity_key=key))
    for r in rows:
        doomed.update(h.memory_id for h in await service.index.alist(brain_id=int(r["id"])))
    for memory_id in sorted(doomed):
        if await service.index.adelete(memory_id):
            report.index_memories += 1
    report.index_entities = await _erase_mem0_side_tables(service, key, doomed)
    return report


async def _erase_mem0_side_tables(service: MemoryService, key: str, memory_ids: set[str]) -> int:
    """Remove what Mem0 OSS keeps about the entity besides its memories.

    Mem0's entity-linking collection (only when spaCy is installed) holds entity names from the
    texts, filed under the same user_id; Mem0's own history of add/update/delete events lives in
    an in-process SQLite database (`history_db_path=":memory:"`) and keeps old texts until the
    process exits. Both are cleared for this entity so erase leaves nothing readable behind.
    """
    removed = 0
    async with service.admin_pool.connection() as conn:
        exists = await (
            await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS e", (_MEM0_ENTITY_TABLE,))
        ).fetchone()
        if exists and exists["e"]:
            cur = await conn.execute(
                f"DELETE FROM {_MEM0_ENTITY_TABLE} WHERE payload->>'user_id' = %s".encode(), (key,)
            )
            removed = max(cur.rowcount, 0)
    history_db = getattr(getattr(service.index, "memory", None), "db", None)
    connection = getattr(history_db, "connection", None)
    lock = getattr(history_db, "_lock", None)
    if connection is not None and lock is not None and memory_ids:

        def purge() -> None:
            with lock:
                connection.executemany(
                    "DELETE FROM history WHERE memory_id = ?", [(m,) for m in sorted(memory_ids)]
                )
                connection.commit()

        try:
            await asyncio.to_thread(purge)
        except Exception:  # Mem0's private history schema may change; the memories are gone anyway.
            logger.warning("could not purge Mem0's in-process history for %s", key, exc_info=True)
    return removed

"""Operations that span long-term and short-term memory: erase an entity, reconcile.

This module sits above both `brain` and `checkpointers` (the brain must not import the
checkpointer), so the erase that also removes conversations lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.postgres import _ainternal

from .brain.erase import EraseReport, aerase_entity
from .brain.reconcile import InvariantReport, ReconcileReport, acheck_invariant, areconcile
from .brain.service import MemoryService
from .checkpointers.saver import BrainSaver

__all__ = [
    "EraseReport",
    "InvariantReport",
    "ReconcileReport",
    "acheck_invariant",
    "aerase",
    "areconcile",
    "athreads_of",
]

#: Which checkpoint-metadata key names the owner of a thread, per scope. LangGraph copies
#: `configurable` keys into checkpoint metadata, so threads run with
#: configurable={"user_id": ..., "company_id": ...} (as `langgraph dev` and our agents do) carry them.
_THREAD_KEY = {"user": "user_id", "company": "company_id"}


async def athreads_of(service: MemoryService, saver: BrainSaver, scope: str, entity_id: str) -> list[str]:
    """Thread ids whose checkpoint metadata names this user (or company).

    The ids in metadata are raw, as the application passed them; they are compared after the
    brain's normaliser for the scope, so a thread run as "Ana" belongs to the brain user "ana",
    and "1" never matches "12".
    """
    checked_scope, entity = service.normalize(scope, entity_id)
    meta_key = _THREAD_KEY[checked_scope]
    async with _ainternal.get_connection(saver.conn) as conn:
        cur = await conn.execute("SELECT to_regclass('checkpoints') IS NOT NULL AS e")
        exists: Any = await cur.fetchone()
        if not exists["e"]:
            return []  # the checkpointer was never set up on this database
        cur = await conn.execute(
            "SELECT DISTINCT metadata->>%s AS raw FROM checkpoints WHERE metadata ? %s", (meta_key, meta_key)
        )
        raws = [r["raw"] for r in await cur.fetchall() if r["raw"] is not None]
        matching = [raw for raw in raws if _same_entity(service, checked_scope, raw, entity)]
        if not matching:
            return []
        cur = await conn.execute(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE metadata->>%s = ANY(%s)", (meta_key, matching)
        )
        return sorted(r["thread_id"] for r in await cur.fetchall())


def _same_entity(service: MemoryService, scope: str, raw: str, entity: str) -> bool:
    try:
        return service.normalize(scope, raw)[1] == entity
    except Exception:  # a malformed id in old metadata is simply not this entity
        return False


async def aerase(
    service: MemoryService,
    scope: str,
    entity_id: str,
    *,
    saver: BrainSaver | None = None,
) -> EraseReport:
    """Erase one user or company everywhere: brain rows, history, Mem0, threads, transcripts.

    Args:
        service: the memory service.
        scope: "user" or "company".
        entity_id: the id to erase (normalised like on save).
        saver: the checkpointer; when given, every thread whose metadata names the entity is
            deleted with its checkpoints, blobs, writes and transcript (`chat_messages`).

    Returns:
        An `EraseReport` with the count of everything removed.
    """
    report = await aerase_entity(service, scope, entity_id)
    if saver is None:
        return report
    threads = await athreads_of(service, saver, report.scope, entity_id)
    if threads:
        checkpoints, messages = await _count_thread_rows(saver, threads)
        await saver.adelete_threads(threads)
        report.threads = len(threads)
        report.checkpoints = checkpoints
        report.transcript_messages = messages
    return report


async def _count_thread_rows(saver: BrainSaver, threads: Sequence[str]) -> tuple[int, int]:
    async with _ainternal.get_connection(saver.conn) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = ANY(%s)) AS c,"
            " (SELECT count(*) FROM chat_messages WHERE thread_id = ANY(%s)) AS m",
            (list(threads), list(threads)),
        )
        row: Any = await cur.fetchone()
    return int(row["c"]), int(row["m"])

"""Operations that span long-term and short-term memory: erase an entity, reconcile.

This module sits above both `brain` and `checkpointers` (the brain must not import the
checkpointer), so the erase that also removes conversations lives here.
"""

from __future__ import annotations

from .brain.erase import EraseReport, aerase_entity
from .brain.reconcile import InvariantReport, ReconcileReport, acheck_invariant, areconcile
from .brain.service import MemoryService
from .checkpointers.saver import BrainSaver
from .checkpointers.threads import athreads_of as threads_of
from .extraction.erase import aforget_threads

__all__ = [
    "EraseReport",
    "InvariantReport",
    "ReconcileReport",
    "acheck_invariant",
    "aerase",
    "areconcile",
    "athreads_of",
]


async def athreads_of(service: MemoryService, saver: BrainSaver, scope: str, entity_id: str) -> list[str]:
    """Thread ids owned by this user (or company), by the checkpointer's one ownership rule
    (`checkpointers.threads.athreads_of`), with the brain's normaliser for the scope."""
    checked_scope, _ = service.normalize(scope, entity_id)
    return await threads_of(
        saver.conn, checked_scope, entity_id, normalize=lambda raw: service.normalize(checked_scope, raw)[1]
    )


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
        An `EraseReport` with the count of everything removed (with `saver`, also the threads'
        background-extraction cursors and queued jobs).
    """
    report = await aerase_entity(service, scope, entity_id)
    if saver is None:
        return report
    threads = await athreads_of(service, saver, report.scope, entity_id)
    if threads:
        removed = await saver.adelete_threads(threads)
        report.threads = len(threads)
        report.thread_ids = list(threads)
        report.checkpoints = removed["checkpoints"]
        report.transcript_messages = removed["chat_messages"]
    # No queued extraction may recreate memories from the erased threads (extraction.erase).
    owner = report.entity_id if report.scope == "user" else None
    async with service.admin_pool.connection() as conn:
        report.extraction_cursors, report.extraction_jobs = await aforget_threads(conn, threads, owner)
    return report

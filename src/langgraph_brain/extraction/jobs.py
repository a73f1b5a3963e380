"""The extract_thread job: read a thread after its cursor, extract, apply, then advance the cursor.

Steps, and what a crash at each one leaves (the worker dies; its job stays "doing" until
`worker.arecover_stalled` hands it back to the queue, or a later turn's job runs):

1. read the cursor and the messages after it — nothing changed yet;
2. call the extractor, which asks the model and applies its operations through the save/forget
   protocol — a crash after some operations leaves those applied, each atomically (I1 holds);
3. advance the cursor, in its own transaction, only after every operation was applied — a crash
   before its commit leaves the cursor where it was.

Delivery is at least once: a job that crashed between 2 and 3 runs again on the same messages,
and its operations land on the same slugs, where an unchanged content is a no-op ("unchanged",
no history entry) and a forget of a forgotten slug finds nothing. No message is skipped,
because the cursor never moves past a message whose operations were not applied.

Failures: a model outage (`ExtractionModelError`), a Mem0 or database outage are retried with
exponential backoff computed by procrastinate's `RetryStrategy` (attempt = the thread's
consecutive failures, kept on its cursor). The retry is a fresh job rather than procrastinate's
in-place retry of the failed one: that one's queueing lock would collide with a job a later turn
queued meanwhile and leave the failed job stuck in "doing" (procrastinate#1446, #1543).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
from procrastinate import JobContext, RetryStrategy
from procrastinate.retry import BaseRetryStrategy
from psycopg_pool import AsyncConnectionPool

from langgraph_brain.errors import MemoryBackendError

from .extractor import ExtractionIdentity, ExtractionModelError, ExtractionReport, SourceMessage
from .messages import ThreadSlice, aadvance_cursor, aclear_pending, aread_after, aread_cursor, arecord_failure
from .queue import adefer_extraction
from .resources import WorkerResources, resources_of

#: Roles whose text the extractor reads (tool results echo memories; they are not statements).
EXTRACTED_ROLES = ("human", "ai")

#: Default backoff: 2, 4, 8, ... 1024 s over 10 attempts (about 34 minutes), then the thread waits
#: for its next turn to try again.
DEFAULT_RETRY = RetryStrategy(
    max_attempts=10,
    exponential_wait=2,
    retry_exceptions=[ExtractionModelError, MemoryBackendError, psycopg.OperationalError],
)

# A second, database-level guard: the session advisory lock dies with the connection of a
# crashed worker, and refuses a second job of the thread if a stalled-job recovery ever
# re-queued one whose worker was alive after all.
_GUARD_SQL = "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS ok"
_UNGUARD_SQL = "SELECT pg_advisory_unlock(%s, hashtext(%s))"
_GUARD_CLASS = 0x6272_0014
_BUSY_DELAY = timedelta(seconds=2)


async def extract_thread(
    context: JobContext, thread_id: str, user_id: str, company_id: str | None = None
) -> dict[str, Any]:
    """The task (registered by `queue.create_queue_app`); returns a short report for the job log."""
    res = resources_of(context)
    if res.extractor is None:
        return {"skipped": "this worker has no extractor (BRAIN_EXTRACTION=false)"}
    args: dict[str, Any] = {"thread_id": thread_id, "user_id": user_id, "company_id": company_id}
    async with _thread_guard(res.service.pool, thread_id) as held:
        if not held:
            read_at = await _db_now(res.service.pool)
            await adefer_extraction(context.app, lane="idle", at=read_at + _BUSY_DELAY, **args)
            return {"deferred": "another job of this thread is running"}
        try:
            return await _run(context, res, args)
        except asyncio.CancelledError:
            # The worker is shutting down (or was asked to abort the job): hand the thread to
            # whichever worker comes next, since nothing else may be queued for it.
            with contextlib.suppress(Exception):
                await adefer_extraction(context.app, lane="now", **args)
            raise
        except Exception as exc:
            await _failed(context, res, args, exc)
            raise


async def _run(context: JobContext, res: WorkerResources, args: dict[str, Any]) -> dict[str, Any]:
    thread_id = args["thread_id"]
    opts = res.options
    async with res.service.pool.connection() as conn:
        cursor = await aread_cursor(conn, thread_id)
    chunk: ThreadSlice = await aread_after(res.saver, thread_id, cursor)
    res.fault("after_read")
    assert cursor.read_at is not None
    if not chunk.messages:
        async with res.service.pool.connection() as conn:
            await aclear_pending(conn, thread_id, cursor)
        return {"processed": 0}
    idle = timedelta(seconds=opts.idle_seconds)
    if (
        len(chunk.messages) < opts.max_pending
        and chunk.last_activity is not None
        and cursor.read_at - chunk.last_activity < idle
    ):
        # Debounce: the thread is not idle yet; come back `idle` after its newest turn.
        await adefer_extraction(context.app, lane="idle", at=chunk.last_activity + idle, **args)
        return {"deferred": "thread not idle", "pending": len(chunk.messages)}
    batch = chunk.messages[: opts.max_batch]
    source = [
        SourceMessage(m.id, m.role, m.content)
        for m in batch
        if m.role in EXTRACTED_ROLES and m.content.strip()
    ]
    out: dict[str, Any] = {"processed": len(batch), "from": batch[0].position, "to": batch[-1].position}
    if source:
        assert res.extractor is not None
        identity = ExtractionIdentity(args["user_id"], args["company_id"])
        report = await res.extractor.arun(res.service, identity, source, thread_id=thread_id)
        out["report"] = _summary(report)
    res.fault("after_apply")
    caught_up = len(batch) == len(chunk.messages)
    async with res.service.pool.connection() as conn, conn.transaction():
        moved = await aadvance_cursor(conn, thread_id, cursor, batch[-1], caught_up=caught_up)
        res.fault("before_cursor")
    res.fault("after_cursor")
    if not moved:
        out["cursor"] = "moved on meanwhile; left as it was"
    if not caught_up:  # a long backlog: the rest in a follow-up job, due now
        await adefer_extraction(context.app, lane="now", **args)
    return out


async def _failed(context: JobContext, res: WorkerResources, args: dict[str, Any], exc: Exception) -> None:
    """Count the failure; schedule the next attempt when the retry strategy allows one."""
    try:
        async with res.service.pool.connection() as conn:
            failures = await arecord_failure(conn, args["thread_id"], f"{type(exc).__name__}: {exc}")
        strategy: BaseRetryStrategy = res.options.retry or DEFAULT_RETRY
        decision = strategy.get_retry_decision(exception=exc, job=context.job.evolve(attempts=failures - 1))
        if decision is not None:
            await adefer_extraction(context.app, lane="idle", at=decision.retry_at, **args)
    except Exception:  # the database may be what failed; the next turn enqueues again
        return


@asynccontextmanager
async def _thread_guard(pool: AsyncConnectionPool[Any], thread_id: str) -> AsyncIterator[bool]:
    async with pool.connection() as conn:
        row: Any = await (await conn.execute(_GUARD_SQL, (_GUARD_CLASS, thread_id))).fetchone()
        held = bool(row["ok"])
        try:
            yield held
        finally:
            if held:
                await conn.execute(_UNGUARD_SQL, (_GUARD_CLASS, thread_id))


async def _db_now(pool: AsyncConnectionPool[Any]) -> Any:
    async with pool.connection() as conn:
        row: Any = await (await conn.execute("SELECT now() AS now")).fetchone()
    return row["now"]


def _summary(report: ExtractionReport) -> dict[str, Any]:
    return {**report.counts(), **({"output_error": report.output_error} if report.output_error else {})}


__all__ = ["DEFAULT_RETRY", "EXTRACTED_ROLES", "extract_thread"]

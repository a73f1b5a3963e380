"""Where background extraction stands: jobs per state, and the threads it lags behind on.

A thread *lags* from the first turn that no finished job has covered (`pending_since` on its
cursor) until a job has processed everything up to a moment after its newest turn. Its lag is
that age; its unprocessed messages are counted by reading the thread after its cursor. Jobs are
procrastinate's rows of the extract_thread task: waiting ("todo": due now, or scheduled later by
the debounce or a backoff), running ("doing") and failed (kept for inspection; finished ones are
deleted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import Cursor, aread_after
from .queue import EXTRACT_TASK

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from langgraph_brain.checkpointers.saver import BrainSaver

_JOBS_SQL = """
    SELECT count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())) AS due,
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()) AS scheduled,
           count(*) FILTER (WHERE status = 'doing') AS running,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM procrastinate_jobs WHERE task_name = %s
"""
_THREAD_JOBS_SQL = """
    SELECT args->>'thread_id' AS thread_id,
           count(*) FILTER (WHERE status = 'todo') AS waiting,
           count(*) FILTER (WHERE status = 'doing') AS running,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM procrastinate_jobs WHERE task_name = %s AND args->>'thread_id' = ANY(%s)
    GROUP BY 1
"""
_CURSOR_COLUMNS = """
    thread_id, position, message_id, failures, last_error, pending_since,
    extract(epoch FROM now() - pending_since) AS lag_seconds
"""
_LAGGING_SQL = f"""
    SELECT {_CURSOR_COLUMNS} FROM brain_extraction_cursors
    WHERE pending_since IS NOT NULL ORDER BY pending_since LIMIT %s
"""
_ONE_THREAD_SQL = f"SELECT {_CURSOR_COLUMNS} FROM brain_extraction_cursors WHERE thread_id = %s"
_TOTALS_SQL = """
    SELECT count(*) AS lagging, max(extract(epoch FROM now() - pending_since)) AS max_lag_seconds
    FROM brain_extraction_cursors WHERE pending_since IS NOT NULL
"""


@dataclass
class ThreadStatus:
    """One thread's extraction state."""

    thread_id: str
    position: int
    unprocessed: int
    lag_seconds: float | None
    failures: int
    last_error: str | None
    jobs_waiting: int = 0
    jobs_running: int = 0
    jobs_failed: int = 0


@dataclass
class ExtractionStatus:
    """The queue's extraction jobs and the lagging threads (oldest first, up to a limit)."""

    jobs_due: int = 0
    jobs_scheduled: int = 0
    jobs_running: int = 0
    jobs_failed: int = 0
    lagging_threads: int = 0
    max_lag_seconds: float | None = None
    threads: list[ThreadStatus] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def astatus(
    pool: AsyncConnectionPool[Any], saver: BrainSaver, *, thread_id: str | None = None, limit: int = 20
) -> ExtractionStatus:
    """Read the extraction status (read-only).

    Args:
        pool: a pool on the database (dict rows).
        saver: to count each listed thread's unprocessed messages.
        thread_id: only this thread (listed even when it does not lag).
        limit: most lagging threads listed.
    """
    # One transaction: every age is measured from the same now().
    async with pool.connection() as conn, conn.transaction():
        jobs: Any = await (await conn.execute(_JOBS_SQL, (EXTRACT_TASK,))).fetchone()
        totals: Any = await (await conn.execute(_TOTALS_SQL)).fetchone()
        if thread_id is None:
            cursors = await (await conn.execute(_LAGGING_SQL, (limit,))).fetchall()
        else:
            cursors = await (await conn.execute(_ONE_THREAD_SQL, (thread_id,))).fetchall()
        ids = [c["thread_id"] for c in cursors] or ([thread_id] if thread_id else [])
        per_thread = {
            r["thread_id"]: r
            for r in await (await conn.execute(_THREAD_JOBS_SQL, (EXTRACT_TASK, ids))).fetchall()
        }
    status = ExtractionStatus(
        jobs_due=jobs["due"],
        jobs_scheduled=jobs["scheduled"],
        jobs_running=jobs["running"],
        jobs_failed=jobs["failed"],
        lagging_threads=totals["lagging"],
        max_lag_seconds=_seconds(totals["max_lag_seconds"]),
    )
    found = {c["thread_id"]: c for c in cursors}
    for tid in ids:
        row = found.get(tid)
        cursor = Cursor(row["position"], row["message_id"]) if row else Cursor()
        unprocessed = len((await aread_after(saver, tid, cursor)).messages)
        jobs_of = per_thread.get(tid, {})
        status.threads.append(
            ThreadStatus(
                thread_id=tid,
                position=cursor.position,
                unprocessed=unprocessed,
                lag_seconds=_seconds(row["lag_seconds"]) if row else None,
                failures=int(row["failures"]) if row else 0,
                last_error=row["last_error"] if row else None,
                jobs_waiting=int(jobs_of.get("waiting", 0)),
                jobs_running=int(jobs_of.get("running", 0)),
                jobs_failed=int(jobs_of.get("failed", 0)),
            )
        )
    return status


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


__all__ = ["ExtractionStatus", "ThreadStatus", "astatus"]

"""What the extraction queue holds about threads being erased: their cursors and waiting jobs.

`maintenance.aerase` calls this after it deleted an entity's threads, so that no queued job
recreates memories from them and no cursor row names them. A job already running when the erase
starts may still finish its write (it read the messages before they were deleted); run the
erase again, or stop the workers first, for a hard guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import errors as pg_errors

DELETE_CURSORS_SQL = "DELETE FROM brain_extraction_cursors WHERE thread_id = ANY(%s)"
# Jobs carry the thread and its owner in their JSON args; a running ('doing') job is left to its
# worker (procrastinate refuses to lose track of it), every other state is removed.
DELETE_JOBS_SQL = (
    "DELETE FROM procrastinate_jobs WHERE status <> 'doing'"
    " AND (args->>'thread_id' = ANY(%s) OR (%s::text IS NOT NULL AND args->>'user_id' = %s))"
)


async def aforget_threads(conn: Any, thread_ids: Sequence[str], user_id: str | None) -> tuple[int, int]:
    """Delete the cursors of `thread_ids` and the queued jobs of those threads (or of `user_id`).

    Returns (cursors, jobs) removed; (0, 0) on a database without the extraction schema.
    """
    threads = list(thread_ids)
    try:
        async with conn.transaction():
            cursors = await conn.execute(DELETE_CURSORS_SQL, (threads,))
            jobs = await conn.execute(DELETE_JOBS_SQL, (threads, user_id, user_id))
            return cursors.rowcount, jobs.rowcount
    except pg_errors.UndefinedTable:
        return 0, 0  # extraction never set up here: nothing queued, nothing to forget


__all__ = ["DELETE_CURSORS_SQL", "DELETE_JOBS_SQL", "aforget_threads"]

"""A thread's messages in one stable order, and the per-thread cursor of what extraction has seen.

**Order and positions.** A thread's conversation is its transcript (`chat_messages`, by `seq`:
what compaction moved out of state) followed by the messages still in its newest checkpoint that
are not in the transcript, de-duplicated by message id (a compaction that crashed between its
insert and its checkpoint leaves a message in both). System messages are left out: they are
instructions, never archived, and leaving them out keeps every position fixed when compaction
moves the messages before them. Compaction only ever moves the oldest messages, in order, so
this sequence only grows at the end, and a message's index in it (its *position*) never changes.

**Cursor.** `brain_extraction_cursors` holds, per thread, the position and id of the last message
extraction has applied. Reading on from it is cheap whatever the thread's length: the message is
found by id (in the transcript by its unique index, or in the checkpoint), and only what follows
is read. If that message is gone (its thread was rewritten with `RemoveMessage`), the position
is used instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, SystemMessage
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from langgraph_brain.checkpointers.saver import BrainSaver

#: Reads a cursor together with the database's clock (the job's "read at" time).
READ_CURSOR_SQL = """
    SELECT now() AS now, c.position, c.message_id, c.failures, c.pending_since
    FROM (SELECT 1) AS one
    LEFT JOIN brain_extraction_cursors c ON c.thread_id = %(thread_id)s
"""

# The enqueue side, in one statement: note the turn (pending_since keeps the oldest, so the lag
# counts from the first turn no finished job has covered) and return where the cursor stands.
MARK_ENQUEUED_SQL = """
    INSERT INTO brain_extraction_cursors AS c (thread_id, pending_since, last_enqueued_at)
    VALUES (%(thread_id)s, now(), now())
    ON CONFLICT (thread_id) DO UPDATE
        SET pending_since = COALESCE(c.pending_since, now()), last_enqueued_at = now()
    RETURNING c.position, c.message_id
"""

# Compare-and-set on the old position: a job whose thread was advanced meanwhile (it should not
# happen under the per-thread lock; this makes it harmless if it does) changes nothing. The lag
# clock stops only if no turn was enqueued after the job read the thread.
ADVANCE_CURSOR_SQL = """
    INSERT INTO brain_extraction_cursors AS c (thread_id, position, message_id, updated_at)
    VALUES (%(thread_id)s, %(position)s, %(message_id)s, now())
    ON CONFLICT (thread_id) DO UPDATE
        SET position = EXCLUDED.position, message_id = EXCLUDED.message_id, updated_at = now(),
            failures = 0, last_error = NULL,
            pending_since = CASE WHEN %(caught_up)s AND (c.last_enqueued_at IS NULL
                                       OR c.last_enqueued_at <= %(read_at)s)
                                 THEN NULL ELSE c.pending_since END
        WHERE c.position = %(expected)s
    RETURNING c.position
"""

# A job that found nothing to do stops the lag clock, under the same rule as ADVANCE_CURSOR_SQL.
CLEAR_PENDING_SQL = """
    UPDATE brain_extraction_cursors SET pending_since = NULL
    WHERE thread_id = %(thread_id)s AND (last_enqueued_at IS NULL OR last_enqueued_at <= %(read_at)s)
"""

RECORD_FAILURE_SQL = """
    INSERT INTO brain_extraction_cursors AS c (thread_id, failures, last_error)
    VALUES (%(thread_id)s, 1, %(error)s)
    ON CONFLICT (thread_id) DO UPDATE SET failures = c.failures + 1, last_error = EXCLUDED.last_error
    RETURNING c.failures
"""

_TRANSCRIPT_SEQ_SQL = "SELECT seq FROM chat_messages WHERE thread_id = %s AND message_id = %s"
_ARCHIVED_IDS_SQL = "SELECT message_id FROM chat_messages WHERE thread_id = %s AND message_id = ANY(%s)"

NO_POSITION = -1


@dataclass(frozen=True)
class Cursor:
    """Where extraction stands on a thread (position -1: nothing processed yet)."""

    position: int = NO_POSITION
    message_id: str | None = None
    failures: int = 0
    read_at: datetime | None = None


@dataclass(frozen=True)
class ThreadMessage:
    """One message of a thread with its stable position; `role` is LangChain's type ("human", "ai",
    "tool"), as `extractor.SourceMessage` expects."""

    position: int
    id: str
    role: str
    content: str
    message: BaseMessage


@dataclass(frozen=True)
class ThreadSlice:
    """The messages after a cursor, and when the thread last changed (its newest checkpoint)."""

    messages: list[ThreadMessage]
    last_activity: datetime | None


@asynccontextmanager
async def _connection(conn: Any) -> AsyncIterator[AsyncConnection[Any]]:
    if isinstance(conn, AsyncConnectionPool):
        async with conn.connection() as c:
            yield c
    else:
        yield conn


async def aread_cursor(conn: AsyncConnection[Any], thread_id: str) -> Cursor:
    """The thread's cursor (a fresh one if none), with the database's current time as `read_at`."""
    row: Any = await (await conn.execute(READ_CURSOR_SQL, {"thread_id": thread_id})).fetchone()
    if row["position"] is None:
        return Cursor(read_at=row["now"])
    return Cursor(int(row["position"]), row["message_id"], int(row["failures"]), row["now"])


def _state_messages(saver_tuple: Any) -> tuple[list[BaseMessage], datetime | None]:
    if saver_tuple is None:
        return [], None
    values = saver_tuple.checkpoint.get("channel_values") or {}
    messages = [m for m in values.get("messages") or [] if isinstance(m, BaseMessage)]
    ts = saver_tuple.checkpoint.get("ts")
    return messages, datetime.fromisoformat(ts) if ts else None


def _keep(message: BaseMessage) -> bool:
    return not isinstance(message, SystemMessage) and bool(message.id)


async def aread_after(saver: BrainSaver, thread_id: str, cursor: Cursor) -> ThreadSlice:
    """The thread's messages after `cursor`, oldest first, with their positions."""
    tid = str(thread_id)
    tup = await saver.aget_tuple({"configurable": {"thread_id": tid, "checkpoint_ns": ""}})
    state, last_activity = _state_messages(tup)
    state = [m for m in state if _keep(m)]
    async with _connection(saver.conn) as conn:
        rows = await (await conn.execute(_ARCHIVED_IDS_SQL, (tid, [str(m.id) for m in state]))).fetchall()
        archived_ids = {_first(r) for r in rows}
        seq_row = None
        if cursor.message_id is not None:
            seq_row = await (await conn.execute(_TRANSCRIPT_SEQ_SQL, (tid, cursor.message_id))).fetchone()
    live = [m for m in state if str(m.id) not in archived_ids]
    live_ids = [str(m.id) for m in live]
    start = cursor.position + 1
    if cursor.message_id is None:
        after = [*(await _archived(saver, tid, None)), *live]
    elif seq_row is not None:  # the cursor's message was archived: read on in the transcript
        after = [*(await _archived(saver, tid, int(_first(seq_row)))), *live]
    elif cursor.message_id in live_ids:  # still in state: everything archived comes before it
        after = live[live_ids.index(cursor.message_id) + 1 :]
    else:  # the message is gone: fall back to its position in the whole sequence
        whole = [*(await _archived(saver, tid, None)), *live]
        after = whole[start:]
    out = [ThreadMessage(start + i, str(m.id), m.type, str(m.text), m) for i, m in enumerate(after)]
    return ThreadSlice(out, last_activity)


async def _archived(saver: BrainSaver, thread_id: str, after_seq: int | None) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    after = after_seq
    while True:
        page = await saver.transcript.apage(thread_id, after=after, limit=500)
        out.extend(e.message for e in page.entries if _keep(e.message))
        if page.next_cursor is None:
            return out
        after = page.next_cursor


def pending_in_state(cursor_message_id: str | None, state: Sequence[BaseMessage]) -> int:
    """A lower bound of the messages after the cursor, from the turn's state alone (no reads).

    Exact when the cursor's message is in state; otherwise every message in state is after it
    (the transcript holds only older ones), and archived unprocessed ones are not counted.
    """
    kept = [m for m in state if _keep(m)]
    ids = [str(m.id) for m in kept]
    if cursor_message_id is not None and cursor_message_id in ids:
        return len(ids) - ids.index(cursor_message_id) - 1
    return len(ids)


async def aadvance_cursor(
    conn: AsyncConnection[Any],
    thread_id: str,
    cursor: Cursor,
    last: ThreadMessage,
    *,
    caught_up: bool,
) -> bool:
    """Move the cursor to `last` if it still stands at `cursor`; False if it had moved on."""
    row = await (
        await conn.execute(
            ADVANCE_CURSOR_SQL,
            {
                "thread_id": thread_id,
                "position": last.position,
                "message_id": last.id,
                "expected": cursor.position,
                "caught_up": caught_up,
                "read_at": cursor.read_at,
            },
        )
    ).fetchone()
    return row is not None


async def aclear_pending(conn: AsyncConnection[Any], thread_id: str, cursor: Cursor) -> None:
    """Nothing was left to process at `cursor.read_at`: stop the thread's lag clock."""
    await conn.execute(CLEAR_PENDING_SQL, {"thread_id": thread_id, "read_at": cursor.read_at})


async def arecord_failure(conn: AsyncConnection[Any], thread_id: str, error: str) -> int:
    """Count one more consecutive failure for the thread; returns the count."""
    row: Any = await (
        await conn.execute(RECORD_FAILURE_SQL, {"thread_id": thread_id, "error": error[:500]})
    ).fetchone()
    return int(row["failures"])


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


__all__ = [
    "MARK_ENQUEUED_SQL",
    "NO_POSITION",
    "Cursor",
    "ThreadMessage",
    "ThreadSlice",
    "aadvance_cursor",
    "aclear_pending",
    "aread_after",
    "aread_cursor",
    "arecord_failure",
    "pending_in_state",
]

"""The chat transcript: every message compaction moved out of graph state, in order.

Rows live in `chat_messages` (migration v3). Reads are keyset-paginated on `seq`, never OFFSET,
so reading page k of a long session costs the same as page 1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.serde.base import SerializerProtocol

from ._upstream import Conn, get_connection
from .serde import BrainSerializer

_INSERT_SQL = """
    INSERT INTO chat_messages (thread_id, message_id, role, type, blob)
    SELECT %s, m.message_id, m.role, m.type, m.blob
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[])
         WITH ORDINALITY AS m(message_id, role, type, blob, ord)
    ORDER BY m.ord
    ON CONFLICT (thread_id, message_id) DO NOTHING
"""

_PAGE_SQL = """
    SELECT seq, message_id, role, type, blob, created_at FROM chat_messages
    WHERE thread_id = %s AND seq > %s
    ORDER BY seq
    LIMIT %s
"""

_COPY_SQL = """
    INSERT INTO chat_messages (thread_id, message_id, role, type, blob, created_at)
    SELECT %s, message_id, role, type, blob, created_at FROM chat_messages
    WHERE thread_id = %s
    ORDER BY seq
    ON CONFLICT (thread_id, message_id) DO NOTHING
"""


@dataclass(frozen=True)
class TranscriptEntry:
    """One archived message and where it sits in its thread."""

    seq: int
    message_id: str
    role: str
    message: BaseMessage
    created_at: datetime


@dataclass(frozen=True)
class TranscriptPage:
    """A page of a thread's transcript. Pass `next_cursor` as `after` to read on; None at the end."""

    entries: list[TranscriptEntry]
    next_cursor: int | None


class Transcript:
    """Append-only, ordered archive of a thread's messages in `chat_messages`.

    Args:
        conn: A pool (preferred) or a single autocommit connection with dict rows.
        serde: Serializer for the message objects; the checkpointer's own by default, so the
            transcript round-trips exactly what checkpoints do.
    """

    def __init__(self, conn: Conn, serde: SerializerProtocol | None = None) -> None:
        self.conn = conn
        self.serde = serde or BrainSerializer()

    async def aappend(self, thread_id: str, messages: Sequence[BaseMessage]) -> int:
        """Archive `messages` (in order) for `thread_id`. Returns how many were new.

        Idempotent per message id: archiving the same message twice stores it once, at its
        first position. Every message must have an id (LangGraph's `add_messages` assigns one).
        """
        if not messages:
            return 0
        ids: list[str] = []
        roles: list[str] = []
        types: list[str] = []
        blobs: list[bytes] = []
        for m in messages:
            if not m.id:
                raise ValueError("cannot archive a message without an id")
            type_, blob = self.serde.dumps_typed(m)
            ids.append(str(m.id))
            roles.append(m.type)
            types.append(type_)
            blobs.append(blob)
        async with get_connection(self.conn) as conn:
            cur = await conn.execute(_INSERT_SQL, (str(thread_id), ids, roles, types, blobs))
            return cur.rowcount

    async def apage(self, thread_id: str, *, after: int | None = None, limit: int = 100) -> TranscriptPage:
        """Read up to `limit` messages of `thread_id` that come after cursor `after` (oldest first)."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        async with get_connection(self.conn) as conn:
            cur = await conn.execute(_PAGE_SQL, (str(thread_id), after or 0, limit + 1), binary=True)
            rows: list[Any] = await cur.fetchall()
        more = len(rows) > limit
        entries = [self._entry(r) for r in rows[:limit]]
        return TranscriptPage(entries, entries[-1].seq if more and entries else None)

    async def aiter(self, thread_id: str, *, page_size: int = 500) -> AsyncIterator[TranscriptEntry]:
        """Every archived message of `thread_id`, oldest first, read page by page."""
        after: int | None = None
        while True:
            page = await self.apage(thread_id, after=after, limit=page_size)
            for entry in page.entries:
                yield entry
            if page.next_cursor is None:
                return
            after = page.next_cursor

    async def acount(self, thread_id: str) -> int:
        """How many messages of `thread_id` are archived."""
        async with get_connection(self.conn) as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM chat_messages WHERE thread_id = %s", (str(thread_id),)
            )
            row: Any = await cur.fetchone()
        return int(row["n"] if isinstance(row, dict) else row[0])

    def _entry(self, row: Any) -> TranscriptEntry:
        message = self.serde.loads_typed((row["type"], row["blob"]))
        return TranscriptEntry(row["seq"], row["message_id"], row["role"], message, row["created_at"])


# SQL reused by BrainSaver so that thread-level operations carry the transcript along.
DELETE_THREADS_SQL = "DELETE FROM chat_messages WHERE thread_id = ANY(%s)"
COPY_THREAD_SQL = _COPY_SQL

"""Conversation summaries: each segment compaction moves to the transcript becomes a memory.

Flow: `CompactionMiddleware(on_archived=SummaryEnqueuer(app))` archives a segment, then the
enqueuer queues one `summarize_segment` job (`extraction.upkeep`) naming the thread, its owner and
the segment's first and last message ids; the turn waits only for that INSERT. The job reads the
segment back from the transcript, asks the model for a summary (`summarize.asummarize`) and saves
it through the public save protocol as a user memory of the thread's owner:

- slug `summary-<thread>-<n>`, where n is the number of the segment's first message in the
  thread's transcript (1 for the first segment). The transcript is append-only and idempotent per
  message id, so n never changes: a retried job, or a segment archived again after a crash (its
  messages are still in state, so the next turn archives them again first), rewrites the same
  slug. Thread ids that are not slug-safe (or long) are folded and suffixed with a hash
  (`summary_slug`), so the slug stays valid and under 128 characters;
- category `conversation_summary`, content the summary text, metadata the key entities, the
  thread and the message range. The transcript keeps every original message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.config import get_config
from procrastinate import App
from psycopg_pool import AsyncConnectionPool

from ..brain.models import Actor, SaveResult
from ..brain.service import MemoryService
from ..checkpointers.transcript import Transcript
from ..errors import BrainConfigurationError
from ..identity import thread_owner
from .extractor import SourceMessage
from .summarize import asummarize

CATEGORY = "conversation_summary"
#: Task name under the queue app's blueprint namespace (`queue.BLUEPRINT_NAMESPACE`).
SUMMARY_TASK = "summarize_segment"
#: Roles whose text is summarised (tool results repeat what the assistant then says).
SUMMARISED_ROLES = ("human", "ai")
MAX_SEGMENT_MESSAGES = 500
"""Messages of one segment given to the model at most (compaction moves far fewer per turn)."""

_SAFE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
_POSITION_SQL = (
    "SELECT c.seq, (SELECT count(*) FROM chat_messages p WHERE p.thread_id = c.thread_id"
    " AND p.seq < c.seq) AS before FROM chat_messages c WHERE c.thread_id = %s AND c.message_id = %s"
)


def summary_slug(thread_id: str, n: int) -> str:
    """`summary-<thread>-<n>`, a valid slug of at most 128 characters for any thread id.

    A slug-safe thread id of up to 80 characters (a uuid, "session-42") is used as is; any other
    is lowercased, its other characters replaced by "-", cut to 48, and suffixed with 12 hex of its
    SHA-256, so two different ids never share a slug.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    tid = str(thread_id)
    if not _SAFE.match(tid):
        folded = re.sub(r"[^a-z0-9_.-]+", "-", tid.lower()).strip("-.")[:48]
        digest = hashlib.sha256(tid.encode("utf-8")).hexdigest()[:12]
        tid = f"{folded}-{digest}" if folded else digest
    return f"summary-{tid}-{n}"


class SummaryEnqueuer:
    """The `on_archived` callback of `Compactor`/`CompactionMiddleware`: queue a summary job.

    The owner comes from the run (`identity.thread_owner`: authenticated user, runtime context,
    then `configurable`), never from the messages. A run without a user id gets no summary.

    Args:
        app: an open procrastinate App whose tasks include `extraction.upkeep`'s blueprint.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, thread_id: str, messages: Sequence[BaseMessage]) -> int | None:
        """Queue the summary of `messages` (just archived); returns the job id, or None."""
        ids = [str(m.id) for m in messages if m.id]
        user = thread_owner(get_config()).get("user_id")
        if not ids or user is None:
            return None
        from .queue import BLUEPRINT_NAMESPACE

        deferrer = self.app.configure_task(
            f"{BLUEPRINT_NAMESPACE}:{SUMMARY_TASK}", lock=f"brain-summary:{thread_id}"
        )
        # A failed INSERT fails the turn before anything leaves state: the next turn archives the
        # same messages again (a no-op) and queues the summary again, so no segment goes unsummarised.
        job_id: int = await deferrer.defer_async(
            thread_id=str(thread_id), user_id=user, first_message_id=ids[0], last_message_id=ids[-1]
        )
        return job_id


@asynccontextmanager
async def _connection(conn: Any) -> AsyncIterator[Any]:
    """A connection from the transcript's pool, or its single connection."""
    if isinstance(conn, AsyncConnectionPool):
        async with conn.connection() as c:
            yield c
    else:
        yield conn


async def aread_segment(
    transcript: Transcript, thread_id: str, first_message_id: str, last_message_id: str
) -> tuple[int, list[BaseMessage]]:
    """The segment's number (its first message's, 1-based) and its messages, oldest first.

    Returns (0, []) when the first message is not in the transcript (the thread was deleted).
    """
    async with _connection(transcript.conn) as conn:
        cur = await conn.execute(_POSITION_SQL, (str(thread_id), first_message_id))
        row = await cur.fetchone()
    if row is None:
        return 0, []
    seq, before = (row["seq"], row["before"]) if isinstance(row, dict) else row
    messages: list[BaseMessage] = []
    page = await transcript.apage(str(thread_id), after=int(seq) - 1, limit=MAX_SEGMENT_MESSAGES)
    for entry in page.entries:
        messages.append(entry.message)
        if entry.message_id == last_message_id:
            break
    return int(before) + 1, messages


async def asummarize_segment(
    service: MemoryService,
    transcript: Transcript,
    model: BaseChatModel,
    *,
    thread_id: str,
    user_id: str,
    first_message_id: str,
    last_message_id: str,
) -> SaveResult | None:
    """Summarise one archived segment and save it as the owner's `summary-<thread>-<n>` memory.

    Returns the save's result (status "unchanged" when a retry produced the same text), or None
    when there is nothing to summarise (the thread is gone, or the segment has no text).

    Raises:
        ExtractionModelError: the model failed; the job retries.
        MemoryBackendError: storage failed; the job retries.
    """
    n, messages = await aread_segment(transcript, thread_id, first_message_id, last_message_id)
    sources = [
        SourceMessage(id=str(m.id), role=m.type, content=m.text)
        for m in messages
        if m.type in SUMMARISED_ROLES and m.text.strip()
    ]
    if not sources:
        return None
    if not user_id:
        raise BrainConfigurationError("a conversation summary needs the thread owner's user id")
    summary = await asummarize(model, sources)
    actor: Actor = {"agent": "summarizer", "thread_id": str(thread_id), "user_id": user_id}
    metadata = {
        "source": "summary",
        "thread_id": str(thread_id),
        "entities": summary.entities,
        "first_message_id": first_message_id,
        "last_message_id": str(messages[-1].id),
        "messages": len(messages),
    }
    return await service.asave(
        "user", user_id, summary_slug(thread_id, n), summary.text, category=CATEGORY,
        metadata=metadata, actor=actor, reason=f"summary of messages {n}-{n + len(messages) - 1}",
    )  # fmt: skip


__all__ = [
    "CATEGORY",
    "SUMMARY_TASK",
    "SummaryEnqueuer",
    "aread_segment",
    "asummarize_segment",
    "summary_slug",
]

"""Compaction: move messages older than a retention window from graph state to the transcript.

Each turn, when a thread holds more than `retain_messages` (non-system) messages, the oldest
ones are appended to `chat_messages` and removed from state with `RemoveMessage`. The state a
turn loads and saves then stays a bounded size however long the thread gets, and with
`BrainSaver(keep_checkpoints=N)` pruning old checkpoints, so does the disk.

Order of effects, and why it is safe: the transcript insert commits first, then the node
returns the RemoveMessage update, which the next checkpoint saves. A crash in between leaves
the messages both archived and in state; the next turn archives them again, which inserts
nothing (unique per thread and message id), and removes them. `BrainSaver.aget_session()`
de-duplicates by id, so every message is shown exactly once at every moment.

An optional `on_archived(thread_id, messages)` callback runs after the insert commits and before
the RemoveMessages are returned (e.g. `extraction.summaries.SummaryEnqueuer`, which queues a
summary job). If it raises, the turn fails before removing anything, so the next turn archives
the same segment again (inserting nothing) and calls it again: at least once per segment.

Where the cut falls is decided by the safe-cut rules trimming uses (`_cut.py`), counting one
per non-system message: the kept part starts on a human message, a tool round is never split,
and system messages are never archived. When no valid cut fits in the window (a long tool
loop), compaction waits for a later turn rather than archive part of the turn in progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import BaseMessage, RemoveMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime

from ..checkpointers.transcript import Transcript
from ._cut import safe_cut

DEFAULT_RETAIN_MESSAGES = 40
"""Non-system messages kept in state when none is given (`BRAIN_RETAIN_MESSAGES` at the edges)."""

OnArchived = Callable[[str, Sequence[BaseMessage]], Awaitable[Any]]
"""Told (thread id, the segment just archived, oldest first) after each compaction that moved some."""


def _one_per_message(message: BaseMessage) -> int:
    return 0 if isinstance(message, SystemMessage) else 1


def compaction_cut(messages: Sequence[BaseMessage], retain_messages: int) -> int:
    """Index where the kept part of `messages` starts; 0 means nothing to compact.

    Raises:
        ValueError: `retain_messages` is below 1.
    """
    if retain_messages < 1:
        raise ValueError(f"retain_messages must be >= 1, not {retain_messages}")
    cut = safe_cut(messages, budget=retain_messages, cost=_one_per_message)
    # Not fitting means the turn in progress alone is longer than the window: wait.
    if not cut.fits or cut.dropped_count == 0:
        return 0
    return cut.index


class Compactor:
    """Archives the part of a thread's messages that falls out of the retention window.

    Use it as a StateGraph node (e.g. the first node of a graph with a `messages` channel), or
    through `CompactionMiddleware` with create_agent.

    Args:
        transcript: Where archived messages go (`BrainSaver.transcript`).
        retain_messages: Non-system messages kept in state.
        on_archived: see the module docstring; None: nothing is told.

    Raises:
        ValueError: `retain_messages` is below 1.
    """

    def __init__(
        self,
        transcript: Transcript,
        *,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        on_archived: OnArchived | None = None,
    ) -> None:
        if retain_messages < 1:
            raise ValueError(f"retain_messages must be >= 1, not {retain_messages}")
        self.transcript = transcript
        self.retain_messages = retain_messages
        self.on_archived = on_archived

    async def acompact(self, thread_id: str, messages: Sequence[BaseMessage]) -> list[RemoveMessage]:
        """Archive what is older than the window; return the RemoveMessages to apply to state."""
        cut = compaction_cut(messages, self.retain_messages)
        if cut == 0:
            return []
        old = [m for m in messages[:cut] if not isinstance(m, SystemMessage)]
        await self.transcript.aappend(thread_id, old)
        if self.on_archived is not None:
            await self.on_archived(thread_id, old)
        return [RemoveMessage(id=str(m.id)) for m in old]

    async def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """The node: compact the thread named by `config`."""
        thread_id = config["configurable"]["thread_id"]
        removals = await self.acompact(str(thread_id), _messages(state))
        return {"messages": removals} if removals else {}


def create_compaction_node(
    transcript: Transcript,
    *,
    retain_messages: int = DEFAULT_RETAIN_MESSAGES,
    on_archived: OnArchived | None = None,
) -> Compactor:
    """A compaction node for hand-built graphs.

    `builder.add_node("compact", create_compaction_node(saver.transcript))`, then an edge from
    START to it. Raises `ValueError` when `retain_messages` is below 1.
    """
    return Compactor(transcript, retain_messages=retain_messages, on_archived=on_archived)


class CompactionMiddleware(AgentMiddleware):
    """`create_agent` middleware that compacts the thread once at the start of every run.

    Args:
        transcript: `BrainSaver.transcript` (or any `Transcript` on the same database).
        retain_messages: Non-system messages kept in state.
        on_archived: told each archived segment (see the module docstring).

    Raises:
        ValueError: `retain_messages` is below 1.
    """

    def __init__(
        self,
        transcript: Transcript,
        *,
        retain_messages: int = DEFAULT_RETAIN_MESSAGES,
        on_archived: OnArchived | None = None,
    ) -> None:
        super().__init__()
        self.compactor = Compactor(transcript, retain_messages=retain_messages, on_archived=on_archived)

    async def abefore_agent(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Archive and remove what fell out of the window; no-op without a thread id."""
        thread_id = (get_config().get("configurable") or {}).get("thread_id")
        if thread_id is None:
            return None
        removals = await self.compactor.acompact(str(thread_id), _messages(state))
        return {"messages": removals} if removals else None


def _messages(state: Any) -> list[BaseMessage]:
    if isinstance(state, dict):
        return list(state.get("messages") or [])
    return list(getattr(state, "messages", None) or [])


__all__ = [
    "DEFAULT_RETAIN_MESSAGES",
    "CompactionMiddleware",
    "Compactor",
    "OnArchived",
    "compaction_cut",
    "create_compaction_node",
]

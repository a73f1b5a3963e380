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

Where the cut falls: the kept part always starts at a human message, so an AI message's tool
calls never end up separated from their ToolMessages. If no such cut exists inside the window
(a long tool loop), compaction waits for a later turn. System messages are never archived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import BaseMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime

from langgraph_brain.settings import get_settings

from .transcript import Transcript


def compaction_cut(messages: Sequence[BaseMessage], retain_messages: int) -> int:
    """Index where the kept part of `messages` starts; 0 means nothing to compact.

    The cut is the earliest human message from which at most `retain_messages` non-system
    messages remain and after which no ToolMessage answers a tool call made before it.
    """
    if retain_messages < 1:
        raise ValueError("retain_messages must be >= 1")
    non_system = 0
    open_calls: set[str] = set()
    cut = 0
    over = False
    # Walk back from the newest message: O(window), whatever the thread's length.
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, SystemMessage):
            continue
        non_system += 1
        if non_system > retain_messages:
            over = True
            break
        if isinstance(m, ToolMessage):
            open_calls.add(m.tool_call_id)
        else:
            for call in getattr(m, "tool_calls", None) or ():
                open_calls.discard(call.get("id") or "")
        if isinstance(m, HumanMessage) and not open_calls:
            cut = i
    if not over or cut == 0:
        return 0
    # Nothing older than the cut but system messages: nothing to do.
    if all(isinstance(m, SystemMessage) for m in messages[:cut]):
        return 0
    return cut


class Compactor:
    """Archives the part of a thread's messages that falls out of the retention window.

    Args:
        transcript: Where archived messages go (`BrainSaver.transcript`).
        retain_messages: Non-system messages kept in state; default `BRAIN_RETAIN_MESSAGES` (40).
    """

    def __init__(self, transcript: Transcript, *, retain_messages: int | None = None) -> None:
        if retain_messages is None:
            retain_messages = get_settings().retain_messages
        if retain_messages < 1:
            raise ValueError("retain_messages must be >= 1")
        self.transcript = transcript
        self.retain_messages = retain_messages

    async def acompact(self, thread_id: str, messages: Sequence[BaseMessage]) -> list[RemoveMessage]:
        """Archive what is older than the window; return the RemoveMessages to apply to state."""
        cut = compaction_cut(messages, self.retain_messages)
        if cut == 0:
            return []
        old = [m for m in messages[:cut] if not isinstance(m, SystemMessage)]
        await self.transcript.aappend(thread_id, old)
        return [RemoveMessage(id=str(m.id)) for m in old]

    async def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        """Use as a StateGraph node (e.g. first node of a graph with a `messages` channel)."""
        thread_id = config["configurable"]["thread_id"]
        removals = await self.acompact(str(thread_id), _messages(state))
        return {"messages": removals} if removals else {}


def make_compaction_node(
    transcript: Transcript, *, retain_messages: int | None = None
) -> Callable[[Any, RunnableConfig], Awaitable[dict[str, Any]]]:
    """A node for hand-built graphs: `builder.add_node("compact", make_compaction_node(saver.transcript))`."""
    return Compactor(transcript, retain_messages=retain_messages)


class CompactionMiddleware(AgentMiddleware):
    """`create_agent` middleware that compacts the thread once at the start of every run.

    Args:
        transcript: `BrainSaver.transcript` (or any `Transcript` on the same database).
        retain_messages: Non-system messages kept in state; default `BRAIN_RETAIN_MESSAGES` (40).
    """

    def __init__(self, transcript: Transcript, *, retain_messages: int | None = None) -> None:
        super().__init__()
        self.compactor = Compactor(transcript, retain_messages=retain_messages)

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

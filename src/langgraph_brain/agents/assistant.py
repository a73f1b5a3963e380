"""The assistant: create_agent + memory tools + history trimming + memory context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.types import Checkpointer

from ..brain.service import MemoryService
from ..tools import BrainContext, create_memory_tools
from .context import MemoryContextMiddleware
from .models import resolve_chat_model

ASSISTANT_PROMPT = (
    "You are a helpful assistant with long-term memory.\n"
    "- When the user states a durable fact about themselves (name, role, preferences, goals), save it"
    " with save_user_memory under a short, stable slug such as 'preferred_language'.\n"
    "- When they state a fact about their company, save it with save_company_memory; colleagues"
    " will see it.\n"
    "- Before answering a question that may depend on earlier conversations, search memory.\n"
    "- If a tool reports an error you can fix (for example a bad slug), fix it and try again."
)


def history_middleware(max_history_tokens: int | None = None) -> list[AgentMiddleware[Any, Any]]:
    """Token-budgeted trimming of what the model sees (`langgraph_brain.trimming`)."""
    from ..trimming import TrimmingMiddleware

    return [TrimmingMiddleware(max_tokens=max_history_tokens)]


def compaction_middleware(
    service: MemoryService, checkpointer: Checkpointer, retain_messages: int | None = None
) -> list[AgentMiddleware[Any, Any]]:
    """Move messages beyond the retention window into the `chat_messages` transcript.

    Uses the BrainSaver's transcript when there is one, else a transcript on the service's
    database (the same Postgres, e.g. under `langgraph dev`, where the server owns the saver).
    """
    from ..checkpointers import BrainSaver, CompactionMiddleware, Transcript
    from ..settings import get_settings

    transcript = checkpointer.transcript if isinstance(checkpointer, BrainSaver) else Transcript(service.pool)
    retain = retain_messages if retain_messages is not None else get_settings().retain_messages
    return [CompactionMiddleware(transcript, retain_messages=retain)]


def create_assistant(
    service: MemoryService,
    *,
    model: str | BaseChatModel | None = None,
    checkpointer: Checkpointer = None,
    system_prompt: str = ASSISTANT_PROMPT,
    tools: Sequence[BaseTool] = (),
    middleware: Sequence[AgentMiddleware[Any, Any]] = (),
    memory_context: bool = True,
    trim_history: bool = True,
    compact_history: bool = True,
    max_history_tokens: int | None = None,
    retain_messages: int | None = None,
    max_memory_context_tokens: int | None = None,
    name: str = "assistant",
) -> Any:
    """Build the assistant graph.

    Args:
        service: the MemoryService behind the memory tools and the memory context.
        model: a chat model or init_chat_model spec; default `BRAIN_MODEL` (scripted without a key).
        checkpointer: e.g. a `BrainSaver`; None under `langgraph dev`, which supplies its own.
        system_prompt: the base instructions; core memories are appended each turn.
        tools: extra tools next to the five memory tools.
        middleware: extra create_agent middleware, run after the built-in ones.
        memory_context: add core memories to the system prompt.
        trim_history: show the model only the newest messages within `max_history_tokens`.
        compact_history: once per turn, move messages beyond `retain_messages` out of the state
            into the `chat_messages` transcript (cursor-paginated, still readable).
        max_history_tokens: default `BRAIN_MAX_HISTORY_TOKENS`.
        retain_messages: default `BRAIN_RETAIN_MESSAGES`.
        max_memory_context_tokens: default `BRAIN_MAX_MEMORY_CONTEXT_TOKENS`.
        name: graph name, also recorded as the actor of memory changes.

    Returns:
        A compiled graph with `context_schema=BrainContext`: invoke it with
        `context={"user_id": ..., "company_id": ...}`.
    """
    chat_model = resolve_chat_model(model)
    # Order matters: the first middleware wraps the others. The memory block joins the system
    # prompt before trimming runs, so the history budget is computed with it included.
    stack: list[AgentMiddleware[Any, Any]] = []
    if compact_history:
        stack.extend(compaction_middleware(service, checkpointer, retain_messages))
    if memory_context:
        stack.append(MemoryContextMiddleware(service, max_tokens=max_memory_context_tokens))
    if trim_history:
        stack.extend(history_middleware(max_history_tokens))
    stack.extend(middleware)
    return create_agent(
        chat_model,
        tools=[*create_memory_tools(service, agent_name=name), *tools],
        system_prompt=system_prompt,
        middleware=stack,
        context_schema=BrainContext,
        checkpointer=checkpointer,
        name=name,
    )

"""The assistant: create_agent + memory tools + compaction + memory context + history trimming."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.types import Checkpointer

from ..middleware import (
    DEFAULT_MAX_HISTORY_TOKENS,
    DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    DEFAULT_RETAIN_MESSAGES,
    OnArchived,
    create_memory_middleware,
)
from ..tools import DEFAULT_PERMISSIONS, BrainContext, create_memory_tools
from .models import resolve_chat_model

if TYPE_CHECKING:
    from ..brain.service import MemoryService

ASSISTANT_PROMPT = (
    "You are a helpful assistant with long-term memory.\n"
    "- When the user states a durable fact about themselves (name, role, preferences, goals), save it"
    " with save_user_memory under a short, stable slug such as 'preferred_language'.\n"
    "- When they state a fact about their company, save it with save_company_memory; colleagues"
    " will see it.\n"
    "- Before answering a question that may depend on earlier conversations, search memory.\n"
    "- If a tool reports an error you can fix (for example a bad slug), fix it and try again."
)


def create_assistant(
    service: MemoryService,
    *,
    model: str | BaseChatModel | None = None,
    checkpointer: Checkpointer = None,
    system_prompt: str = ASSISTANT_PROMPT,
    tools: Sequence[BaseTool] = (),
    middleware: Sequence[AgentMiddleware[Any, Any]] = (),
    permissions: Mapping[str, Sequence[str]] = DEFAULT_PERMISSIONS,
    memory_context: bool = True,
    trim_history: bool = True,
    compact_history: bool = True,
    max_history_tokens: int = DEFAULT_MAX_HISTORY_TOKENS,
    retain_messages: int = DEFAULT_RETAIN_MESSAGES,
    max_memory_context_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    tokenizer_model: str | None = None,
    extraction: AgentMiddleware[Any, Any] | None = None,
    on_archived: OnArchived | None = None,
    name: str = "assistant",
) -> Any:
    """Build the assistant graph.

    Args:
        service: The MemoryService behind the memory tools and the memory context.
        model: A chat model or init_chat_model spec; default `BRAIN_MODEL` (scripted without a key).
        checkpointer: E.g. a `BrainSaver`; None under `langgraph dev`, which supplies its own.
        system_prompt: The base instructions; core memories are appended each turn.
        tools: Extra tools next to the memory tools.
        middleware: Extra create_agent middleware, run after the built-in ones.
        permissions: What the memory tools may do per scope (see `create_memory_tools`).
        memory_context: Add core memories to the system prompt.
        trim_history: Show the model only the newest messages within `max_history_tokens`.
        compact_history: Once per turn, move messages beyond `retain_messages` out of the state
            into the `chat_messages` transcript (cursor-paginated, still readable).
        max_history_tokens: Budget of what the model sees (`BRAIN_MAX_HISTORY_TOKENS`).
        retain_messages: Non-system messages kept in state (`BRAIN_RETAIN_MESSAGES`).
        max_memory_context_tokens: Budget of the memory block (`BRAIN_MAX_MEMORY_CONTEXT_TOKENS`).
        tokenizer_model: Model whose encoding the budgets count in (`BRAIN_TOKENIZER_MODEL`, else
            `BRAIN_MODEL`); None: the bundled offline encoding.
        extraction: Background memory extraction after each run (an
            `extraction.middleware.ExtractionMiddleware`); None: memories form only through the
            save tools.
        on_archived: Called after compaction archived a segment of a thread (e.g.
            `extraction.summaries.SummaryEnqueuer`, which queues the segment's summary).
        name: Graph name, also recorded as the actor of memory changes.

    Returns:
        A compiled graph with `context_schema=BrainContext`: invoke it with
        `context={"user_id": ..., "company_id": ...}`.
    """
    stack = create_memory_middleware(
        service,
        saver=checkpointer,
        compaction=compact_history,
        memory_context=memory_context,
        trimming=trim_history,
        retain_messages=retain_messages,
        max_history_tokens=max_history_tokens,
        max_memory_context_tokens=max_memory_context_tokens,
        tokenizer_model=tokenizer_model,
        on_archived=on_archived,
    )
    return create_agent(
        resolve_chat_model(model),
        tools=[*create_memory_tools(service, permissions=permissions, agent_name=name), *tools],
        system_prompt=system_prompt,
        middleware=[*stack, *middleware, *([extraction] if extraction is not None else [])],
        context_schema=BrainContext,
        checkpointer=checkpointer,
        name=name,
    )


__all__ = ["ASSISTANT_PROMPT", "create_assistant"]

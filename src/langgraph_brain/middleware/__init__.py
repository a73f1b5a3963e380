"""Middleware for `create_agent`: compaction, memory context and trimming, plus prebuilt twins.

`create_memory_middleware` returns the three in the order they must run, for agents you build
yourself:

    agent = create_agent(model, tools=create_memory_tools(service),
                         middleware=create_memory_middleware(service, saver=saver),
                         context_schema=BrainContext, checkpointer=saver)

Trimming and compaction decide where a conversation may be cut with one helper (`_cut.py`),
so what the model sees and what stays in state follow the same rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware
from langgraph.types import Checkpointer

from ..checkpointers.saver import BrainSaver
from ..checkpointers.transcript import Transcript
from .compaction import (
    DEFAULT_RETAIN_MESSAGES,
    CompactionMiddleware,
    Compactor,
    OnArchived,
    compaction_cut,
    create_compaction_node,
)
from .memory_block import (
    CORE_COMPANY_CATEGORIES,
    CORE_USER_CATEGORIES,
    DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    MemoryContextSpec,
    abuild_memory_context,
    build_memory_context,
    render_memory_context,
)
from .memory_context import MemoryContextMiddleware, create_memory_context_hook
from .tokens import TokenCounter, count_tokens, default_counter, load_encoding
from .trimming import (
    DEFAULT_MAX_HISTORY_TOKENS,
    TrimmingMiddleware,
    TrimmingStateMiddleware,
    TrimResult,
    create_trimming_hook,
    trim_history,
)

if TYPE_CHECKING:
    from ..brain.service import MemoryService


def create_memory_middleware(
    service: MemoryService,
    *,
    saver: Checkpointer = None,
    compaction: bool = True,
    memory_context: bool = True,
    trimming: bool = True,
    retain_messages: int = DEFAULT_RETAIN_MESSAGES,
    max_history_tokens: int = DEFAULT_MAX_HISTORY_TOKENS,
    max_memory_context_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    tokenizer_model: str | None = None,
    include_company: bool = True,
    on_archived: OnArchived | None = None,
) -> list[AgentMiddleware[Any, Any]]:
    """The memory middleware stack, in order: compaction, memory context, trimming.

    Order matters: the first middleware wraps the others. Compaction runs first, once per run,
    so the rest see the bounded state; the memory block joins the system prompt before trimming
    runs, so the history budget is computed with it included.

    Args:
        service: The MemoryService behind the memory context (and, without a `BrainSaver`, the
            database of the transcript).
        saver: The agent's checkpointer. A `BrainSaver` archives into its own transcript;
            anything else (or None, e.g. under `langgraph dev`, where the server owns the
            saver) archives into a transcript on the service's database.
        compaction: Move messages beyond `retain_messages` from state to the transcript.
        memory_context: Add the caller's core memories to the system prompt.
        trimming: Show the model only the newest messages within `max_history_tokens`.
        retain_messages: Non-system messages kept in state.
        max_history_tokens: Budget of what the model sees, system prompt included.
        max_memory_context_tokens: Budget of the memory block.
        tokenizer_model: Model whose tiktoken encoding both budgets count in (e.g.
            "openai:gpt-4o-mini"); None: the bundled offline encoding.
        include_company: Show the company's core memories too.
        on_archived: Called with (thread id, messages) after compaction archived them, e.g.
            `extraction.summaries.SummaryEnqueuer(app)` to summarise each archived segment.

    Returns:
        The middleware to pass to `create_agent(middleware=...)`, ahead of your own.

    Raises:
        ValueError: A budget or `retain_messages` is below 1.
    """
    counter = default_counter(tokenizer_model)
    stack: list[AgentMiddleware[Any, Any]] = []
    if compaction:
        transcript = saver.transcript if isinstance(saver, BrainSaver) else Transcript(service.pool)
        stack.append(
            CompactionMiddleware(transcript, retain_messages=retain_messages, on_archived=on_archived)
        )
    if memory_context:
        stack.append(
            MemoryContextMiddleware(
                service,
                max_tokens=max_memory_context_tokens,
                include_company=include_company,
                token_counter=counter.count_text,
            )
        )
    if trimming:
        stack.append(TrimmingMiddleware(max_history_tokens, counter))
    return stack


__all__ = [
    "CORE_COMPANY_CATEGORIES",
    "CORE_USER_CATEGORIES",
    "DEFAULT_MAX_HISTORY_TOKENS",
    "DEFAULT_MAX_MEMORY_CONTEXT_TOKENS",
    "DEFAULT_RETAIN_MESSAGES",
    "CompactionMiddleware",
    "Compactor",
    "MemoryContextMiddleware",
    "MemoryContextSpec",
    "OnArchived",
    "TokenCounter",
    "TrimResult",
    "TrimmingMiddleware",
    "TrimmingStateMiddleware",
    "abuild_memory_context",
    "build_memory_context",
    "compaction_cut",
    "count_tokens",
    "create_compaction_node",
    "create_memory_context_hook",
    "create_memory_middleware",
    "create_trimming_hook",
    "default_counter",
    "load_encoding",
    "render_memory_context",
    "trim_history",
]

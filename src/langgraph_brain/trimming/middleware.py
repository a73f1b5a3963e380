"""The trimming policy as a `create_agent` middleware and as a prebuilt `pre_model_hook`.

Both call `trim_history` with the same counter and budget, so they keep exactly the same
window. Neither changes the graph state by default: the model sees the trimmed window, while
the state keeps every message until compaction archives it into the transcript. That matters:
a trimmer that deleted messages from state would lose them from the transcript for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import BaseMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime

from .counter import TokenCounter, default_counter
from .policy import TrimResult, trim_history


def _budget(max_tokens: int | None) -> int:
    if max_tokens is not None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        return max_tokens
    from langgraph_brain.settings import get_settings

    return get_settings().max_history_tokens


class TrimmingMiddleware(AgentMiddleware):
    """Show the model only the newest messages that fit `BRAIN_MAX_HISTORY_TOKENS`.

    Works on each model call (`wrap_model_call`), so the agent's state is left whole. The
    system prompt held by create_agent counts against the budget. See `policy.py` for the rules.

    Args:
        max_tokens: Budget; default `BRAIN_MAX_HISTORY_TOKENS` (3000).
        counter: Token counter; default the process-wide one for the configured model.
    """

    def __init__(self, max_tokens: int | None = None, counter: TokenCounter | None = None) -> None:
        super().__init__()
        self.max_tokens = _budget(max_tokens)
        self.counter = counter or default_counter()

    def trim(self, request: ModelRequest[Any]) -> TrimResult:
        return trim_history(
            request.messages, self.counter, self.max_tokens, system_message=request.system_message
        )

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> Any:
        """Call the model with the trimmed window."""
        return handler(request.override(messages=self.trim(request).messages))  # type: ignore[arg-type]

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        """Async twin of `wrap_model_call`."""
        return await handler(request.override(messages=self.trim(request).messages))  # type: ignore[arg-type]


class TrimmingStateMiddleware(AgentMiddleware):
    """`before_model` variant that rewrites the state to the trimmed window.

    Use only without compaction: the dropped messages leave the state and are not archived.
    With `CompactionMiddleware` + `BrainSaver`, prefer `TrimmingMiddleware`.
    """

    def __init__(self, max_tokens: int | None = None, counter: TokenCounter | None = None) -> None:
        super().__init__()
        self.max_tokens = _budget(max_tokens)
        self.counter = counter or default_counter()

    def before_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Replace the messages with the kept window when anything was dropped."""
        result = trim_history(state["messages"], self.counter, self.max_tokens)
        if result.dropped == 0:
            return None
        return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *result.messages]}

    async def abefore_model(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async twin of `before_model` (the work is CPU-only and O(window))."""
        return self.before_model(state, runtime)


def make_trimming_hook(
    max_tokens: int | None = None, counter: TokenCounter | None = None
) -> Callable[[dict[str, Any]], dict[str, list[BaseMessage]]]:
    """A `pre_model_hook` for `langgraph.prebuilt.create_react_agent`.

    It returns `llm_input_messages`, so the model sees the trimmed window and the state is
    left untouched.
    """
    budget = _budget(max_tokens)
    tc = counter or default_counter()

    def trimming_hook(state: dict[str, Any]) -> dict[str, list[BaseMessage]]:
        messages = state["messages"] if isinstance(state, dict) else state.messages
        return {"llm_input_messages": trim_history(messages, tc, budget).messages}

    return trimming_hook

"""Trimming: the model sees only the newest messages that fit a token budget.

`trim_history` applies the safe-cut rules of `_cut.py` with exact, cached token counts; when
even the turn in progress is over budget it is sent whole anyway (`TrimResult.over_budget`),
because the provider rejecting a long request is a clearer failure than answering a question
the model was never shown. Three integrations keep exactly the same window:
`TrimmingMiddleware` (create_agent, per model call), `TrimmingStateMiddleware` (rewrites state;
only for graphs without compaction) and `create_trimming_hook` (a prebuilt `pre_model_hook`).

None of them but `TrimmingStateMiddleware` changes the graph state: the state keeps every
message until compaction archives it into the transcript. A trimmer that deleted messages from
state would lose them from the transcript for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import BaseMessage, RemoveMessage, SystemMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime

from ._cut import safe_cut
from .tokens import REPLY_OVERHEAD, TokenCounter, default_counter

DEFAULT_MAX_HISTORY_TOKENS = 3000
"""The history budget when none is given (`BRAIN_MAX_HISTORY_TOKENS` at the edges)."""


@dataclass(frozen=True)
class TrimResult:
    """The kept window and its exact token count (system messages and reply priming included)."""

    messages: list[BaseMessage]
    tokens: int
    over_budget: bool
    dropped: int


def trim_history(
    messages: Sequence[BaseMessage],
    counter: TokenCounter,
    max_tokens: int,
    *,
    system_message: SystemMessage | None = None,
) -> TrimResult:
    """Trim `messages` to the newest window that fits `max_tokens` (rules: `middleware/_cut.py`).

    Args:
        messages: The conversation, oldest first. System messages are always kept.
        counter: Token counter (its cache makes repeated calls cheap).
        max_tokens: The budget, e.g. `DEFAULT_MAX_HISTORY_TOKENS`.
        system_message: A system message held outside `messages` (create_agent's
            `ModelRequest.system_message`); counted against the budget, not returned.

    Returns:
        The kept messages and their exact token count.
    """
    fixed = REPLY_OVERHEAD + (counter.count_message(system_message) if system_message is not None else 0)
    cut = safe_cut(messages, budget=max_tokens - fixed, cost=counter.count_message)
    return TrimResult(cut.kept(messages), fixed + cut.cost, not cut.fits, cut.dropped_count)


def _checked_budget(max_tokens: int) -> int:
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, not {max_tokens}")
    return max_tokens


class TrimmingMiddleware(AgentMiddleware):
    """Show the model only the newest messages that fit `max_tokens`.

    Works on each model call (`wrap_model_call`), so the agent's state is left whole. The
    system prompt held by create_agent counts against the budget.

    Args:
        max_tokens: The budget, system prompt included.
        counter: Token counter; default the process-wide one for the offline encoding.

    Raises:
        ValueError: `max_tokens` is below 1.
    """

    def __init__(
        self, max_tokens: int = DEFAULT_MAX_HISTORY_TOKENS, counter: TokenCounter | None = None
    ) -> None:
        super().__init__()
        self.max_tokens = _checked_budget(max_tokens)
        self.counter = counter or default_counter()

    def trim(self, request: ModelRequest[Any]) -> TrimResult:
        """The window this request's model call would see."""
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

    Raises:
        ValueError: `max_tokens` is below 1.
    """

    def __init__(
        self, max_tokens: int = DEFAULT_MAX_HISTORY_TOKENS, counter: TokenCounter | None = None
    ) -> None:
        super().__init__()
        self.max_tokens = _checked_budget(max_tokens)
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


def create_trimming_hook(
    max_tokens: int = DEFAULT_MAX_HISTORY_TOKENS, counter: TokenCounter | None = None
) -> Callable[[dict[str, Any]], dict[str, list[BaseMessage]]]:
    """A `pre_model_hook` for `langgraph.prebuilt.create_react_agent`.

    It returns `llm_input_messages`, so the model sees the trimmed window and the state is
    left untouched.

    Raises:
        ValueError: `max_tokens` is below 1.
    """
    budget = _checked_budget(max_tokens)
    tc = counter or default_counter()

    def trimming_hook(state: dict[str, Any]) -> dict[str, list[BaseMessage]]:
        messages = state["messages"] if isinstance(state, dict) else state.messages
        return {"llm_input_messages": trim_history(messages, tc, budget).messages}

    return trimming_hook


__all__ = [
    "DEFAULT_MAX_HISTORY_TOKENS",
    "TrimResult",
    "TrimmingMiddleware",
    "TrimmingStateMiddleware",
    "create_trimming_hook",
    "trim_history",
]

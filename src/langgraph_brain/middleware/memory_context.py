"""Core memories in the system prompt: a create_agent middleware and a pre_model_hook twin.

Which memories are core, and how the block is read and rendered, is `memory_block.py`. The
block is built once per turn: the middleware reads both stores in `before_agent` (one query per
scope) and keeps the text in private state, so the model calls of a tool loop reuse it with no
further round trips. The hook twin, which runs before every model call, caches it
per (thread, user, company, latest human message).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from ..identity import resolve_identity
from .memory_block import (
    CORE_COMPANY_CATEGORIES,
    CORE_USER_CATEGORIES,
    DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    MemoryContextSpec,
    TextCounter,
    abuild_memory_context,
    build_memory_context,
)
from .tokens import count_tokens

if TYPE_CHECKING:
    from ..brain.service import MemoryService


def _with_context(system: SystemMessage | None, block: str) -> SystemMessage | None:
    if not block:
        return system
    if system is None:
        return SystemMessage(content=block)
    return SystemMessage(content=f"{system.text}\n\n{block}")


def _ambient_config() -> dict[str, Any]:
    try:
        from langgraph.config import get_config

        return dict(get_config())
    except RuntimeError:
        return {}


def _identities(context: Any, config: dict[str, Any], include_company: bool) -> tuple[str, str | None]:
    user_id = resolve_identity("user_id", context=context, config=config)
    if not include_company:
        return user_id, None
    return user_id, resolve_identity("company_id", context=context, config=config)


class MemoryContextState(AgentState[Any]):
    """Private state: this turn's rendered memory block (never part of input or output)."""

    brain_memory_context: NotRequired[Annotated[str, PrivateStateAttr]]


class MemoryContextMiddleware(AgentMiddleware[MemoryContextState, Any]):
    """Adds the user's and company's core memories to the system prompt, once per turn.

    Identity comes from the runtime context (or `configurable`), like the tools'.

    Args:
        service: Where the memories live.
        max_tokens: Budget for the block; 0 turns it off.
        include_company: Also show the company's core memories.
        user_categories: Which user categories are "core".
        company_categories: Which company categories are "core".
        token_counter: Counts the tokens of one line (default: the offline encoding; pass
            `TokenCounter.count_text` to share the history budget's encoding).

    Raises:
        BrainConfigurationError: At run time, when the run has no `user_id` (or `company_id`
            with `include_company`).
    """

    state_schema = MemoryContextState

    def __init__(
        self,
        service: MemoryService,
        *,
        max_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
        include_company: bool = True,
        user_categories: Sequence[str] = CORE_USER_CATEGORIES,
        company_categories: Sequence[str] = CORE_COMPANY_CATEGORIES,
        token_counter: TextCounter = count_tokens,
    ) -> None:
        super().__init__()
        self.service = service
        self.include_company = include_company
        self.spec = MemoryContextSpec(
            max_tokens, tuple(user_categories), tuple(company_categories), token_counter
        )

    async def abefore_agent(self, state: MemoryContextState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Read this turn's core memories into private state."""
        user_id, company_id = _identities(runtime.context, _ambient_config(), self.include_company)
        block = await abuild_memory_context(
            self.service, user_id=user_id, company_id=company_id, spec=self.spec
        )
        return {"brain_memory_context": block}

    def before_agent(self, state: MemoryContextState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Sync twin of `abefore_agent` (sync graphs run it in a worker thread)."""
        user_id, company_id = _identities(runtime.context, _ambient_config(), self.include_company)
        block = build_memory_context(self.service, user_id=user_id, company_id=company_id, spec=self.spec)
        return {"brain_memory_context": block}

    @staticmethod
    def _request(request: ModelRequest[Any]) -> ModelRequest[Any]:
        block = str(request.state.get("brain_memory_context") or "")
        if not block:
            return request
        return request.override(system_message=_with_context(request.system_message, block))

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any]:
        """Call the model with the memory block appended to the system prompt."""
        return handler(self._request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async twin of `wrap_model_call`."""
        return await handler(self._request(request))


def _turn_key(messages: Sequence[BaseMessage]) -> str:
    """Identifies the current turn: the id (or position) of the latest human message."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return messages[i].id or f"#{i}"
    return "#none"


def create_memory_context_hook(
    service: MemoryService,
    *,
    system_prompt: str | None = None,
    max_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    include_company: bool = True,
    user_categories: Sequence[str] = CORE_USER_CATEGORIES,
    company_categories: Sequence[str] = CORE_COMPANY_CATEGORIES,
    token_counter: TextCounter = count_tokens,
    messages_key: str = "llm_input_messages",
    cache_size: int = 1024,
) -> Callable[[dict[str, Any], Runtime[Any]], Awaitable[dict[str, Any]]]:
    """The `pre_model_hook` twin of `MemoryContextMiddleware` for `langgraph.prebuilt` agents.

    Returns an async hook that puts the memory block in a system message in front of the
    messages (returned under `llm_input_messages`, so graph state is not changed). If the state
    already carries `llm_input_messages` (e.g. from a trimming hook run first), those are used.
    The block is cached per (thread, user, company, latest human message): one read per turn.

    `create_react_agent` applies its own `prompt=` *after* the hook, which would give the model
    two system messages. Pass the base instructions here as `system_prompt` instead (and no
    `prompt=`): the model then gets one system message, instructions first, memories after.
    """
    spec = MemoryContextSpec(max_tokens, tuple(user_categories), tuple(company_categories), token_counter)
    cache: OrderedDict[tuple[str, ...], str] = OrderedDict()

    async def memory_context_hook(state: dict[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        config = _ambient_config()
        user_id, company_id = _identities(runtime.context, config, include_company)
        messages: list[BaseMessage] = list(state.get("llm_input_messages") or state.get("messages") or [])
        thread = str((config.get("configurable") or {}).get("thread_id", ""))
        key = (thread, user_id, company_id or "", _turn_key(messages))
        block = cache.get(key)
        if block is None:
            block = await abuild_memory_context(service, user_id=user_id, company_id=company_id, spec=spec)
            cache[key] = block
            while len(cache) > cache_size:
                cache.popitem(last=False)
        if messages and isinstance(messages[0], SystemMessage):
            base: SystemMessage | None = messages[0]
            messages = messages[1:]
        else:
            base = SystemMessage(content=system_prompt) if system_prompt else None
        merged = _with_context(base, block)
        if merged is not None:
            messages = [merged, *messages]
        return {messages_key: messages}

    return memory_context_hook


__all__ = [
    "MemoryContextMiddleware",
    "MemoryContextState",
    "create_memory_context_hook",
]

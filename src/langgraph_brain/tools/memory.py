"""Memory tools built from a MemoryService.

Every tool takes its identity from the runtime (see `identity.py`); none has an identity
argument in the schema the model sees. Error handling follows one rule:

* what the model can fix (bad slug, empty content, unknown slug) and what it can work around
  (Mem0 or Postgres down) becomes an error `ToolMessage` (`status="error"`), worded for the model,
  and the conversation goes on;
* a missing identity (`BrainConfigurationError`) is raised. It is not a `ToolException`, so
  neither the tool nor ToolNode's default `handle_tool_errors` turns it into a message.

Which tools exist, and which scopes `forget_memory` accepts, follows a per-scope policy
(`permissions.py`); a call outside it is refused with an error `ToolMessage`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg_pool
from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.store.base import NOT_PROVIDED

from ..brain.importance import ametadata_with_importance
from ..brain.models import SaveResult
from ..brain.validation import COMPANY_CATEGORIES, USER_CATEGORIES, Scope
from ..errors import MemoryBackendError, MemoryNotFoundError, MemoryValidationError
from .identity import SCOPE_KEY, current_actor, resolve_identity
from .permissions import (
    ALL_SCOPES,
    DEFAULT_PERMISSIONS,
    Permissions,
    check_permissions,
    not_permitted_message,
)
from .schemas import DEFAULT_TOOL_K, SaveMemoryArgs, SearchMemoryArgs, forget_args_schema

if TYPE_CHECKING:
    from ..brain.service import MemoryService

#: Failures of the storage services themselves. The service wraps most of them in
#: MemoryBackendError already; these cover the read paths that it does not wrap.
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    MemoryBackendError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    psycopg_pool.PoolClosed,
    ConnectionError,
    TimeoutError,
)

_SCOPE_WORDS = {"user": "the current user's private", "company": "the current user's company's shared"}


def _categories(scope: Scope) -> str:
    return ", ".join(USER_CATEGORIES if scope == "user" else COMPANY_CATEGORIES)


async def _guarded(call: Callable[[], Awaitable[Any]]) -> Any:
    """Run a service call, turning model-fixable errors and outages into ToolException."""
    try:
        return await call()
    except (MemoryValidationError, MemoryNotFoundError) as exc:
        raise ToolException(str(exc)) from exc
    except _OUTAGE_ERRORS as exc:
        text = str(exc) if isinstance(exc, MemoryBackendError) else f"{type(exc).__name__}"
        raise ToolException(
            f"memory storage is unavailable right now ({text}). Continue the conversation without it"
            " and tell the user that memory could not be reached."
        ) from exc


def _runtime_parts(runtime: ToolRuntime[Any, Any] | None) -> tuple[Any, dict[str, Any]]:
    """Context and config of the current call; outside ToolNode, of the enclosing graph run."""
    if runtime is not None:
        return runtime.context, dict(runtime.config or {})
    # Called directly (e.g. `await tool.ainvoke(...)` inside a node): use the ambient run.
    try:
        from langgraph.config import get_config
        from langgraph.runtime import get_runtime

        return get_runtime().context, dict(get_config())
    except RuntimeError:
        return None, {}


def create_search_memory_tool(
    service: MemoryService,
    scope: Scope,
    *,
    name: str | None = None,
    instructions: str | None = None,
) -> BaseTool:
    """A tool that searches one scope's memories of the caller.

    Args:
        service: the MemoryService to search.
        scope: "user" (private to the caller) or "company" (shared by the caller's company).
        name: tool name; default `search_user_memory` / `search_company_memory`.
        instructions: the description the model reads; a sensible default is provided.

    Returns:
        A tool whose content is a readable list of hits and whose artifact is the list of
        hit dicts (slug, content, category, score, updated_at).
    """
    key = SCOPE_KEY[scope]

    async def search(
        query: str,
        runtime: ToolRuntime[Any, Any],
        k: int = DEFAULT_TOOL_K,
        category: str | None = None,
        as_of: str | None = None,
    ) -> tuple[str, list[dict[str, Any]]]:
        context, config = _runtime_parts(runtime)
        entity = resolve_identity(key, context=context, config=config)
        hits = await _guarded(
            lambda: service.asearch(scope, entity, query, k=k, category=category, as_of=as_of)
        )
        artifact = [h.as_dict() for h in hits]
        when = f" as of {as_of}" if as_of else ""
        if not hits:
            return f"No {scope} memories match {query!r}{when}.", artifact
        lines = [f"{len(hits)} {scope} memories{when}, best first:"]
        lines += [f"- [{h.slug}] ({h.category}) {h.content}" for h in hits]
        return "\n".join(lines), artifact

    description = instructions or (
        f"Search {_SCOPE_WORDS[scope]} long-term memory. Use it before answering questions that may"
        f" depend on facts saved earlier, in this or other conversations. Categories: {_categories(scope)}."
    )
    return StructuredTool.from_function(
        coroutine=search,
        name=name or f"search_{scope}_memory",
        description=description,
        args_schema=SearchMemoryArgs,
        response_format="content_and_artifact",
        handle_tool_error=True,
        metadata={"brain_scope": scope, "brain_action": "search"},
    )


def create_save_memory_tool(
    service: MemoryService,
    scope: Scope,
    *,
    name: str | None = None,
    instructions: str | None = None,
    agent_name: str | None = None,
) -> BaseTool:
    """A tool that creates or replaces one memory (by slug) of the caller's user or company.

    Args:
        service: the MemoryService to write to.
        scope: "user" or "company".
        name: tool name; default `save_user_memory` / `save_company_memory`.
        instructions: the description the model reads.
        agent_name: recorded as the actor in brain_history (default: the agent's graph name).
    """
    key = SCOPE_KEY[scope]

    async def save(
        slug: str,
        content: str,
        runtime: ToolRuntime[Any, Any],
        category: str | None = None,
        importance: Any = None,
    ) -> tuple[str, dict[str, Any]]:
        context, config = _runtime_parts(runtime)
        entity = resolve_identity(key, context=context, config=config)
        actor = current_actor(agent_name, context=context, config=config)

        async def write() -> SaveResult:
            # A model that leaves the category out keeps the memory's own (and its metadata): a
            # re-save must not reset a "profile" fact to the default category. An importance is
            # set into the memory's metadata (pins and sources stay); a concurrent metadata change
            # between this read and the save is overwritten, as the content is (last save wins).
            metadata: Any = NOT_PROVIDED
            if importance is not None:  # the model cannot tell omitted from null: both keep it
                metadata = await ametadata_with_importance(service, scope, entity, slug, importance, metadata)
            return await service.asave(
                scope, entity, slug, content,
                category=NOT_PROVIDED if category is None else category, metadata=metadata,
                actor=actor, reason="agent",
            )  # fmt: skip

        result = await _guarded(write)
        verb = {"created": "Saved", "updated": "Updated", "unchanged": "Already saved (unchanged)"}
        text = f"{verb[result.status]} {scope} memory {result.slug!r} (version {result.version})."
        return text, {"status": result.status, "slug": result.slug, "version": result.version, "scope": scope}

    description = instructions or (
        f"Save a durable fact to {_SCOPE_WORDS[scope]} long-term memory under a stable slug."
        + (
            " Use it for facts about the user (profile, preferences, goals) worth recalling in later"
            " conversations."
            if scope == "user"
            else " Use it for facts about the company that every colleague and agent should know."
        )
        + f" Categories: {_categories(scope)}. Give an importance (0-1) only when the user says how"
        " much it matters."
    )
    return StructuredTool.from_function(
        coroutine=save,
        name=name or f"save_{scope}_memory",
        description=description,
        args_schema=SaveMemoryArgs,
        response_format="content_and_artifact",
        handle_tool_error=True,
        metadata={"brain_scope": scope, "brain_action": "save"},
    )


def create_forget_memory_tool(
    service: MemoryService,
    *,
    scopes: Iterable[Scope] = ALL_SCOPES,
    name: str = "forget_memory",
    instructions: str | None = None,
    agent_name: str | None = None,
) -> BaseTool:
    """A tool that deletes one memory of the caller's user or company from both stores.

    Args:
        service: The MemoryService to delete from.
        scopes: The scopes it may delete from; its `scope` argument offers only these, and a
            call naming another scope is refused with an error message.
        name: Tool name.
        instructions: The description the model reads.
        agent_name: Recorded as the actor in brain_history.

    Raises:
        ValueError: `scopes` is empty or names an unknown scope.
    """
    allowed = tuple(check_permissions({scope: ("forget",) for scope in scopes}))
    if not allowed:
        raise ValueError("a forget tool needs at least one scope; leave the tool out instead.")

    async def forget(scope: Scope, slug: str, runtime: ToolRuntime[Any, Any]) -> tuple[str, dict[str, Any]]:
        # The schema already narrows `scope`; check again for callers that bypass it.
        if scope not in allowed:
            raise ToolException(not_permitted_message("forget", str(scope), allowed))
        context, config = _runtime_parts(runtime)
        entity = resolve_identity(SCOPE_KEY[scope], context=context, config=config)
        actor = current_actor(agent_name, context=context, config=config)
        record = await _guarded(lambda: service.aforget(scope, entity, slug, actor=actor, reason="agent"))
        return f"Forgot {scope} memory {record.slug!r}.", {"scope": scope, "slug": record.slug}

    which = " or ".join(f"'{s}' ({'private' if s == 'user' else 'shared'})" for s in allowed)
    description = instructions or (
        "Delete one memory by its exact slug when the user asks to forget it or it is wrong."
        f" scope is {which}."
    )
    return StructuredTool.from_function(
        coroutine=forget,
        name=name,
        description=description,
        args_schema=forget_args_schema(allowed),
        response_format="content_and_artifact",
        handle_tool_error=True,
        metadata={"brain_action": "forget", "brain_scopes": allowed},
    )


def create_search_user_memory_tool(
    service: MemoryService, *, name: str = "search_user_memory", instructions: str | None = None
) -> BaseTool:
    """`search_user_memory(query, k?, category?)` on the caller's private memory."""
    return create_search_memory_tool(service, "user", name=name, instructions=instructions)


def create_save_user_memory_tool(
    service: MemoryService,
    *,
    name: str = "save_user_memory",
    instructions: str | None = None,
    agent_name: str | None = None,
) -> BaseTool:
    """`save_user_memory(slug, content, category?, importance?)` on the caller's private memory."""
    return create_save_memory_tool(
        service, "user", name=name, instructions=instructions, agent_name=agent_name
    )


def create_search_company_memory_tool(
    service: MemoryService, *, name: str = "search_company_memory", instructions: str | None = None
) -> BaseTool:
    """`search_company_memory(query, k?, category?)` on the caller's company memory."""
    return create_search_memory_tool(service, "company", name=name, instructions=instructions)


def create_save_company_memory_tool(
    service: MemoryService,
    *,
    name: str = "save_company_memory",
    instructions: str | None = None,
    agent_name: str | None = None,
) -> BaseTool:
    """`save_company_memory(slug, content, category?, importance?)` on the caller's company memory."""
    return create_save_memory_tool(
        service, "company", name=name, instructions=instructions, agent_name=agent_name
    )


def create_memory_tools(
    service: MemoryService,
    *,
    permissions: Permissions = DEFAULT_PERMISSIONS,
    agent_name: str | None = None,
) -> list[BaseTool]:
    """The memory tools a policy allows.

    Args:
        service: The MemoryService behind every tool.
        permissions: Scope -> allowed actions ("search", "save", "forget"); a scope left out
            gets no tool. E.g. `READ_ONLY_COMPANY` = `{"user": ALL_ACTIONS, "company":
            ("search",)}`: the company's memory can be searched but neither saved nor forgotten.
        agent_name: Recorded as the actor of changes in brain_history.

    Returns:
        In this order, those allowed: `search_user_memory`, `save_user_memory`,
        `search_company_memory`, `save_company_memory`, and one `forget_memory` whose `scope`
        offers only the scopes where "forget" is allowed.

    Raises:
        ValueError: `permissions` names an unknown scope or action.
    """
    policy = check_permissions(permissions)
    tools: list[BaseTool] = []
    for scope, actions in policy.items():
        if "search" in actions:
            tools.append(create_search_memory_tool(service, scope))
        if "save" in actions:
            tools.append(create_save_memory_tool(service, scope, agent_name=agent_name))
    forget_scopes = tuple(scope for scope, actions in policy.items() if "forget" in actions)
    if forget_scopes:
        tools.append(create_forget_memory_tool(service, scopes=forget_scopes, agent_name=agent_name))
    return tools

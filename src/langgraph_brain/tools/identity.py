"""Where a memory tool's identity comes from: the runtime context, never the model.

`user_id` and `company_id` are read from the LangGraph runtime context (`context_schema`,
e.g. `graph.ainvoke(..., context={"user_id": "ana", "company_id": "acme"})`). `langgraph dev`
and Studio send them as `configurable` keys of the same names, so those are the fallback. Tool
arguments are never consulted: a model that writes `user_id` into its arguments changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from ..brain.errors import BrainConfigurationError
from ..brain.models import Actor

IdentityKey = Literal["user_id", "company_id"]
IDENTITY_KEYS: tuple[IdentityKey, ...] = ("user_id", "company_id")
SCOPE_KEY: dict[str, IdentityKey] = {"user": "user_id", "company": "company_id"}


class BrainContext(TypedDict, total=False):
    """Runtime context schema for graphs that use the memory tools.

    Both keys are optional in the type so that a graph can be loaded (e.g. by `langgraph dev`)
    without them; a tool that needs a missing one raises `BrainConfigurationError`.
    """

    user_id: str
    company_id: str


def _lookup(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def resolve_identity(
    key: IdentityKey, *, context: Any = None, config: Mapping[str, Any] | None = None
) -> str:
    """The caller's `user_id` or `company_id`.

    Looks in the runtime context first, then in `config["configurable"]` (langgraph dev, Studio).

    Raises:
        BrainConfigurationError: the identity is absent or blank. This is a deployment mistake
            the model cannot fix, so it stops the run instead of becoming a tool message.
    """
    value = _lookup(context, key)
    if value is None or value == "":
        value = _lookup((config or {}).get("configurable"), key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BrainConfigurationError(
            f"{key} is missing: run the graph with context={{'user_id': ..., 'company_id': ...}}"
            f" (context_schema=BrainContext), or for langgraph dev / Studio set the configurable key"
            f" {key!r}. Memory tools never take identity from the model."
        )
    if not isinstance(value, str):
        raise BrainConfigurationError(
            f"{key} in the runtime context must be a string, not {type(value).__name__}."
        )
    return value


def current_actor(
    agent: str | None, *, context: Any = None, config: Mapping[str, Any] | None = None
) -> Actor:
    """Who is making a change, for brain_history: agent name, thread and user (when known)."""
    actor: Actor = {}
    configurable = (config or {}).get("configurable") or {}
    metadata = (config or {}).get("metadata") or {}
    name = agent or metadata.get("lc_agent_name")
    if name:
        actor["agent"] = str(name)
    thread_id = configurable.get("thread_id")
    if thread_id:
        actor["thread_id"] = str(thread_id)
    user = _lookup(context, "user_id") or configurable.get("user_id")
    if isinstance(user, str) and user:
        actor["user_id"] = user
    return actor

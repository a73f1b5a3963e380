"""Where a memory tool's identity comes from: the server's authenticated user, else the runtime
context, never the model (the rule itself is `langgraph_brain.identity.resolve_identity`).

`user_id` and `company_id` are read from the authenticated user when the LangGraph server ran
`langgraph_brain.server.auth`; otherwise from the runtime context (`context_schema`, e.g.
`graph.ainvoke(..., context={"user_id": "ana", "company_id": "acme"})`), and for an open
`langgraph dev` / Studio from `configurable` keys of the same names. Tool arguments are never
consulted: a model that writes `user_id` into its arguments changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

# typing_extensions, not typing: pydantic (the LangGraph server's /assistants/{id}/schemas,
# i.e. Studio) rejects a typing.TypedDict context schema on Python < 3.12.
from typing_extensions import TypedDict

from ..brain.models import Actor
from ..errors import BrainConfigurationError
from ..identity import IDENTITY_KEYS, IdentityKey, resolve_identity

__all__ = ["IDENTITY_KEYS", "SCOPE_KEY", "BrainContext", "IdentityKey", "current_actor", "resolve_identity"]

SCOPE_KEY: dict[str, IdentityKey] = {"user": "user_id", "company": "company_id"}


class BrainContext(TypedDict, total=False):
    """Runtime context schema for graphs that use the memory tools.

    Both keys are optional in the type so that a graph can be loaded (e.g. by `langgraph dev`)
    without them; a tool that needs a missing one raises `BrainConfigurationError`.
    """

    user_id: str
    company_id: str


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
    # A company-only caller has no user: the change is still attributed to agent and thread.
    with contextlib.suppress(BrainConfigurationError):
        actor["user_id"] = resolve_identity("user_id", context=context, config=config)
    return actor

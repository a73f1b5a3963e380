"""Who is calling: one rule for the memory tools, the memory context and the checkpointer.

Identity (`user_id`, `company_id`) is taken from the first of these that is present:

1. **the authenticated user** — when the LangGraph server authenticated the request with
   `langgraph_brain.server.auth` (API key or JWT), `config["configurable"]["langgraph_auth_user"]`
   carries the user and company that the credential names. Then nothing else is consulted:
   identity in `context` or `configurable` is ignored (the server's run handler refuses a run
   that tries to set a different one);
2. **the runtime context** (`context_schema=BrainContext`, `ainvoke(..., context={...})`);
3. **`configurable` keys of the same names** (an open `langgraph dev`, Studio).

Tool arguments are never consulted. Ids are normalised like entity ids (NFKC, trim, lowercase by
default). This module imports nothing else of ours but the errors, so both the brain side and
the checkpointer side can use it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Literal

from .errors import BrainConfigurationError

IdentityKey = Literal["user_id", "company_id"]
IDENTITY_KEYS: tuple[IdentityKey, ...] = ("user_id", "company_id")
EntityNormalizer = Callable[[str], str]
MAX_ENTITY_ID_CHARS = 256

#: `kind` of the users `langgraph_brain.server.auth` returns; only these carry identity.
AUTH_USER_KIND = "langgraph-brain"
#: Where LangGraph's runtime (with `.context`) sits in `configurable` during a run.
_RUNTIME_KEY = "__pregel_runtime"


def normalize_entity_id(raw: object) -> str:
    """Default normaliser: NFKC, trim, lowercase. Rejects empty ids and control characters.

    A bad entity id is a configuration error, not something a model can fix: identities come
    from the server's authentication or the runtime context, never from tool arguments.
    """
    if not isinstance(raw, str):
        raise BrainConfigurationError(f"entity id must be a string, not {type(raw).__name__}.")
    value = unicodedata.normalize("NFKC", raw).strip().lower()
    if not value:
        raise BrainConfigurationError("entity id is empty; set user_id / company_id in the runtime context.")
    if len(value) > MAX_ENTITY_ID_CHARS:
        raise BrainConfigurationError(f"entity id is longer than {MAX_ENTITY_ID_CHARS} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise BrainConfigurationError("entity id contains control characters or lone surrogates.")
    return value


def _lookup(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    getter = getattr(source, "get", None)
    if callable(getter):  # LangGraph's user proxies behave like mappings without being one
        try:
            return getter(key)
        except Exception:
            return None
    return getattr(source, key, None)


def _configurable(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (config or {}).get("configurable") or {}


def authenticated_identity(config: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The identity of a request authenticated by `langgraph_brain.server.auth`, else None.

    Users of other kinds (LangGraph's Studio user, an open server's anonymous user, another
    auth handler's users) carry no memory identity here.
    """
    user = _configurable(config).get("langgraph_auth_user")
    if user is None or _lookup(user, "kind") != AUTH_USER_KIND:
        return None
    out: dict[str, str] = {}
    for key in IDENTITY_KEYS:
        value = _lookup(user, key)
        if isinstance(value, str) and value:
            out[key] = value
    return out


def runtime_context(config: Mapping[str, Any] | None) -> Any:
    """The run's context object, when called inside a LangGraph run (e.g. from a checkpointer)."""
    runtime = _configurable(config).get(_RUNTIME_KEY)
    return getattr(runtime, "context", None)


def resolve_identity(
    key: IdentityKey, *, context: Any = None, config: Mapping[str, Any] | None = None
) -> str:
    """The caller's `user_id` or `company_id` (see the module docstring for the order).

    Raises:
        BrainConfigurationError: the identity is absent or blank. This is a deployment mistake
            the model cannot fix, so it stops the run instead of becoming a tool message.
    """
    authenticated = authenticated_identity(config)
    if authenticated is not None:
        if key not in authenticated:
            raise BrainConfigurationError(
                f"the authenticated user has no {key}: issue the API key or token with one"
                " (`brain keys create --user U --company C`)."
            )
        return authenticated[key]
    value = _lookup(context, key)
    if value is None or value == "":
        value = _lookup(_configurable(config), key)
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


def thread_owner(
    config: Mapping[str, Any] | None,
    normalize: EntityNormalizer = normalize_entity_id,
) -> dict[str, str]:
    """The normalised owner of a run's thread, for stamping on its checkpoints.

    Same order as `resolve_identity`, with the run's context read from `config`. Keys whose
    value is missing or not a valid id are left out (checkpointing never fails over them).
    """
    runtime_ctx = runtime_context(config)
    owner: dict[str, str] = {}
    for key in IDENTITY_KEYS:
        try:
            raw = resolve_identity(key, context=runtime_ctx, config=config)
            owner[key] = normalize(raw)
        except BrainConfigurationError:
            continue
    return owner


__all__ = [
    "AUTH_USER_KIND",
    "IDENTITY_KEYS",
    "MAX_ENTITY_ID_CHARS",
    "EntityNormalizer",
    "IdentityKey",
    "authenticated_identity",
    "normalize_entity_id",
    "resolve_identity",
    "runtime_context",
    "thread_owner",
]

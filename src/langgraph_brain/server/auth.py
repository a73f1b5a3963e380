"""Custom authentication and authorization for the LangGraph server (`langgraph.json` `auth.path`).

    "auth": {"path": "langgraph_brain.server.auth:auth", "disable_studio_auth": true}

**Who is calling.** A request carries `Authorization: Bearer <credential>` (or `X-Api-Key`):

* an API key issued by `brain keys create --user U --company C` (stored hashed, revocable,
  optionally expiring; `--admin` makes an operator key), or
* a JWT signed with `BRAIN_JWT_SECRET` (HS256): `sub` is the user id, the `company_id` claim
  (`BRAIN_JWT_COMPANY_CLAIM`) the company, `exp` is required, `aud` / `iss` are checked when
  `BRAIN_JWT_AUDIENCE` / `BRAIN_JWT_ISSUER` are set.

The user the handler returns has `kind = "langgraph-brain"`; the memory tools, the memory
context and the checkpointer take identity from it alone (`langgraph_brain.identity`).

**Open mode.** With `BRAIN_AUTH=open`, or `auto` before any key exists and without a JWT
secret, requests without credentials pass as an anonymous developer and identity comes from
the run's context, as on a plain `langgraph dev`. Every such request is logged as unauthenticated.

**What each user may touch.** Threads, runs and crons are stamped with `owner` (the user id) on
creation, and every read, search, update, delete, history, state and run is filtered on it, so a
user can never list, read, continue or delete another user's thread (the server answers 404).
A run that names a different `user_id` / `company_id` in its context or configurable is refused
(403). Assistants are readable by everyone and changed only by admins. The store is confined to
the namespaces `("user", <own id>, …)` and `("company", <own company>, …)`. Admin keys may do
anything. LangGraph Studio's built-in user (`is_studio_user`) gets no identity: outside open mode
it may only read assistants; set `disable_studio_auth` so Studio sends your credentials instead.
`GET /brain/ui` (the inspector page's shell, no data) is served without credentials to a user of
kind `UI_SHELL_KIND` with no identity, which every handler here refuses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import jwt
from langgraph_sdk import Auth
from langgraph_sdk.auth import is_studio_user
from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from langgraph_brain.db import open_async_pool, resolve_database_url
from langgraph_brain.errors import BrainError
from langgraph_brain.identity import AUTH_USER_KIND, IDENTITY_KEYS, normalize_entity_id
from langgraph_brain.settings import BrainSettings, get_settings

from .keys import KEY_PREFIX, VerifiedKeyCache, averify_key

logger = logging.getLogger("langgraph_brain.auth")

auth = Auth()

OPEN_USER_KIND = "langgraph-brain-open"
#: GET /brain/ui, the inspector page's HTML shell (no data in it), is served without credentials:
#: a browser cannot send a Bearer header when it navigates; the page's script then calls the API
#: with the key the person types.
UI_SHELL_PATH = "/brain/ui"
#: The caller of the shell: no identity, not authenticated; no handler treats this kind as a user.
UI_SHELL_KIND = "langgraph-brain-ui-shell"
#: GET /brain/health without credentials (a load balancer's probe) passes as a user with no
#: identity that every handler here refuses; the health route shows such callers the status only.
HEALTH_PATH = "/brain/health"
PROBE_USER_KIND = "langgraph-brain-probe"
#: How long the "is authentication required?" answer is reused (auto mode flips within this).
_MODE_TTL_SECONDS = 5.0
_state: dict[str, Any] = {}
_lock = asyncio.Lock()


def _unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail)


def _forbidden(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=403, detail=detail)


async def _pool(settings: BrainSettings) -> AsyncConnectionPool[AsyncConnection[dict[str, Any]]]:
    pool = _state.get("pool")
    if pool is None:
        async with _lock:
            pool = _state.get("pool")
            if pool is None:
                url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
                pool = await open_async_pool(
                    url, min_size=1, max_size=4, name="brain-auth", connect_timeout=settings.pool_timeout
                )
                _state["pool"] = pool
    return pool


async def _keys_exist(settings: BrainSettings) -> bool:
    pool = await _pool(settings)
    async with pool.connection() as conn:
        try:
            row = await (await conn.execute("SELECT EXISTS (SELECT 1 FROM brain_api_keys) AS e")).fetchone()
        except pg_errors.UndefinedTable:
            return False  # `brain migrate` has not created the key table yet: no key can exist
    return bool(row and row["e"])


async def auth_required(settings: BrainSettings | None = None) -> bool:
    """Whether requests without credentials are refused (see `BRAIN_AUTH`)."""
    s = settings or get_settings()
    if s.auth_mode != "auto":
        return s.auth_mode == "required"
    if s.jwt_secret is not None:
        return True
    cached = _state.get("required")
    if cached is not None and time.monotonic() - cached[1] < _MODE_TTL_SECONDS:
        return bool(cached[0])
    required = await _keys_exist(s)
    if cached is None or cached[0] != required:
        if required:
            logger.info("langgraph-brain auth: API keys exist, every request must authenticate")
        else:
            logger.warning(
                "langgraph-brain auth: SERVING WITHOUT AUTHENTICATION (BRAIN_AUTH=auto, no API key yet,"
                " no BRAIN_JWT_SECRET). Any client may act as any user. Create a key with"
                " `brain keys create --user U --company C`, or set BRAIN_AUTH=required."
            )
    _state["required"] = (required, time.monotonic())
    return required


def _credential(authorization: str | None, headers: dict[bytes, bytes] | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("Authorization must be 'Bearer <API key or JWT>'.")
        return value.strip()
    api_key = (headers or {}).get(b"x-api-key")
    return api_key.decode("utf-8", "replace").strip() if api_key else None


def _user(user_id: str, company_id: str | None, *, admin: bool, via: str, **extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "identity": user_id,
        "display_name": user_id,
        "kind": AUTH_USER_KIND,
        "user_id": user_id,
        "is_admin": admin,
        "auth": via,
        "permissions": ["brain:admin"] if admin else [],
        **extra,
    }
    if company_id:
        user["company_id"] = company_id
    return user


async def _from_api_key(key: str, settings: BrainSettings) -> dict[str, Any]:
    cache: VerifiedKeyCache | None = _state.get("keys")
    if cache is None:  # once per process (setdefault would build a cache on every request)
        cache = _state["keys"] = VerifiedKeyCache(settings.auth_cache_seconds)
    record = cache.get(key)
    if record is None:
        pool = await _pool(settings)
        async with pool.connection() as conn:
            try:
                record = await averify_key(conn, key)
            except pg_errors.UndefinedTable:
                raise _unauthorized("API keys are not set up on this server: run `brain migrate`.") from None
        if record is None:
            raise _unauthorized("Invalid, revoked or expired API key.")
        cache.put(key, record)
    return _user(
        record.user_id, record.company_id, admin=record.is_admin, via="api_key", key_id=record.key_id
    )


def _from_jwt(token: str, settings: BrainSettings) -> dict[str, Any]:
    if settings.jwt_secret is None:
        raise _unauthorized("Unknown credential: not an API key, and this server accepts no JWTs.")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("The token has expired.") from None
    except jwt.PyJWTError as exc:
        raise _unauthorized(f"Invalid token: {exc}.") from None
    try:
        user_id = normalize_entity_id(claims["sub"])
        company = claims.get(settings.jwt_company_claim)
        company_id = normalize_entity_id(company) if company is not None else None
    except BrainError as exc:
        raise _unauthorized(f"Invalid identity in token: {exc}") from None
    return _user(user_id, company_id, admin=False, via="jwt")


@auth.authenticate
async def authenticate(
    authorization: str | None, headers: dict[bytes, bytes], path: str = "", method: str = ""
) -> Auth.types.MinimalUserDict:
    """Resolve the caller from an API key or a JWT; 401 with a reason otherwise."""
    if path == UI_SHELL_PATH and method in ("GET", "HEAD"):
        # Exactly this path and these methods (the server matches routes on the same decoded path).
        shell = {"identity": "", "kind": UI_SHELL_KIND, "is_authenticated": False, "permissions": []}
        return shell  # type: ignore[return-value]
    settings = get_settings()
    credential = _credential(authorization, headers)
    if credential is None and path == HEALTH_PATH and method == "GET":
        probe = {"identity": "", "kind": PROBE_USER_KIND, "is_authenticated": False, "permissions": []}
        return probe  # type: ignore[return-value]
    if credential:
        if credential.startswith(KEY_PREFIX):
            return await _from_api_key(credential, settings)  # type: ignore[return-value]
        return _from_jwt(credential, settings)  # type: ignore[return-value]
    if await auth_required(settings):
        raise _unauthorized(
            "Authentication required: send 'Authorization: Bearer <API key or JWT>' (create a key with"
            " `brain keys create --user U --company C`)."
        )
    logger.warning("unauthenticated request served (open mode): identity comes from the run's context")
    return {"identity": "anonymous", "kind": OPEN_USER_KIND, "permissions": []}  # type: ignore[typeddict-unknown-key]


# ---------------------------------------------------------------------- authorization


def _kind(user: Any) -> str | None:
    getter = getattr(user, "get", None)
    return getter("kind") if callable(getter) else getattr(user, "kind", None)


def _field(user: Any, key: str) -> Any:
    getter = getattr(user, "get", None)
    return getter(key) if callable(getter) else getattr(user, key, None)


def _unrestricted(ctx: Auth.types.AuthContext) -> bool:
    """Admins, and everyone in open mode, are not filtered."""
    kind = _kind(ctx.user)
    return kind == OPEN_USER_KIND or (kind == AUTH_USER_KIND and bool(_field(ctx.user, "is_admin")))


def _owner(ctx: Auth.types.AuthContext) -> str:
    """The owner id for a filtered request; anyone else (Studio's built-in user) is refused."""
    if is_studio_user(ctx.user) or _kind(ctx.user) != AUTH_USER_KIND:
        raise _forbidden("This server requires your own credentials (Studio: set an API key header).")
    return str(ctx.user.identity)


def _refuse_foreign_identity(ctx: Auth.types.AuthContext, *sources: Any) -> None:
    """403 when a request tries to name a user or company other than the authenticated one."""
    own = {key: _field(ctx.user, key) for key in IDENTITY_KEYS}
    for source in sources:
        if not isinstance(source, dict):
            continue
        for key in IDENTITY_KEYS:
            if key not in source or source[key] in (None, ""):
                continue
            try:
                claimed = normalize_entity_id(source[key])
            except BrainError:
                claimed = None
            if claimed != own[key]:
                raise _forbidden(
                    f"{key} comes from your credentials; this request may not set it to another value."
                )


def _metadata(value: Any) -> dict[str, Any]:
    """The request's metadata dict, edited in place: the server keeps its own reference to it."""
    metadata = value.get("metadata")
    if metadata is None:
        metadata = {}
        value["metadata"] = metadata
    return metadata


@auth.on.threads.create
async def _on_thread_create(ctx: Auth.types.AuthContext, value: Any) -> Any:
    if _unrestricted(ctx):
        return None
    owner = _owner(ctx)
    metadata = _metadata(value)
    _refuse_foreign_identity(ctx, metadata)
    if metadata.get("owner") not in (None, owner):
        raise _forbidden("A thread's owner is the authenticated user.")
    metadata["owner"] = owner
    return {"owner": owner}


@auth.on.threads.create_run
async def _on_run_create(ctx: Auth.types.AuthContext, value: Any) -> Any:
    if _unrestricted(ctx):
        return None
    owner = _owner(ctx)
    kwargs = value.get("kwargs") or {}
    config = kwargs.get("config") or {}
    _refuse_foreign_identity(
        ctx, kwargs.get("context"), config.get("configurable"), value.get("metadata"), config.get("metadata")
    )
    _metadata(value)["owner"] = owner
    return {"owner": owner}


@auth.on.threads.update
async def _on_thread_update(ctx: Auth.types.AuthContext, value: Any) -> Any:
    if _unrestricted(ctx):
        return None
    owner = _owner(ctx)
    metadata = value.get("metadata") or {}
    _refuse_foreign_identity(ctx, metadata)
    if metadata.get("owner") not in (None, owner):
        raise _forbidden("A thread's owner cannot be changed.")
    return {"owner": owner}


@auth.on.threads
async def _on_threads(ctx: Auth.types.AuthContext, value: Any) -> Any:
    """read, search, delete (and history, state, runs of a thread): only the caller's threads."""
    if _unrestricted(ctx):
        return None
    return {"owner": _owner(ctx)}


@auth.on.crons
async def _on_crons(ctx: Auth.types.AuthContext, value: Any) -> Any:
    if _unrestricted(ctx):
        return None
    owner = _owner(ctx)
    if ctx.action == "create" and isinstance(value, dict):
        kwargs = value.get("kwargs") or value
        config = kwargs.get("config") or {}
        _refuse_foreign_identity(ctx, kwargs.get("context"), config.get("configurable"))
        _metadata(value)["owner"] = owner
    return {"owner": owner}


@auth.on.assistants
async def _on_assistants(ctx: Auth.types.AuthContext, value: Any) -> Any:
    """Everyone may read the graphs' assistants (Studio renders them); only admins change them."""
    if ctx.action in ("read", "search") or _unrestricted(ctx):
        return None
    raise _forbidden("Only an admin key may create, change or delete assistants.")


@auth.on.store
async def _on_store(ctx: Auth.types.AuthContext, value: Any) -> Any:
    """Confine the store to ("user", own id, …) and ("company", own company, …)."""
    if _unrestricted(ctx):
        return None
    owner = _owner(ctx)
    namespace = tuple(value.get("namespace") or ())
    allowed = {("user", owner)}
    company = _field(ctx.user, "company_id")
    if company:
        allowed.add(("company", str(company)))
    if len(namespace) < 2 or tuple(namespace[:2]) not in allowed:
        if not namespace and ctx.action in ("search", "list_namespaces"):
            value["namespace"] = ("user", owner)
            return None
        raise _forbidden(
            "Store namespaces start with ('user', <your user id>) or ('company', <your company id>)."
        )
    return None


@auth.on
async def _deny_other(ctx: Auth.types.AuthContext, value: Any) -> Any:
    """Anything not covered above is for admins (and open mode) only."""
    if _unrestricted(ctx):
        return None
    raise _forbidden(f"{ctx.resource}.{ctx.action} is not available to this key.")


async def aclose() -> None:
    """Close the key-verification pool (tests; the server closes with its process)."""
    pool = _state.pop("pool", None)
    _state.clear()
    if pool is not None:
        await pool.close()


__all__ = [
    "HEALTH_PATH",
    "OPEN_USER_KIND",
    "PROBE_USER_KIND",
    "UI_SHELL_KIND",
    "UI_SHELL_PATH",
    "aclose",
    "auth",
    "auth_required",
    "authenticate",
]

"""Who is calling, and which user or company a request acts on.

Identity comes from `request.user` only, which langgraph-api sets from the dict that
`langgraph_brain.server.auth.authenticate` returned (`enable_custom_route_auth`). Headers, query
strings and bodies never change it, with two deliberate exceptions:

* an **operator** (an API key created with `--admin`) may name any `?user_id=` / `?company_id=`;
  the write is still recorded with the operator as actor (`admin:<key id>`);
* in **open mode** (`BRAIN_AUTH=open`, or `auto` before any key exists) there is no identity,
  so the caller must name `?user_id=` (and `?company_id=` for company memories); every such
  request is logged as unauthenticated and recorded with the actor `unauthenticated`.

A regular user naming an id other than their own gets 403, naming their own is harmless.
Anyone else (LangGraph Studio's built-in user, the health probe) gets 401/403.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from langgraph_brain.brain.models import Actor
from langgraph_brain.errors import BrainError
from langgraph_brain.identity import AUTH_USER_KIND, normalize_entity_id
from langgraph_brain.server.auth import OPEN_USER_KIND

from .errors import ApiError

logger = logging.getLogger("langgraph_brain.api")

#: The agent name every write through this API records in brain_history.
API_AGENT = "http-api"
_PARAM = {"user": "user_id", "company": "company_id"}


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request.

    Attributes:
        user_id: the caller's own user id (None in open mode).
        company_id: the caller's company (None when the credential names none).
        is_admin: an operator key: may act on any user or company.
        open_mode: no credentials; ids must be named in the query string.
        actor_id: who brain_history records: the user id, "admin:<key id>" or "unauthenticated".
    """

    user_id: str | None
    company_id: str | None
    is_admin: bool
    open_mode: bool
    actor_id: str

    @property
    def actor(self) -> Actor:
        """The brain_history actor of a write made by this caller."""
        return {"agent": API_AGENT, "user_id": self.actor_id}

    def entity(self, request: Request, scope: str) -> str:
        """The user or company id this request acts on for `scope` ("user" or "company").

        Raises:
            ApiError: 403 when a non-operator names someone else; 400 when open mode or an
                operator without a company of its own names no id; 422 for a malformed id.
        """
        param = _PARAM[scope]
        own = self.user_id if scope == "user" else self.company_id
        named = _named(request, param)
        if named is not None and (self.is_admin or self.open_mode):
            return named
        if named is not None and named != own:
            raise ApiError(
                403, f"{param} comes from your credentials; only an operator key may name another {scope}."
            )
        if own is None:
            if self.open_mode or self.is_admin:
                raise ApiError(400, f"Name the {scope} with ?{param}=… (this request carries no {param}).")
            raise ApiError(403, f"Your credentials name no {param}, so there are no {scope} memories to use.")
        return own

    def user_and_company(self, request: Request) -> tuple[str, str | None]:
        """The user this request acts on, and its company when it has one (or names one)."""
        has_company = self.company_id is not None or _PARAM["company"] in request.query_params
        return self.entity(request, "user"), self.entity(request, "company") if has_company else None

    def require_admin(self) -> None:
        """403 unless the caller is an operator."""
        if not self.is_admin:
            raise ApiError(403, "This endpoint needs an operator (admin) API key.")


def _named(request: Request, param: str) -> str | None:
    values = request.query_params.getlist(param)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"?{param}= is given {len(values)} times; give it once.")
    try:
        return normalize_entity_id(values[0])
    except BrainError as exc:
        raise ApiError(422, f"?{param}= is not a valid id: {exc}") from None


def _field(user: Any, key: str) -> Any:
    getter = getattr(user, "get", None)
    return getter(key) if callable(getter) else getattr(user, key, None)


def caller_of(request: Request) -> Caller:
    """The caller of `request`, from the authenticated user only.

    Raises:
        ApiError: 401 without an authenticated user, 403 for a user that carries no memory
            identity (e.g. LangGraph Studio's built-in user).
    """
    user = request.scope.get("user")
    kind = _field(user, "kind") if user is not None else None
    if kind == OPEN_USER_KIND:
        logger.warning(
            "memory API: unauthenticated request (open mode): %s %s", request.method, request.url.path
        )
        return Caller(None, None, is_admin=False, open_mode=True, actor_id="unauthenticated")
    if kind != AUTH_USER_KIND:
        if user is None or not getattr(user, "is_authenticated", False):
            raise ApiError(401, "Authentication required: send 'Authorization: Bearer <API key or JWT>'.")
        raise ApiError(403, "The memory API needs your own credentials (an API key or a JWT).")
    user_id = str(_field(user, "user_id"))
    company = _field(user, "company_id")
    admin = bool(_field(user, "is_admin"))
    key_id = _field(user, "key_id")
    actor = f"admin:{key_id}" if admin and key_id else (f"admin:{user_id}" if admin else user_id)
    return Caller(user_id, str(company) if company else None, is_admin=admin, open_mode=False, actor_id=actor)


__all__ = ["API_AGENT", "Caller", "caller_of"]

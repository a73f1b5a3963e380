"""What the memory tools may do, per scope: the policy behind `create_memory_tools`.

A policy maps each scope to the actions allowed on it, in the shape of langmem's
`actions_permitted`, but per scope, so that read-only company memory is one line:

    create_memory_tools(service, permissions={"user": ALL_ACTIONS, "company": ("search",)})

The policy narrows what the model is offered (a tool per allowed search or save, and
`forget_memory` whose `scope` argument lists only the scopes where forgetting is allowed), and
the tool bodies check it again, so a call outside the schema is refused, not carried out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, get_args

from ..brain.validation import Scope

Action = Literal["search", "save", "forget"]
ALL_ACTIONS: tuple[Action, ...] = get_args(Action)
ALL_SCOPES: tuple[Scope, ...] = ("user", "company")

Permissions = Mapping[str, Iterable[str]]
"""Scope ("user", "company") -> the actions ("search", "save", "forget") allowed on it."""

DEFAULT_PERMISSIONS: Mapping[str, tuple[Action, ...]] = MappingProxyType(
    {"user": ALL_ACTIONS, "company": ALL_ACTIONS}
)
"""Everything on both scopes."""
READ_ONLY_COMPANY: Mapping[str, tuple[Action, ...]] = MappingProxyType(
    {"user": ALL_ACTIONS, "company": ("search",)}
)
"""The user's own memory fully; the company's searchable, never saved or forgotten."""

ACTION_NOT_PERMITTED_TEMPLATE = (
    "This agent may not {action} {scope} memory{allowed}. Do not try again; tell the user that"
    " {scope} memory cannot be changed from here."
)


def check_permissions(permissions: Permissions) -> dict[Scope, tuple[Action, ...]]:
    """Validate a policy and return it as {scope: actions}, in the standard order.

    Raises:
        ValueError: An unknown scope or action (the message names it and the known ones).
    """
    checked: dict[Scope, tuple[Action, ...]] = {}
    for scope, actions in permissions.items():
        if scope not in ALL_SCOPES:
            raise ValueError(f"unknown memory scope {scope!r} in permissions; use {ALL_SCOPES}.")
        wanted = tuple(actions) if not isinstance(actions, str) else (actions,)
        unknown = [a for a in wanted if a not in ALL_ACTIONS]
        if unknown:
            raise ValueError(f"unknown memory action {unknown[0]!r} for scope {scope!r}; use {ALL_ACTIONS}.")
        checked[scope] = tuple(a for a in ALL_ACTIONS if a in wanted)
    return {s: checked[s] for s in ALL_SCOPES if s in checked}


def not_permitted_message(action: str, scope: str, allowed_scopes: Iterable[str]) -> str:
    """The refusal a model reads when it asks for `action` on `scope` outside the policy."""
    allowed = tuple(allowed_scopes)
    where = f" (only {' or '.join(repr(s) for s in allowed)} memory)" if allowed else ""
    return ACTION_NOT_PERMITTED_TEMPLATE.format(action=action, scope=scope, allowed=where)


__all__ = [
    "ACTION_NOT_PERMITTED_TEMPLATE",
    "ALL_ACTIONS",
    "ALL_SCOPES",
    "DEFAULT_PERMISSIONS",
    "READ_ONLY_COMPANY",
    "Action",
    "Permissions",
    "check_permissions",
    "not_permitted_message",
]

"""Path and query parameters, checked before anything is read or written (422/404 otherwise)."""

from __future__ import annotations

from starlette.requests import Request

from langgraph_brain.brain.validation import Scope, validate_category, validate_slug
from langgraph_brain.errors import MemoryValidationError

from .errors import ApiError


def scope_param(request: Request) -> Scope:
    """The `{scope}` path segment: "user" or "company" (404 otherwise: no such collection)."""
    scope = request.path_params.get("scope")
    if scope == "user" or scope == "company":
        return scope
    raise ApiError(404, f"Unknown scope {str(scope)[:40]!r}: use 'user' or 'company'.")


def slug_param(request: Request) -> str:
    """The `{slug}` path segment, validated like every saved slug (422 with a suggestion)."""
    return validate_slug(request.path_params.get("slug"))


def int_param(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = _single(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, f"?{name}= must be a whole number from {low} to {high}, not {raw[:40]!r}."
        ) from None
    if not low <= value <= high:
        raise ApiError(422, f"?{name}= must be from {low} to {high}, not {value}.")
    return value


def text_param(request: Request, name: str) -> str | None:
    """A text query parameter given at most once (None when absent or empty)."""
    return _single(request, name) or None


def category_param(request: Request, scope: Scope) -> str | None:
    """The optional `?category=` filter, validated like a saved category."""
    raw = text_param(request, "category")
    return None if raw is None else validate_category(raw, scope)


def after_param(request: Request) -> str | None:
    """The keyset cursor `?after=<slug>` of a listing."""
    raw = text_param(request, "after")
    if raw is None:
        return None
    try:
        return validate_slug(raw)
    except MemoryValidationError as exc:
        raise ApiError(422, f"?after= must be a slug from a previous page's next_after: {exc}") from None


def _single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(400, f"?{name}= is given {len(values)} times; give it once.")
    return values[0] if values else None


__all__ = ["after_param", "category_param", "int_param", "scope_param", "slug_param", "text_param"]

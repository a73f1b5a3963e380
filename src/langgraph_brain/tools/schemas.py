"""The argument schemas of the memory tools: exactly what the model sees, never an identity."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from ..brain.validation import Scope
from .permissions import ALL_SCOPES

MAX_TOOL_K = 20
DEFAULT_TOOL_K = 5
#: The save tools' `importance` argument as the model sees it.
IMPORTANCE_SCHEMA: dict[str, Any] = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "How much this matters, 0 (trivial) to 1 (essential), e.g. 0.9 when the user stresses"
    " it. Leave it out to let the brain derive it from the category (and keep an earlier value).",
}


class SearchMemoryArgs(BaseModel):
    """Arguments of a search tool, as the model sees them."""

    query: str = Field(description="What to look for, in natural language.")
    k: int = Field(
        default=DEFAULT_TOOL_K, ge=1, le=MAX_TOOL_K, description="How many memories to return (1-20)."
    )
    category: str | None = Field(default=None, description="Only return memories of this category.")
    as_of: str | None = Field(
        default=None,
        description="Only to ask what was true at a past date: an ISO date ('2025-03-01', meaning the end"
        " of that day, UTC) or a datetime with a timezone ('2025-03-01T12:00:00Z'). Leave it out to"
        " search what is true now.",
    )


class SaveMemoryArgs(BaseModel):
    """Arguments of a save tool, as the model sees them."""

    slug: str = Field(
        description="Stable key for this memory: lowercase letters, digits, '_', '.', '-', e.g."
        " 'company_tax_regime'. Saving an existing slug replaces its content."
    )
    content: str = Field(description="The fact to remember, as one or two self-contained sentences.")
    category: str | None = Field(
        default=None,
        description="Category, e.g. profile, preference, fact. Leave it out to keep the memory's own.",
    )
    # Typed loosely on purpose: the save tool checks the value itself (validation.validate_importance),
    # so that "high" or 5 get an error the model can act on rather than a pydantic dump. The model
    # still sees a number from 0 to 1.
    importance: Annotated[Any, WithJsonSchema(IMPORTANCE_SCHEMA)] = None


class ForgetMemoryArgs(BaseModel):
    """Arguments of the forget tool, as the model sees them."""

    scope: Literal["user", "company"] = Field(description="'user' for personal, 'company' for shared memory.")
    slug: str = Field(description="The exact slug of the memory to delete (search first if unsure).")


def forget_args_schema(scopes: tuple[Scope, ...]) -> type[BaseModel]:
    """`ForgetMemoryArgs` with `scope` narrowed to `scopes` (a default when there is one)."""
    if set(scopes) == set(ALL_SCOPES):
        return ForgetMemoryArgs
    (only,) = scopes  # two scopes exist: a narrowed schema allows exactly one
    words = {"user": "personal", "company": "shared"}
    field = Field(default=only, description=f"Only '{only}' ({words[only]}) memory can be forgotten here.")
    # pydantic writes a one-value Literal as "const"; some providers' schema subsets (Gemini's)
    # know only "enum", so the value is offered the way the two-scope schema offers both.
    narrowed: Any = Annotated[Literal[only], WithJsonSchema({"type": "string", "enum": [only]})]
    return create_model(
        "ForgetMemoryArgs",
        __base__=ForgetMemoryArgs,
        __doc__=ForgetMemoryArgs.__doc__,
        scope=(narrowed, field),
    )


__all__ = [
    "DEFAULT_TOOL_K",
    "MAX_TOOL_K",
    "ForgetMemoryArgs",
    "SaveMemoryArgs",
    "SearchMemoryArgs",
    "forget_args_schema",
]

"""The extractor's operations: the schema a model fills in, and the rules that drop bad ones.

A model answers with `MemoryOperations`: a list of `upsert(scope, slug, category, content,
confidence)` and `forget(scope, slug)`. The schema is flat (one object type with an `op` field)
because tool schemas with unions are handled unevenly across providers. It has no identity
field: whose memory an operation changes is decided by the caller (`ExtractionIdentity`), never
by the model.

`check_operations` is pure. It validates each raw operation on its own, so that one bad
operation never costs the good ones, and returns what to apply plus what was dropped, each with
a reason. The limits are documented on `OperationLimits`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ..brain.validation import SLUG_PATTERN, Scope, validate_category, validate_content, validate_slug
from ..errors import MemoryValidationError

OperationKind = Literal["upsert", "forget"]

#: Extra keys that try to say whose memory an operation changes. The schema has no such field;
#: an operation carrying one is dropped rather than silently re-targeted, so that the log shows
#: the attempt (prompt injection, or a confused model).
IDENTITY_KEY = re.compile(
    r"user|company|entity|tenant|owner|account|org|identity|person|customer|client|namespace", re.I
)
#: How much of a dropped operation's slug the report keeps (a dropped slug may be megabytes).
SHOWN_CHARS = 80


class MemoryOperation(BaseModel):
    """One change to long-term memory. Reuse an existing slug when a fact changes."""

    op: OperationKind = Field(
        description="'upsert' creates or replaces the memory `slug`; 'forget' deletes it."
    )
    scope: Scope = Field(description="'user': about the user. 'company': about the user's company.")
    slug: str = Field(
        description=(
            f"Stable key of the memory (pattern {SLUG_PATTERN}), e.g. user_name, business_employees."
            " When a fact changes, upsert the SAME slug with the new content."
        )
    )
    category: str | None = Field(
        default=None,
        description="upsert only: profile, preference, business, goal or fact (company_profile,"
        " company_policy, company_tax for company scope).",
    )
    content: str | None = Field(
        default=None,
        description="upsert only: the whole fact as it now stands, one or two sentences, in the"
        " language the user wrote in.",
    )
    confidence: float = Field(
        ge=0, le=1, description="How sure you are that the user stated this fact (0 to 1)."
    )
    message_ids: list[str] = Field(
        default_factory=list, description="Ids of the messages that state the fact."
    )


class MemoryOperations(BaseModel):
    """Memory operations extracted from the new messages of a conversation."""

    operations: list[MemoryOperation] = Field(
        default_factory=list, description="The operations; an empty list when nothing is worth keeping."
    )


@dataclass(frozen=True)
class OperationLimits:
    """What `check_operations` accepts.

    Attributes:
        min_confidence: operations below this confidence are dropped (BRAIN_EXTRACTION_MIN_CONFIDENCE).
        company_writes: whether company-scope operations are allowed (the tool policy's company
            "save"); without it every company operation is dropped.
        max_forgets: more forgets than this in one extraction refuses *all* of its forgets, so a
            prompt-injected "forget everything" cannot wipe memory (BRAIN_EXTRACTION_MAX_FORGETS).
        max_operations: operations beyond this many valid ones are dropped.
        max_content_chars: longest content (the service's `max_content_chars`); longer is
            dropped, never truncated.
    """

    min_confidence: float = 0.6
    company_writes: bool = True
    max_forgets: int = 3
    max_operations: int = 20
    max_content_chars: int = 8000


@dataclass(frozen=True)
class PlannedOperation:
    """A valid operation, ready to apply (content stripped, category resolved)."""

    index: int
    op: OperationKind
    scope: Scope
    slug: str
    category: str | None
    content: str | None
    confidence: float
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class DroppedOperation:
    """An operation that was not applied, and why. `op`, `scope` and `slug` are cut to 80 chars."""

    index: int
    op: str | None
    scope: str | None
    slug: str | None
    reason: str


@dataclass(frozen=True)
class CheckedOperations:
    planned: list[PlannedOperation]
    dropped: list[DroppedOperation]


def _shown(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text[:SHOWN_CHARS]


def _dropped(index: int, raw: object, reason: str) -> DroppedOperation:
    fields = raw if isinstance(raw, Mapping) else {}
    return DroppedOperation(
        index, _shown(fields.get("op")), _shown(fields.get("scope")), _shown(fields.get("slug")), reason
    )


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "operation"
        parts.append(f"{where}: {error['msg']}")
    return "does not match the schema (" + "; ".join(parts) + ")"


def _check_one(
    index: int, raw: object, limits: OperationLimits, has_company: bool, known_ids: Sequence[str]
) -> PlannedOperation | DroppedOperation:
    """Validate one raw operation (a dict from the model, or a `MemoryOperation`)."""
    if isinstance(raw, MemoryOperation):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        return _dropped(index, raw, f"not an object ({type(raw).__name__})")
    extra = [str(k) for k in raw if k not in MemoryOperation.model_fields]
    named = [k for k in extra if IDENTITY_KEY.search(k)]
    if named:
        return _dropped(
            index, raw, f"names an identity ({named[0][:SHOWN_CHARS]!r}); whose memory is changed comes"
            " from the caller, never from the model",
        )  # fmt: skip
    try:
        # Other unknown keys are ignored (pydantic's default): they can change nothing.
        operation = MemoryOperation.model_validate(dict(raw))
    except ValidationError as exc:
        return _dropped(index, raw, _validation_reason(exc))
    try:
        slug = validate_slug(operation.slug)
    except MemoryValidationError as exc:
        return _dropped(index, raw, str(exc))
    if operation.scope == "company":
        if not limits.company_writes:
            return _dropped(index, raw, "company writes are not allowed for this agent")
        if not has_company:
            return _dropped(index, raw, "this conversation has no company")
    if operation.confidence < limits.min_confidence:
        return _dropped(
            index, raw, f"confidence {operation.confidence:g} is below the minimum {limits.min_confidence:g}"
        )
    category = content = None
    if operation.op == "upsert":
        try:
            content = validate_content(operation.content or "", max_chars=limits.max_content_chars)
            category = validate_category(operation.category, operation.scope)
        except MemoryValidationError as exc:
            return _dropped(index, raw, str(exc))
    ids = tuple(i for i in operation.message_ids if i in known_ids) or tuple(known_ids)
    return PlannedOperation(
        index, operation.op, operation.scope, slug, category, content, operation.confidence, ids
    )


def check_operations(
    raw_operations: Sequence[object],
    *,
    limits: OperationLimits,
    has_company: bool,
    message_ids: Sequence[str],
) -> CheckedOperations:
    """Split a model's operations into the ones to apply and the ones dropped, with reasons.

    Rules, in order: each operation alone (shape, identity keys, slug, scope and policy,
    confidence, content and category); then a later operation on the same (scope, slug)
    replaces an earlier one (the later message wins); then more than `max_forgets` requested
    forgets refuses every forget; then operations beyond `max_operations` are dropped.

    Args:
        raw_operations: the `operations` list of the model's answer (dicts or `MemoryOperation`).
        limits: the limits (see `OperationLimits`).
        has_company: whether the caller's identity has a company.
        message_ids: ids of the messages the model was shown; an operation's `message_ids` are
            kept only where they are among these, and default to all of them.

    Returns:
        The planned operations in the model's order, and the dropped ones.
    """
    dropped: list[DroppedOperation] = []
    valid: list[PlannedOperation] = []
    for index, raw in enumerate(raw_operations):
        checked = _check_one(index, raw, limits, has_company, message_ids)
        (dropped if isinstance(checked, DroppedOperation) else valid).append(checked)  # type: ignore[arg-type]

    last: dict[tuple[str, str], PlannedOperation] = {}
    for planned in valid:
        last[(planned.scope, planned.slug)] = planned
    kept: list[PlannedOperation] = []
    for planned in valid:
        if last[(planned.scope, planned.slug)] is planned:
            kept.append(planned)
        else:
            dropped.append(_as_dropped(planned, "replaced by a later operation on the same slug"))

    # Counted on what the model asked for, valid or not: 50 forgets of which 47 name unknown slugs
    # are still a mass forget.
    requested = sum(1 for raw in raw_operations if _kind(raw) == "forget")
    if requested > limits.max_forgets:
        reason = (
            f"mass forget refused: {requested} forget operations in one extraction, the limit is"
            f" {limits.max_forgets}; no forget of this extraction is applied"
        )
        dropped.extend(_as_dropped(p, reason) for p in kept if p.op == "forget")
        kept = [p for p in kept if p.op != "forget"]

    if len(kept) > limits.max_operations:
        reason = f"more than {limits.max_operations} operations in one extraction"
        dropped.extend(_as_dropped(p, reason) for p in kept[limits.max_operations :])
        kept = kept[: limits.max_operations]
    dropped.sort(key=lambda d: d.index)
    return CheckedOperations(kept, dropped)


def _kind(raw: object) -> Any:
    if isinstance(raw, MemoryOperation):
        return raw.op
    return raw.get("op") if isinstance(raw, Mapping) else None


def _as_dropped(planned: PlannedOperation, reason: str) -> DroppedOperation:
    return DroppedOperation(planned.index, planned.op, planned.scope, planned.slug, reason)


__all__ = [
    "IDENTITY_KEY",
    "CheckedOperations",
    "DroppedOperation",
    "MemoryOperation",
    "MemoryOperations",
    "OperationKind",
    "OperationLimits",
    "PlannedOperation",
    "check_operations",
]

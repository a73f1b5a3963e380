"""Store values to brain memories and back, and `BaseStore` filters over them.

A value is ``{"content": ..., "category": ..., "metadata": {...}}``:

* ``content`` is required. Text is saved as the memory's content. Any other JSON value (langmem
  stores structured memories as ``{"content": <dict>}``) is saved as its JSON text, so that it is
  searchable, and comes back parsed: the memory's metadata records ``content_format: "json"``.
* ``category`` is optional (the scope's default, "fact"); a namespace's third label sets it.
* ``metadata`` is optional, a JSON object.

Other keys are refused with a message that lists them: the brain stores text memories, and a
silently dropped field would be lost data. A put replaces the whole value, as in every
`BaseStore`: a missing category or metadata resets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..brain.errors import MemoryValidationError
from ..brain.models import MemoryRecord

VALUE_KEYS = frozenset({"content", "category", "metadata"})
#: Metadata marker of a content saved as JSON text (parsed again on read).
CONTENT_FORMAT_KEY = "content_format"


@dataclass(frozen=True)
class MemoryValue:
    content: str
    category: str | None
    metadata: dict[str, Any]


def to_memory(value: Mapping[str, Any], namespace_category: str | None) -> MemoryValue:
    """The memory a put value describes; MemoryValidationError (a ValueError) when it cannot be one."""
    if not isinstance(value, Mapping):
        raise MemoryValidationError(f"a BrainStore value is a mapping, not {type(value).__name__}.")
    unknown = sorted(set(value) - VALUE_KEYS)
    if unknown:
        raise MemoryValidationError(
            f"BrainStore values hold 'content', 'category' and 'metadata' only; unknown keys {unknown}."
            " Put other fields under 'metadata'."
        )
    if "content" not in value or value["content"] is None:
        raise MemoryValidationError("a BrainStore value needs 'content': the text to remember.")
    metadata_in = value.get("metadata")
    if metadata_in is not None and not isinstance(metadata_in, Mapping):
        raise MemoryValidationError("'metadata' must be a JSON object.")
    metadata = dict(metadata_in or {})
    metadata.pop(CONTENT_FORMAT_KEY, None)
    content = value["content"]
    if not isinstance(content, str):
        try:
            content = json.dumps(content, ensure_ascii=False, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MemoryValidationError(f"'content' is not text or JSON: {exc}") from exc
        metadata[CONTENT_FORMAT_KEY] = "json"
    category = value.get("category")
    if namespace_category is not None:
        if category not in (None, namespace_category):
            raise MemoryValidationError(
                f"the value's category {category!r} contradicts the namespace's {namespace_category!r}."
            )
        category = namespace_category
    return MemoryValue(content, category, metadata)


def to_value(record: MemoryRecord) -> dict[str, Any]:
    """The store value of a memory (the inverse of `to_memory`)."""
    metadata = dict(record.metadata)
    content: Any = record.content
    if metadata.pop(CONTENT_FORMAT_KEY, None) == "json":
        try:
            content = json.loads(record.content)
        except ValueError:
            content = record.content  # edited as plain text elsewhere: show it as it is
    return {"content": content, "category": record.category, "metadata": metadata}


def _lookup(value: Mapping[str, Any], path: str) -> Any:
    current: Any = value
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


_MISSING = object()


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$eq":
        return bool(actual == expected)
    if op == "$ne":
        return bool(actual != expected)
    if op == "$in":
        return isinstance(expected, list) and actual in expected
    if op == "$nin":
        return isinstance(expected, list) and actual not in expected
    try:
        return bool(_ORDERING[op](actual, expected))
    except TypeError:
        return False  # incomparable (a number against text, a missing field): no match


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", *_ORDERING})


def check_filter(filter_: Mapping[str, Any] | None) -> None:
    """MemoryValidationError for an unknown operator, before anything is read."""
    for key, condition in (filter_ or {}).items():
        if key == "$and":
            if not isinstance(condition, list):
                raise MemoryValidationError("'$and' takes a list of filters.")
            for part in condition:
                check_filter(part)
            continue
        if isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
            unknown = sorted(str(op) for op in condition if op not in OPERATORS)
            if unknown:
                raise MemoryValidationError(
                    f"unknown filter operators {unknown} on {key!r}; use {sorted(OPERATORS)}."
                )


def matches(value: Mapping[str, Any], filter_: Mapping[str, Any] | None) -> bool:
    """Whether `value` satisfies a `BaseStore` filter.

    Keys are value fields, dotted for nested ones (``"metadata.source"``). A condition is a
    value (equality) or a mapping of operators: ``$eq $ne $gt $gte $lt $lte $in $nin``.
    ``{"$and": [filter, ...]}`` combines filters (LangGraph's server adds its auth filters so).
    """
    for key, condition in (filter_ or {}).items():
        if key == "$and":
            if not all(matches(value, part) for part in condition):
                return False
            continue
        actual = _lookup(value, key)
        if isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
            if actual is _MISSING or not all(_compare(op, actual, want) for op, want in condition.items()):
                return False
        elif actual is _MISSING or actual != condition:
            return False
    return True


def category_of(filter_: Mapping[str, Any] | None) -> str | None:
    """A plain category equality in the filter, which search can push down to SQL."""
    condition = (filter_ or {}).get("category")
    if isinstance(condition, str):
        return condition
    if isinstance(condition, Mapping) and set(condition) == {"$eq"} and isinstance(condition["$eq"], str):
        return str(condition["$eq"])
    return None


__all__ = [
    "CONTENT_FORMAT_KEY",
    "OPERATORS",
    "VALUE_KEYS",
    "MemoryValue",
    "category_of",
    "check_filter",
    "matches",
    "to_memory",
    "to_value",
]

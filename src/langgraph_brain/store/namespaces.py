"""How LangGraph store namespaces map onto brain entities.

A memory of the brain lives at the namespace ``(scope, entity_id, category)``:

* ``("user", "ana")`` is the whole keyspace of one user: a key (the slug) is unique per entity,
  whatever its category, so ``get``/``delete`` there find a memory of any category, and a
  search or listing there covers every category;
* ``("user", "ana", "preference")`` is the same keyspace seen through one category: ``get`` and
  ``delete`` there only match a memory of that category, ``put`` there sets the category.

Entity ids are normalised like everywhere else (trim, NFKC, lowercase by default), so the
namespace an item comes back with carries the normalised id. Namespaces of one or zero labels
(``("user",)``, ``()``) address every entity and are only meaningful to a role that row-level
security lets see every tenant (the owner, an operator).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langgraph.store.base import InvalidNamespaceError, MatchCondition

from ..brain.validation import CATEGORY_PATTERN, SCOPES, Scope

#: Labels of the longest namespace: scope, entity id, category.
MAX_DEPTH = 3


@dataclass(frozen=True)
class EntityPath:
    """A namespace of at least two labels: one entity, optionally narrowed to one category."""

    scope: Scope
    entity_label: str
    category: str | None = None


def check_labels(namespace: Sequence[object]) -> tuple[str, ...]:
    """The namespace as a tuple, or InvalidNamespaceError naming the bad label."""
    for label in namespace:
        if not isinstance(label, str) or not label:
            raise InvalidNamespaceError(
                f"Namespace label {label!r} in {tuple(namespace)} must be a non-empty string."
            )
        if "." in label or "\x00" in label:
            raise InvalidNamespaceError(
                f"Namespace label {label!r} in {tuple(namespace)} may not contain '.' or NUL."
            )
    return tuple(namespace)  # type: ignore[arg-type]


def parse_scope(label: str, namespace: Sequence[str]) -> Scope:
    if label not in SCOPES:
        raise InvalidNamespaceError(
            f"BrainStore namespaces start with 'user' or 'company', not {label!r} (in {tuple(namespace)}):"
            " use ('user', <user id>) or ('company', <company id>), optionally with a category label."
        )
    return label


def entity_path(namespace: Sequence[object]) -> EntityPath | None:
    """The entity a namespace addresses; None for a namespace of fewer than two labels.

    Raises:
        InvalidNamespaceError: bad labels, an unknown scope, more than three labels.
    """
    labels = check_labels(namespace)
    if len(labels) > MAX_DEPTH:
        raise InvalidNamespaceError(
            f"BrainStore namespaces have at most {MAX_DEPTH} labels (scope, entity id, category);"
            f" got {labels}."
        )
    if not labels:
        return None
    scope = parse_scope(labels[0], labels)
    if len(labels) == 1:
        return None
    return EntityPath(scope, labels[1], labels[2] if len(labels) == MAX_DEPTH else None)


def scope_prefix(namespace: Sequence[str]) -> Scope | None:
    """The scope a namespace of fewer than two labels is limited to (None: every scope)."""
    return parse_scope(namespace[0], namespace) if namespace else None


def require_entity(namespace: Sequence[object], operation: str) -> EntityPath:
    path = entity_path(namespace)
    if path is None:
        raise InvalidNamespaceError(
            f"{operation} needs a namespace naming one entity, ('user', <id>) or ('company', <id>)"
            f" (optionally with a category, pattern {CATEGORY_PATTERN}); got {tuple(namespace)}."
        )
    return path


def _matches(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    path = tuple(condition.path)
    if len(path) > len(namespace):
        return False
    window = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    return all(want == "*" or want == have for want, have in zip(path, window, strict=True))


def select_namespaces(
    namespaces: Sequence[tuple[str, ...]],
    conditions: Sequence[MatchCondition] | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> list[tuple[str, ...]]:
    """`ListNamespacesOp` semantics over the given namespaces: match, truncate, dedupe, sort, page."""
    matched = [ns for ns in namespaces if all(_matches(ns, c) for c in conditions or ())]
    if max_depth is not None:
        matched = [ns[:max_depth] for ns in matched]
    unique = sorted(set(matched))
    return unique[offset : offset + limit]


__all__ = [
    "MAX_DEPTH",
    "EntityPath",
    "check_labels",
    "entity_path",
    "parse_scope",
    "require_entity",
    "scope_prefix",
    "select_namespaces",
]

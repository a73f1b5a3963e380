"""Explicit importance, as the save tools and the HTTP API set it: a key of the memory's metadata.

A memory's importance (0..1) is the generated column `brain_memories.importance`, computed by the
database from the row (migration v9, `brain_importance(category, metadata)`): an explicit
`metadata.importance` wins, a pin counts as 1, else the category's base scaled by the memory's
`metadata.source` and `confidence`. Keeping the explicit value in the metadata means every write
path (save, bulk, import, the store, extraction) and export carry it without a column of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from langgraph.store.base import NotProvided

from .models import MemoryRecord
from .validation import validate_importance, validate_metadata

#: The metadata key an explicit importance lives under.
IMPORTANCE_KEY = "importance"


class Reader(Protocol):
    """What `ametadata_with_importance` needs (a `MemoryService` provides it)."""

    async def aget(
        self, scope: str, entity_id: str, slug: str, *, as_of: object = None, track: bool = True
    ) -> MemoryRecord | None: ...


async def ametadata_with_importance(
    reader: Reader,
    scope: str,
    entity_id: str,
    slug: str,
    importance: object,
    metadata: Mapping[str, Any] | NotProvided | None,
) -> dict[str, Any]:
    """The metadata a save should write to set (or, with None, clear) the explicit importance.

    Args:
        importance: a number from 0 to 1, or None to drop an explicit value (derive it again).
        metadata: the metadata the caller is saving, or NOT_PROVIDED to keep the memory's own
            (read now, without counting an access; a new memory starts from `{}`).

    Raises:
        MemoryValidationError: `importance` is not a number from 0 to 1, or `metadata` is invalid;
            checked before anything is read.
    """
    level = None if importance is None else validate_importance(importance)
    if isinstance(metadata, NotProvided):
        current = await reader.aget(scope, entity_id, slug, track=False)
        base = dict(current.metadata) if current is not None else {}
    else:
        base = validate_metadata(metadata)
    base.pop(IMPORTANCE_KEY, None)
    return base if level is None else {**base, IMPORTANCE_KEY: level}


__all__ = ["IMPORTANCE_KEY", "ametadata_with_importance"]

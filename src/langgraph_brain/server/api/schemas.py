"""Request bodies (pydantic, unknown fields refused) and the JSON shapes the routes return."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from langgraph_brain.brain.models import HistoryEntry, MemoryRecord, SaveResult, SearchHit
from langgraph_brain.brain.retrieval import RetrievalOptions
from langgraph_brain.brain.validation import MAX_K

#: Most items one bulk request may carry (the 1 MiB body limit usually binds first).
MAX_BULK_ITEMS = 1000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PutMemory(_Body):
    """PUT /brain/memories/{scope}/{slug}: create or replace one memory."""

    content: str = Field(description="The fact to remember, one or two sentences.")
    category: str | None = Field(
        default=None, description="Omitted keeps the memory's category (new: 'fact'); null sets the default."
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Omitted keeps the memory's metadata (new: {}); null sets {}."
    )
    importance: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="0..1, stored as metadata.importance (with the metadata given, or the memory's own)."
        " Omitted: unchanged; null: removed, so the importance is derived from the category again.",
    )
    reason: str | None = Field(default=None, max_length=500, description="Why, recorded in the history.")


class SearchRequest(_Body):
    """POST /brain/search/{scope}."""

    query: str = Field(description="What to look for, in any language.")
    mode: Literal["hybrid", "vector", "keyword"] | None = Field(
        default=None, description="Default: the server's BRAIN_SEARCH_MODE (hybrid)."
    )
    k: int = Field(default=5, ge=1, le=MAX_K, description="How many hits, 1..100.")
    category: str | None = Field(default=None, description="Only memories of this category.")
    min_score: float | None = Field(
        default=None, description="Drop hits scoring below this (scores compare within one mode only)."
    )
    as_of: str | None = Field(
        default=None,
        description="Search the versions valid at this past instant: ISO date (end of that day, UTC) or"
        " datetime with a timezone. 422 if in the future, without timezone or before the first memory.",
    )
    importance_weight: float | None = Field(
        default=None,
        description="This search's share of the final score given to importance, 0..1 (default: the"
        " server's BRAIN_RANK_IMPORTANCE_WEIGHT). With recency_weight at most 1 in all.",
    )
    recency_weight: float | None = Field(
        default=None,
        description="This search's share given to recency, 0..1 (default: BRAIN_RANK_RECENCY_WEIGHT).",
    )
    recency_half_life_days: float | None = Field(
        default=None,
        description="Days after which recency halves, > 0 (default: BRAIN_RANK_HALF_LIFE_DAYS).",
    )

    def ranking(self, base: RetrievalOptions) -> RetrievalOptions | None:
        """`base` with the ranking knobs this body sets, or None when it sets none. A bad value
        raises `MemoryValidationError` (a 422) from `RetrievalOptions`' own check."""
        if (
            self.importance_weight is None
            and self.recency_weight is None
            and self.recency_half_life_days is None
        ):
            return None
        return dataclasses.replace(
            base,
            importance_weight=base.importance_weight
            if self.importance_weight is None
            else self.importance_weight,
            recency_weight=base.recency_weight if self.recency_weight is None else self.recency_weight,
            recency_half_life_days=base.recency_half_life_days
            if self.recency_half_life_days is None
            else self.recency_half_life_days,
        )


class BulkItem(_Body):
    """One memory of a bulk save; scope and entity come from the route and the caller."""

    slug: str
    content: str
    category: str | None = None
    metadata: dict[str, Any] | None = None


class BulkRequest(_Body):
    """POST /brain/memories/{scope}/bulk."""

    items: list[BulkItem] = Field(max_length=MAX_BULK_ITEMS, description=f"At most {MAX_BULK_ITEMS} items.")


def provided(model: BaseModel, name: str) -> bool:
    """Whether the body named `name` (omitted and null mean different things for saves)."""
    return name in model.model_fields_set


def memory_json(record: MemoryRecord) -> dict[str, Any]:
    """The API's Memory object."""
    return {
        "scope": record.scope,
        "entity_id": record.entity_id,
        "slug": record.slug,
        "content": record.content,
        "category": record.category,
        "metadata": record.metadata,
        "version": record.version,
        "sync_state": record.sync_state,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        # The signals (README "Signals"): importance 0..1, and searches/gets that returned it.
        "importance": record.importance,
        "access_count": record.access_count,
        "last_accessed_at": record.last_accessed_at.isoformat() if record.last_accessed_at else None,
    }


def save_json(result: SaveResult) -> dict[str, Any]:
    """The answer to a save: what happened and the version now stored."""
    return {
        "status": result.status,
        "scope": result.scope,
        "entity_id": result.entity_id,
        "slug": result.slug,
        "version": result.version,
        "synced": result.memory_id is not None,
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """One search hit."""
    return hit.as_dict()


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """One entry of a memory's correction log."""
    return {
        "action": entry.action,
        "slug": entry.slug,
        "version": entry.version,
        "old_content": entry.old_content,
        "new_content": entry.new_content,
        "category": entry.category,
        "actor": entry.actor,
        "reason": entry.reason,
        "created_at": entry.created_at.isoformat(),
        # The interval in which new_content was the value (valid_to null: still current).
        "valid_from": entry.valid_from.isoformat() if entry.valid_from else None,
        "valid_to": entry.valid_to.isoformat() if entry.valid_to else None,
    }


__all__ = [
    "MAX_BULK_ITEMS",
    "BulkItem",
    "BulkRequest",
    "PutMemory",
    "SearchRequest",
    "history_json",
    "hit_json",
    "memory_json",
    "provided",
    "save_json",
]

"""Typed results returned by MemoryService."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypedDict

from .validation import Scope

SaveStatus = Literal["created", "updated", "unchanged"]


class Actor(TypedDict, total=False):
    """Who made a change, recorded in brain_history."""

    agent: str
    thread_id: str
    user_id: str


@dataclass(frozen=True)
class SaveResult:
    status: SaveStatus
    scope: Scope
    entity_id: str
    slug: str
    version: int
    memory_id: str | None


@dataclass(frozen=True)
class SearchHit:
    slug: str
    content: str
    category: str
    score: float
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["updated_at"] = self.updated_at.isoformat()
        return d


@dataclass(frozen=True)
class MemoryRecord:
    id: int
    scope: Scope
    entity_id: str
    slug: str
    content: str
    category: str
    metadata: dict[str, Any]
    memory_id: str | None
    sync_state: str
    version: int
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The JSON-lines export shape (also accepted by import)."""
        return {
            "scope": self.scope,
            "entity_id": self.entity_id,
            "slug": self.slug,
            "content": self.content,
            "category": self.category,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class HistoryEntry:
    brain_id: int
    scope: Scope
    entity_id: str
    slug: str
    action: str
    old_content: str | None
    new_content: str | None
    category: str | None
    version: int
    actor: dict[str, Any]
    reason: str | None
    created_at: datetime
    #: Start of the interval in which `new_content` was the slug's value (this entry's time).
    valid_from: datetime | None = None
    #: End of that interval: the time of the slug's next entry (an update or a forget); None
    #: while it is still the current value. A forget's interval is one in which the slug was absent.
    valid_to: datetime | None = None


@dataclass
class SaveManyResult:
    saved_count: int = 0
    failed_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "saved_count": self.saved_count,
            "failed_count": self.failed_count,
            "errors": self.errors,
        }

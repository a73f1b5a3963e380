"""The search index behind the brain (Mem0), as a small interface the service relies on."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def entity_key(scope: str, entity_id: str) -> str:
    """One Mem0 `user_id` per (scope, entity): 'user:42' and 'company:42' never meet.

    Mem0 rejects a user_id containing whitespace, and entity ids may contain spaces ("acme
    corp"), so whitespace and '%' are percent-encoded. The mapping stays one-to-one, and ids
    without either character keep the key they always had.
    """
    if "%" in entity_id or any(ch.isspace() for ch in entity_id):
        entity_id = "".join(
            "".join(f"%{b:02X}" for b in ch.encode("utf-8")) if ch == "%" or ch.isspace() else ch
            for ch in entity_id
        )
    return f"{scope}:{entity_id}"


#: One memory for `MemoryIndex.aadd_many`: content, entity key, metadata, and its document vector
#: if the caller embedded it already (None: the index embeds it).
IndexItem = tuple[str, str, dict[str, Any], list[float] | None]


class IndexMemoryMissing(LookupError):
    """The index has no memory with that id (deleted behind our back, or never written)."""


@dataclass(frozen=True)
class IndexHit:
    memory_id: str
    score: float
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def brain_id(self) -> int | None:
        raw = self.metadata.get("brain_id")
        try:
            return int(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None


class MemoryIndex(Protocol):
    """What MemoryService needs from Mem0. Implementations: Mem0OSSIndex, Mem0PlatformIndex."""

    name: str

    async def aadd(
        self, content: str, *, entity_key: str, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> str:
        """Store `content` (no LLM inference) and return the new memory id."""
        ...

    def approximate(self, entity_key: str) -> bool:
        """Whether searches of this entity use an approximate index (a large tenant)."""
        ...

    async def aembed_document(self, content: str) -> list[float] | None:
        """The document vector `aadd`/`aupdate` would store, or None if the index embeds remotely."""
        ...

    async def aadd_many(self, items: Sequence[IndexItem]) -> list[str]:
        """Store many memories at once (one entity's, or any as the owner); ids in order."""
        ...

    async def aupdate(
        self, memory_id: str, content: str, *, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> None:
        """Replace content and metadata; raise IndexMemoryMissing if the id is unknown."""
        ...

    async def adelete(self, memory_id: str) -> bool:
        """Delete; False if it was already gone."""
        ...

    async def aget(self, memory_id: str) -> IndexHit | None: ...

    async def asearch(
        self, query: str, *, entity_key: str, k: int, category: str | None = None
    ) -> list[IndexHit]:
        """Nearest memories of one entity, best first."""
        ...

    async def alist(self, *, entity_key: str | None = None, brain_id: int | None = None) -> list[IndexHit]:
        """Every memory carrying brain metadata, optionally for one entity or one brain row."""
        ...

    async def aclose(self) -> None: ...

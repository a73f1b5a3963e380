"""Hosted Mem0 platform (`AsyncMemoryClient`, MEM0_API_KEY) behind the same interface.

UNTESTED HERE: the platform is a remote service and this project's CI has no network beyond
package registries. The code follows the documented client API; run `brain doctor` with a key
to check it against your account before relying on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..settings import disable_mem0_telemetry
from .index import IndexHit, IndexItem, IndexMemoryMissing


class Mem0PlatformIndex:
    name = "mem0-platform"

    def __init__(self, api_key: str) -> None:
        disable_mem0_telemetry()
        from mem0 import AsyncMemoryClient

        self.client = AsyncMemoryClient(api_key=api_key)

    async def aadd(
        self, content: str, *, entity_key: str, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> str:
        """`vector` is ignored: the platform embeds with its own model."""
        result = await self.client.add(
            [{"role": "user", "content": content}], user_id=entity_key, metadata=metadata, infer=False
        )
        items = result.get("results", result) if isinstance(result, dict) else result
        if not items or not items[0].get("id"):
            raise RuntimeError(f"Mem0 platform add returned {result!r}")
        return str(items[0]["id"])

    def approximate(self, entity_key: str) -> bool:
        """The platform's index is its own business; the brain treats every tenant alike."""
        return False

    async def aembed_document(self, content: str) -> list[float] | None:
        """None: the platform embeds with its own model."""
        return None

    async def aadd_many(self, items: Sequence[IndexItem]) -> list[str]:
        """One add per memory: the platform's batch endpoint infers, which the brain never wants."""
        return [await self.aadd(content, entity_key=key, metadata=meta) for content, key, meta, _ in items]

    async def aupdate(
        self, memory_id: str, content: str, *, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> None:
        try:
            await self.client.update(memory_id, text=content, metadata=metadata)
        except Exception as exc:
            if "not found" in str(exc).lower() or "404" in str(exc):
                raise IndexMemoryMissing(memory_id) from exc
            raise

    async def adelete(self, memory_id: str) -> bool:
        try:
            await self.client.delete(memory_id)
        except Exception as exc:
            if "not found" in str(exc).lower() or "404" in str(exc):
                return False
            raise
        return True

    async def aget(self, memory_id: str) -> IndexHit | None:
        try:
            out = await self.client.get(memory_id)
        except Exception as exc:
            if "not found" in str(exc).lower() or "404" in str(exc):
                return None
            raise
        return _hit(out)

    async def asearch(
        self, query: str, *, entity_key: str, k: int, category: str | None = None
    ) -> list[IndexHit]:
        filters: dict[str, Any] = {"AND": [{"user_id": entity_key}]}
        if category is not None:
            filters["AND"].append({"metadata": {"category": category}})
        out = await self.client.search(query, filters=filters, top_k=k)
        items = out.get("results", out) if isinstance(out, dict) else out
        return [_hit(r) for r in items]

    async def alist(self, *, entity_key: str | None = None, brain_id: int | None = None) -> list[IndexHit]:
        filters: dict[str, Any] = {"AND": [{"user_id": entity_key or "*"}]}
        out = await self.client.get_all(filters=filters)
        items = out.get("results", out) if isinstance(out, dict) else out
        hits = [_hit(r) for r in items]
        return [h for h in hits if h.brain_id is not None and (brain_id is None or h.brain_id == brain_id)]

    async def aclose(self) -> None:
        return None


def _hit(item: dict[str, Any]) -> IndexHit:
    metadata = dict(item.get("metadata") or {})
    return IndexHit(
        memory_id=str(item["id"]),
        score=float(item.get("score") or 0.0),
        content=str(item.get("memory", "")),
        metadata=metadata,
    )

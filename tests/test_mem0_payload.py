"""The brain writes Mem0's collection in exactly the shape Mem0 writes it, so Mem0 reads it."""

from __future__ import annotations

from typing import Any

import pytest

from langgraph_brain.brain import IndexMemoryMissing, MemoryService, entity_key
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex


def _index(service: MemoryService) -> Mem0OSSIndex:
    assert isinstance(service.index, Mem0OSSIndex)
    return service.index


async def test_brain_write_matches_mem0_add_and_update(service: MemoryService) -> None:
    index = _index(service)
    key = entity_key("user", "payload-shape")
    meta = {"brain_id": "1", "slug": "city", "category": "fact"}
    with service.tenancy.bind_index("user", "payload-shape"):
        by_mem0 = await index.memory.add("Ana lives in Lisbon.", user_id=key, metadata=meta, infer=False)
        mem0_id = by_mem0["results"][0]["id"]
        ours_id = await index.aadd("Ana lives in Lisbon.", entity_key=key, metadata=meta)
        theirs, ours = await index.aget(mem0_id), await index.aget(ours_id)
    assert theirs is not None and ours is not None
    assert set(ours.metadata) == set(theirs.metadata)
    volatile = {"created_at", "updated_at"}
    assert {k: v for k, v in ours.metadata.items() if k not in volatile} == {
        k: v for k, v in theirs.metadata.items() if k not in volatile
    }
    # The stored vectors are the same document embedding (Mem0 embeds with the passage prefix too).
    vectors = await _vectors(service, [mem0_id, ours_id])
    assert vectors[mem0_id] == pytest.approx(vectors[ours_id], abs=1e-6)

    with service.tenancy.bind_index("user", "payload-shape"):
        await index.memory.update(mem0_id, text="Ana moved to Porto.", metadata={**meta, "version": 2})
        await index.aupdate(ours_id, "Ana moved to Porto.", metadata={**meta, "version": 2})
        theirs, ours = await index.aget(mem0_id), await index.aget(ours_id)
        # Mem0's own read API sees the brain's row as one of its memories.
        listed = await index.memory.get_all(filters={"user_id": key})
    assert theirs is not None and ours is not None
    assert {k: v for k, v in ours.metadata.items() if k not in volatile} == {
        k: v for k, v in theirs.metadata.items() if k not in volatile
    }
    assert ours.metadata["created_at"] < ours.metadata["updated_at"]
    assert {m["id"] for m in listed["results"]} >= {mem0_id, ours_id}
    vectors = await _vectors(service, [mem0_id, ours_id])
    assert vectors[mem0_id] == pytest.approx(vectors[ours_id], abs=1e-6)


async def test_update_of_a_missing_memory_says_so(service: MemoryService) -> None:
    with service.tenancy.bind_index("user", "payload-shape"), pytest.raises(IndexMemoryMissing):
        await _index(service).aupdate("00000000-0000-4000-8000-000000000000", "x", metadata={})


async def _vectors(service: MemoryService, ids: list[str]) -> dict[str, Any]:
    async with service.admin_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id::text AS id, vector::real[] AS v FROM brain_mem0 WHERE id = ANY(%s::uuid[])",
                (ids,),
            )
        ).fetchall()
    return {r["id"]: r["v"] for r in rows}

"""Approximate indexes for large tenants: used once built, exact before, no gap in between."""

from __future__ import annotations

import asyncio

import pytest

from langgraph_brain.brain import MemoryService
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.brain.retrieval import RetrievalOptions
from langgraph_brain.brain.vector_indexes import aensure_vector_indexes, index_name

#: The index's own order: the final score's importance weight (categories differ here) is off.
COSINE_ONLY = RetrievalOptions(importance_weight=0.0, recency_weight=0.0)

TOPICS = ["invoices", "the delivery van", "payroll", "the bakery oven", "supplier contracts"]
EXACT_SQL = (
    "SELECT payload->>'slug' AS slug FROM brain_mem0 WHERE payload->>'user_id' = %s"
    " ORDER BY (vector <=> %s::vector) + 0 LIMIT %s"
)


def _index(service: MemoryService) -> Mem0OSSIndex:
    assert isinstance(service.index, Mem0OSSIndex)
    return service.index


@pytest.fixture(scope="module")
async def service(service: MemoryService) -> MemoryService:
    big = [
        {
            "scope": "company",
            "entity_id": "bigco",
            "slug": f"note-{i}",
            "content": f"Note {i} about {TOPICS[i % 5]}: step {i // 5} of the {TOPICS[i % 5]} routine.",
            "category": "goal" if i % 8 == 0 else "fact",
        }
        for i in range(80)
    ]
    small = [{"scope": "company", "entity_id": "smallco", "slug": f"s-{i}", "content": f"Small fact {i}."}
             for i in range(5)]  # fmt: skip
    result = await service.asave_many(big + small)
    assert result.failed_count == 0
    _index(service).registry_ttl = 0.0  # re-read the registry on every search
    return service


async def _exact(service: MemoryService, entity: str, query: str, k: int) -> list[str]:
    vector = await _index(service).embeddings.aembed_query(query)
    async with service.admin_pool.connection() as conn:
        rows = await (await conn.execute(EXACT_SQL, (f"company:{entity}", vector, k))).fetchall()
    return [r["slug"] for r in rows]


async def _scans(service: MemoryService, name: str) -> int:
    async with service.admin_pool.connection() as conn:
        row = await (
            await conn.execute("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = %s", (name,))
        ).fetchone()
    return -1 if row is None else int(row["idx_scan"])


async def test_large_tenant_gets_an_index_that_search_uses_small_stays_exact(service: MemoryService) -> None:
    dry = await aensure_vector_indexes(service.admin_pool, threshold=60, dry_run=True)
    assert dry.created == {"company:bigco": 80}
    assert await _scans(service, index_name("company:bigco")) == -1  # a dry run builds nothing

    # Searches run while the index is built and registered: none fails, none comes back short.
    errors: list[BaseException] = []
    counts: list[int] = []
    stop = asyncio.Event()

    async def searching() -> None:
        while not stop.is_set():
            try:
                counts.append(
                    len(await service.asearch("company", "bigco", "payroll routine", k=5, mode="vector"))
                )
            except BaseException as exc:  # any failure is what this test looks for
                errors.append(exc)
            await asyncio.sleep(0)

    task = asyncio.create_task(searching())
    plan = await aensure_vector_indexes(service.admin_pool, threshold=60)
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert plan.created == {"company:bigco": 80} and not errors and counts and set(counts) == {5}

    name = index_name("company:bigco")
    before = await _scans(service, name)
    for query in ("payroll routine", "what about the van?", "invoices step 3"):
        hits = await service.asearch("company", "bigco", query, k=5, mode="vector", retrieval=COSINE_ONLY)
        assert [h.slug for h in hits] == await _exact(service, "bigco", query, 5)
    for _ in range(150):  # an idle backend flushes its statistics within 10 s (PGSTAT_IDLE_INTERVAL)
        if await _scans(service, name) >= before + 3:
            break
        await asyncio.sleep(0.1)
    assert await _scans(service, name) >= before + 3  # the searches went through the index
    # A category filter still fills k through the index (iterative scan), and only that category.
    goals = await service.asearch("company", "bigco", "payroll routine", k=5, mode="vector", category="goal")
    assert len(goals) == 5 and all(h.category == "goal" for h in goals)
    # Hybrid on a large tenant: the keyword side re-scores the vector side's candidates only.
    hybrid = await service.asearch("company", "bigco", "payroll routine", k=5, mode="hybrid")
    assert len(hybrid) == 5 and {h.slug for h in hybrid} <= {f"note-{i}" for i in range(80)}
    vector_top = await service.asearch("company", "bigco", "payroll routine", k=40, mode="vector")
    assert {h.slug for h in hybrid} <= {h.slug for h in vector_top} | {f"note-{i}" for i in range(80)}
    # The small tenant has no index and is searched exactly.
    small = await service.asearch("company", "smallco", "small fact", k=10, mode="vector")
    assert {h.slug for h in small} == {f"s-{i}" for i in range(5)}
    assert (await aensure_vector_indexes(service.admin_pool, threshold=60)).kept == ["company:bigco"]


async def test_index_of_a_shrunk_tenant_is_dropped(service: MemoryService) -> None:
    await aensure_vector_indexes(service.admin_pool, threshold=60)
    for i in range(55):
        await service.aforget("company", "bigco", f"note-{i}")
    plan = await aensure_vector_indexes(service.admin_pool, threshold=60)  # 25 left, under 60 / 2
    assert plan.dropped == ["company:bigco"]
    assert await _scans(service, index_name("company:bigco")) == -1
    hits = await service.asearch(
        "company", "bigco", "payroll routine", k=5, mode="vector", retrieval=COSINE_ONLY
    )
    assert [h.slug for h in hits] == await _exact(service, "bigco", "payroll routine", 5)


async def test_threshold_is_validated(service: MemoryService) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await aensure_vector_indexes(service.admin_pool, threshold=0)

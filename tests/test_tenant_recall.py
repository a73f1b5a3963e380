"""Tenant-scoped search has exact recall: a small tenant among many rows gets all its memories."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.synthetic import bulk_load, embed_texts, synthetic_texts
from langgraph_brain.brain import MemoryService, open_memory_service, shared_embeddings
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings

pytestmark = pytest.mark.slow

SMALL_TENANT = {
    "bank_account": "Our company account is at Banco Estado, branch 42.",
    "tax_id": "The company RUT is 76.123.456-7.",
    "fiscal_year": "Our fiscal year closes on December 31.",
    "payroll_day": "Payroll is paid on the 25th of each month.",
    "accountant": "Our external accountant is Marta Rojas.",
}
QUERIES = [
    "where is our bank account",
    "company tax id",
    "when does the fiscal year end",
    "salary",
    "who does the books",
]


@pytest.fixture(scope="module")
async def loaded(database: Database) -> AsyncIterator[MemoryService]:
    async with open_memory_service(BrainSettings(), database=database) as svc:
        texts = synthetic_texts(200)
        vectors = embed_texts(shared_embeddings("e5", "text-embedding-3-small"), texts)
        async with database.pool.connection() as conn:
            # 20,000 rows of 400 other tenants: 4,000x the small tenant.
            assert (
                await bulk_load(
                    conn, texts=texts, vectors=vectors, entities=400, per_entity=50, scope="company"
                )
                == 20_000
            )
        for slug, content in SMALL_TENANT.items():
            await svc.asave("company", "small-co", slug, content)
        yield svc


@pytest.mark.parametrize("k", [5, 10])
@pytest.mark.parametrize("query", QUERIES)
async def test_small_tenant_gets_all_its_memories(loaded: MemoryService, query: str, k: int) -> None:
    hits = await loaded.asearch("company", "small-co", query, k=k)
    assert {h.slug for h in hits} == set(SMALL_TENANT)


async def test_search_plan_scans_one_tenant_through_its_index(loaded: MemoryService) -> None:
    vector = loaded.index.embeddings.embed_query("salary")  # type: ignore[attr-defined]
    async with loaded.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "EXPLAIN SELECT id, vector <=> %s::vector AS distance FROM brain_mem0"
                " WHERE payload->>'user_id' = %s ORDER BY distance LIMIT 5",
                (vector, "company:small-co"),
            )
        ).fetchall()
    plan = "\n".join(r["QUERY PLAN"] for r in rows)
    assert "brain_mem0_entity_idx" in plan, plan


async def test_bulk_loaded_tenants_are_searchable_and_isolated(loaded: MemoryService) -> None:
    hits = await loaded.asearch("company", "tenant-7", "who prefers email", k=50)
    assert len(hits) == 50
    assert all(h.slug.startswith("fact_") for h in hits)
    records = {r.slug: r.content for r in await loaded.alist("company", "tenant-7", limit=100)}
    assert all(records[h.slug] == h.content for h in hits)

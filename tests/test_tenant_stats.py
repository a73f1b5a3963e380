"""BM25's per-tenant statistics (migration v8) stay equal to what a full count would say."""

from __future__ import annotations

from langgraph_brain.brain import MemoryService
from langgraph_brain.maintenance import aerase

RECOUNT_SQL = """
SELECT coalesce(s.docs, 0) AS kept_docs, coalesce(s.lexemes, 0) AS kept_lexemes,
       (SELECT count(*) FROM brain_memories m WHERE m.scope = %(scope)s AND m.entity_id = %(entity)s) AS docs,
       (SELECT coalesce(sum(length(search_tsv)), 0) FROM brain_memories m
        WHERE m.scope = %(scope)s AND m.entity_id = %(entity)s) AS lexemes
FROM (SELECT 1) AS one
LEFT JOIN brain_tenant_stats AS s ON s.scope = %(scope)s AND s.entity_id = %(entity)s
"""


async def _check(service: MemoryService, scope: str, entity: str) -> tuple[int, int]:
    async with service.admin_pool.connection() as conn:
        row = await (await conn.execute(RECOUNT_SQL, {"scope": scope, "entity": entity})).fetchone()
    assert row is not None
    assert (row["kept_docs"], row["kept_lexemes"]) == (row["docs"], row["lexemes"])
    return row["docs"], row["lexemes"]


async def test_statistics_follow_every_write(service: MemoryService) -> None:
    assert await _check(service, "user", "stats") == (0, 0)
    await service.asave("user", "stats", "a", "I like green tea in the morning.")
    await service.asave("user", "stats", "b", "Mi hermana vive en Oporto.")
    docs, lexemes = await _check(service, "user", "stats")
    assert docs == 2 and lexemes > 0
    await service.asave("user", "stats", "a", "I like green tea in the morning and black coffee at night.")
    assert (await _check(service, "user", "stats"))[1] > lexemes
    await service.asave("user", "stats", "a", "I like green tea in the morning and black coffee at night.")
    await service.aforget("user", "stats", "b")
    assert (await _check(service, "user", "stats"))[0] == 1
    items = [
        {"scope": "user", "entity_id": "stats", "slug": f"n{i}", "content": f"Note number {i}."}
        for i in range(7)
    ]
    await service.asave_many(items)
    assert (await _check(service, "user", "stats"))[0] == 8
    await _check(service, "company", "stats")  # same id, other scope: its own row (none)
    await aerase(service, "user", "stats")
    assert await _check(service, "user", "stats") == (0, 0)


async def test_keyword_search_uses_them(service: MemoryService) -> None:
    await service.asave("company", "kw", "tax", "The company pays VAT quarterly.")
    await service.asave("company", "kw", "van", "The delivery van is serviced in March.")
    hits = await service.asearch("company", "kw", "when is VAT paid?", mode="keyword")
    assert [h.slug for h in hits] == ["tax"]

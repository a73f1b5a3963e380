"""MemoryService on real Postgres + real Mem0: idempotent saves, scoping, bad input, concurrency."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from langgraph_brain.brain import (
    BrainConfigurationError,
    MemoryNotFoundError,
    MemoryService,
    MemoryValidationError,
    normalize_rut,
    normalize_rut_checked,
)
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings


@pytest.fixture(scope="module")
def service_settings() -> BrainSettings:
    return BrainSettings(max_content_chars=500)


async def _counts(svc: MemoryService) -> tuple[int, int, int]:
    async with svc.pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM brain_memories) AS rows,"
                " (SELECT count(*) FROM brain_history) AS history,"
                " (SELECT count(*) FROM brain_mem0) AS mem0"
            )
        ).fetchone()
    assert row is not None
    return row["rows"], row["history"], row["mem0"]


async def _mem0_content(svc: MemoryService, memory_id: str) -> str | None:
    hit = await svc.index.aget(memory_id)
    return None if hit is None else hit.content


async def test_save_is_idempotent_per_slug(service: MemoryService) -> None:
    first = await service.asave("company", "acme", "company_tax_regime", "Acme uses the ProPyme regime.")
    again = await service.asave("company", "acme", "company_tax_regime", "Acme uses the ProPyme regime.")
    changed = await service.asave(
        "company", "acme", "company_tax_regime", "Acme moved to the general regime."
    )
    assert (first.status, again.status, changed.status) == ("created", "unchanged", "updated")
    assert first.memory_id == again.memory_id == changed.memory_id
    assert changed.version == 2
    rows = await service.alist("company", "acme")
    assert [r.slug for r in rows] == ["company_tax_regime"]
    assert rows[0].content == "Acme moved to the general regime." and rows[0].sync_state == "synced"
    assert await _mem0_content(service, changed.memory_id or "") == "Acme moved to the general regime."
    history = await service.ahistory("company", "acme", "company_tax_regime")
    assert [(h.action, h.new_content) for h in history] == [
        ("update", "Acme moved to the general regime."),
        ("create", "Acme uses the ProPyme regime."),
    ]
    assert history[0].old_content == "Acme uses the ProPyme regime."
    assert (await acheck_invariant(service)).ok


async def test_omitted_category_and_metadata_are_kept(service: MemoryService) -> None:
    # Omitted (NOT_PROVIDED) keeps what the memory has; explicit None means the default.
    args = ("user", "omit-carol", "name")
    first = await service.asave(
        *args, "Carol's name is Carol.", category="profile", metadata={"pinned": True}
    )
    again = await service.asave(*args, "Carol's name is Carol.")
    assert (first.status, again.status) == ("created", "unchanged")
    assert again.version == first.version
    changed = await service.asave(*args, "Carol prefers to be called Caz.")
    assert changed.status == "updated"
    record = await service.aget(*args)
    assert record is not None
    assert (record.category, record.metadata) == ("profile", {"pinned": True})
    assert record.content == "Carol prefers to be called Caz."
    reset = await service.asave(*args, "Carol prefers to be called Caz.", category=None, metadata=None)
    assert reset.status == "updated"
    record = await service.aget(*args)
    assert record is not None and (record.category, record.metadata) == ("fact", {})
    new = await service.asave("user", "omit-carol", "city", "Carol lives in Lyon.")
    record = await service.aget("user", "omit-carol", "city")
    assert new.status == "created" and record is not None
    assert (record.category, record.metadata) == ("fact", {})
    assert (await acheck_invariant(service)).ok


async def test_search_returns_only_the_callers_memories(service: MemoryService) -> None:
    await service.asave("user", "1", "favourite_food", "My favourite food is sushi.", category="preference")
    await service.asave("user", "12", "favourite_food", "My favourite food is pizza.", category="preference")
    await service.asave("company", "1", "favourite_food", "The office orders tacos on Fridays.")
    hits = await service.asearch("user", "1", "what food do I like?", k=10)
    assert [(h.slug, h.content) for h in hits] == [("favourite_food", "My favourite food is sushi.")]
    assert hits[0].category == "preference" and 0 < hits[0].score <= 1
    hits12 = await service.asearch("user", "12", "what food do I like?", k=10)
    assert [h.content for h in hits12] == ["My favourite food is pizza."]
    company = await service.asearch("company", "1", "food", k=10)
    assert [h.content for h in company] == ["The office orders tacos on Fridays."]
    assert await service.asearch("user", "nobody", "food") == []


async def test_search_filters_by_category(service: MemoryService) -> None:
    await service.asave("user", "cat-user", "home_city", "I live in Valparaíso.", category="profile")
    await service.asave(
        "user", "cat-user", "likes_tea", "I drink green tea every morning.", category="preference"
    )
    hits = await service.asearch(
        "user", "cat-user", "where do I live and what do I drink", k=5, category="profile"
    )
    assert [h.slug for h in hits] == ["home_city"]


async def test_entity_ids_are_normalised(service: MemoryService) -> None:
    await service.asave("user", "  Alice@Example.COM ", "nickname", "Call me Ali.")
    record = await service.aget("user", "alice@example.com", "nickname")
    assert record is not None and record.entity_id == "alice@example.com"
    assert normalize_rut("12.345.678-K") == "12345678k"
    assert normalize_rut_checked("12.345.678-5") == "12345678k".replace("k", "5")
    with pytest.raises(BrainConfigurationError):
        normalize_rut_checked("12.345.678-K")
    with pytest.raises(BrainConfigurationError):
        await service.asave("user", "   ", "nickname", "x")


BAD_SAVES: list[tuple[str, dict[str, Any], str]] = [
    ("bad slug", {"slug": "Company Tax Regime"}, "try 'company_tax_regime'"),
    ("slug with quote", {"slug": "x'; DROP TABLE brain_memories; --"}, "slug"),
    ("slug too long", {"slug": "a" * 129}, "slug"),
    ("empty content", {"content": ""}, "content is empty"),
    ("blank content", {"content": "  \n\t "}, "content is empty"),
    ("oversized content", {"content": "x" * 501}, "limit is 500"),
    ("NUL byte", {"content": "abc\x00def"}, "NUL"),
    ("lone surrogate", {"content": "abc\ud800def"}, "surrogate"),
    ("not text", {"content": 42}, "must be text"),
    ("unknown scope", {"scope": "team"}, "scope must be"),
    ("bad category", {"category": "Tax Stuff!"}, "category"),
    ("metadata with NUL", {"metadata": {"a": "x\x00"}}, "NUL"),
    ("metadata not JSON", {"metadata": {"a": object()}}, "JSON"),
]


@pytest.mark.parametrize(("case", "override", "message"), BAD_SAVES, ids=[c[0] for c in BAD_SAVES])
async def test_bad_input_is_rejected_and_nothing_is_stored(
    service: MemoryService, case: str, override: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "scope": "user",
        "entity_id": "validator",
        "slug": "valid_slug",
        "content": "valid content",
        **override,
    }
    before = await _counts(service)
    with pytest.raises(MemoryValidationError) as err:
        await service.asave(
            args["scope"],
            args["entity_id"],
            args["slug"],
            args["content"],
            category=args.get("category"),
            metadata=args.get("metadata"),
        )
    assert message in str(err.value)
    assert await _counts(service) == before


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [
        ("", 5, "query is empty"),
        ("x\x00", 5, "NUL"),
        ("ok", 0, "k must"),
        ("ok", 101, "k must"),
        ("ok", -3, "k must"),
    ],
)
async def test_bad_search_input_is_rejected(service: MemoryService, query: str, k: int, message: str) -> None:
    with pytest.raises(MemoryValidationError, match=message):
        await service.asearch("user", "validator", query, k=k)


async def test_concurrent_saves_of_one_slug_leave_one_row_and_one_memory(service: MemoryService) -> None:
    contents = [f"The meeting room code is {1000 + i}." for i in range(20)]
    results = await asyncio.gather(
        *(service.asave("company", "race-co", "meeting_room_code", c) for c in contents)
    )
    assert sorted(r.status for r in results).count("created") == 1
    rows = await service.alist("company", "race-co")
    assert len(rows) == 1
    row = rows[0]
    history = await service.ahistory("company", "race-co", "meeting_room_code")
    # Every change is in the history, and the row holds the last committed one.
    assert len(history) == 20
    assert sorted(h.new_content for h in history if h.new_content) == sorted(contents)
    assert history[0].new_content == row.content and history[0].version == row.version == 20
    hits = await service.index.alist(entity_key="company:race-co")
    assert [(h.memory_id, h.content) for h in hits] == [(row.memory_id, row.content)]
    assert (await acheck_invariant(service)).ok


async def test_update_recreates_a_memory_deleted_in_mem0_behind_our_back(service: MemoryService) -> None:
    first = await service.asave("user", "lost", "pet_name", "My dog is called Bruno.")
    assert first.memory_id is not None
    assert await service.index.adelete(first.memory_id)  # someone deletes it directly in Mem0
    second = await service.asave("user", "lost", "pet_name", "My dog is called Bruno Díaz.")
    assert second.status == "updated" and second.memory_id not in (None, first.memory_id)
    assert await service.index.aget(first.memory_id) is None
    assert await _mem0_content(service, second.memory_id or "") == "My dog is called Bruno Díaz."
    record = await service.aget("user", "lost", "pet_name")
    assert record is not None and record.memory_id == second.memory_id
    hits = await service.asearch("user", "lost", "what is my dog called?")
    assert [h.content for h in hits] == ["My dog is called Bruno Díaz."]


async def test_forget_removes_from_both_stores(service: MemoryService) -> None:
    saved = await service.asave("user", "forgetful", "old_address", "I used to live on Elm Street.")
    forgotten = await service.aforget("user", "forgetful", "old_address", reason="user asked")
    assert forgotten.slug == "old_address"
    assert await service.aget("user", "forgetful", "old_address") is None
    assert await service.index.aget(saved.memory_id or "") is None
    assert await service.asearch("user", "forgetful", "where did I live?") == []
    history = await service.ahistory("user", "forgetful")
    assert history[0].action == "forget" and history[0].reason == "user asked"
    with pytest.raises(MemoryNotFoundError, match="search first"):
        await service.aforget("user", "forgetful", "old_address")
    # The same slug can be saved again after being forgotten.
    again = await service.asave("user", "forgetful", "old_address", "I live on Oak Street now.")
    assert again.status == "created"


async def test_save_many_reports_counts_and_per_item_errors(service: MemoryService) -> None:
    items = [
        {"scope": "user", "entity_id": "bulk", "slug": "a", "content": "Alpha."},
        {"scope": "user", "entity_id": "bulk", "slug": "Bad Slug", "content": "Beta."},
        {"scope": "user", "entity_id": "bulk", "slug": "c", "content": ""},
        {"scope": "user", "entity_id": "bulk", "slug": "d", "content": "Delta.", "category": "goal"},
    ]
    result = await service.asave_many(items)
    assert result.as_dict()["saved_count"] == 2 and result.failed_count == 2
    assert [e["index"] for e in result.errors] == [1, 2]
    assert "try 'bad_slug'" in result.errors[0]["error"]
    assert {r.slug for r in await service.alist("user", "bulk")} == {"a", "d"}


async def test_export_then_import_round_trips(service: MemoryService, database: Database) -> None:
    await service.asave("company", "export-co", "vat_rate", "VAT is 19%.", category="company_tax")
    await service.asave("company", "export-co", "founded", "Founded in 2019.", metadata={"source": "deck"})
    exported = [r async for r in service.aexport(scope="company", entity_id="export-co")]
    assert {r["slug"] for r in exported} == {"vat_rate", "founded"}
    for r in exported:
        await service.aforget("company", "export-co", r["slug"])
    lines = [json.dumps(r) for r in exported] + ["not json", ""]
    result = await service.aimport_jsonl(lines)
    assert result.saved_count == 2 and result.failed_count == 1
    restored = {r.slug: r for r in await service.alist("company", "export-co")}
    assert restored["vat_rate"].category == "company_tax"
    assert restored["founded"].metadata == {"source": "deck"}
    assert (await acheck_invariant(service)).ok


async def test_sync_twins_work_from_another_thread(service: MemoryService) -> None:
    box: dict[str, Any] = {}

    def worker() -> None:
        box["saved"] = service.save("user", "threaded", "lang", "I speak Spanish.")
        box["hits"] = service.search("user", "threaded", "which language do I speak?")

    thread = threading.Thread(target=worker)
    thread.start()
    # Join off the loop: the worker's calls run on this very loop and need it free.
    await asyncio.to_thread(thread.join)
    assert box["saved"].status == "created"
    assert [h.slug for h in box["hits"]] == ["lang"]
    with pytest.raises(RuntimeError, match="own event loop"):
        service.get("user", "threaded", "lang")


async def test_import_reports_errors_by_input_line(service: MemoryService) -> None:
    good = {"scope": "user", "entity_id": "importer", "slug": "ok", "content": "Fine."}
    bad_slug = {**good, "slug": "Not OK"}
    result = await service.aimport_jsonl(["not json", json.dumps(good), "", json.dumps(bad_slug)])
    assert (result.saved_count, result.failed_count) == (1, 2)
    assert [e["index"] for e in result.errors] == [0, 3]
    # The line is in "index"; the message does not repeat it (the CLI printed "line 4: line 4:").
    assert result.errors[0]["error"].startswith("not a JSON object")
    assert result.errors[1]["error"].startswith("slug 'Not OK' is invalid")

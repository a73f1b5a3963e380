""" "As of" reads on the real service (Postgres, Mem0, e5): facts that change over time.

Timestamps are controlled by saving through the service and then moving each new history entry's
`created_at` to a known instant (an UPDATE of brain_history as the owner), in the order of the
writes, so the intervals below are exact and no test sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_brain.brain import MemoryService, MemoryValidationError
from langgraph_brain.tools import BrainContext, create_memory_tools

U = "alice"
T_PARIS = datetime(2024, 1, 1, 12, tzinfo=UTC)
T_MADRID = datetime(2024, 6, 1, 12, tzinfo=UTC)
T_FORGET_EMPLOYER = datetime(2024, 9, 1, 12, tzinfo=UTC)
T_LISBON = datetime(2025, 1, 1, 12, tzinfo=UTC)
T_PET = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def _at(svc: MemoryService, slug: str, when: datetime) -> None:
    """Move the newest history entry of `slug` to `when`."""
    async with svc.admin_pool.connection() as conn:
        await conn.execute(
            "UPDATE brain_history SET created_at = %s WHERE id = (SELECT max(id) FROM brain_history"
            " WHERE scope = 'user' AND entity_id = %s AND slug = %s)",
            (when, U, slug),
        )


@pytest.fixture(scope="module")
async def service(service: MemoryService) -> AsyncIterator[MemoryService]:
    """The shared service with alice's changing facts, at the instants above."""
    svc = service
    for _ in range(1):  # one indented block: the writes, each moved to its instant
        await svc.asave("user", U, "home_city", "Alice lives in Paris.", category="profile")
        await _at(svc, "home_city", T_PARIS)
        await svc.asave("user", U, "employer", "Alice works at Acme Corporation as an engineer.")
        await _at(svc, "employer", T_PARIS)
        await svc.asave("user", U, "pet", "Alice has a cat named Tom.")
        await _at(svc, "pet", T_PET)
        await svc.asave("user", U, "home_city", "Alice lives in Madrid.")
        await _at(svc, "home_city", T_MADRID)
        await svc.aforget("user", U, "employer")
        await _at(svc, "employer", T_FORGET_EMPLOYER)
        await svc.asave("user", U, "home_city", "Alice lives in Lisbon.")
        await _at(svc, "home_city", T_LISBON)
        yield svc


async def test_now_questions_find_the_current_value_first(service: MemoryService) -> None:
    hits = await service.asearch("user", U, "Which city does Alice live in?")
    assert hits[0].content == "Alice lives in Lisbon."
    record = await service.aget("user", U, "home_city")
    assert record is not None and record.content == "Alice lives in Lisbon." and record.sync_state == "synced"


async def test_get_as_of_returns_the_value_valid_then(service: MemoryService) -> None:
    expected = {
        T_PARIS: "Paris",
        T_MADRID - timedelta(seconds=1): "Paris",
        T_MADRID: "Madrid",
        T_LISBON - timedelta(microseconds=1): "Madrid",
        T_LISBON + timedelta(days=1): "Lisbon",
    }
    for when, city in expected.items():
        record = await service.aget("user", U, "home_city", as_of=when)
        assert record is not None and record.content == f"Alice lives in {city}.", when
    # A date is the end of that day (UTC); an ISO string with an offset is read as such.
    record = await service.aget("user", U, "home_city", as_of="2024-06-01")
    assert record is not None and record.content == "Alice lives in Madrid."
    record = await service.aget("user", U, "home_city", as_of="2024-06-01T13:30:00+02:00")
    assert record is not None and record.content == "Alice lives in Paris."
    assert record.created_at == T_PARIS and record.updated_at == T_PARIS and record.category == "profile"


async def test_list_as_of_shows_forgotten_memories_only_before_their_forget(service: MemoryService) -> None:
    async def slugs(when: object) -> list[str]:
        return [r.slug for r in await service.alist("user", U, as_of=when)]

    assert await slugs(T_PARIS) == ["employer", "home_city"]
    assert await slugs(T_PET) == ["employer", "home_city", "pet"]
    assert await slugs(T_FORGET_EMPLOYER - timedelta(seconds=1)) == ["employer", "home_city", "pet"]
    assert await slugs(T_FORGET_EMPLOYER) == ["home_city", "pet"]
    assert await service.aget("user", U, "employer", as_of=T_FORGET_EMPLOYER) is None
    assert [r.slug for r in await service.alist("user", U)] == ["home_city", "pet"]
    paged = await service.alist("user", U, as_of=T_PET, after_slug="employer", limit=1)
    assert [r.slug for r in paged] == ["home_city"]
    assert [r.slug for r in await service.alist("user", U, as_of=T_PET, category="profile")] == ["home_city"]


@pytest.mark.parametrize(
    ("mode", "query"),
    [("hybrid", "Which city does Alice live in?"), ("vector", "Which city does Alice live in?"),
     ("keyword", "where Alice lives")],
)  # fmt: skip
async def test_search_as_of_returns_the_value_valid_then(
    service: MemoryService, mode: str, query: str
) -> None:
    for when, city in ((T_PARIS, "Paris"), (T_MADRID + timedelta(days=30), "Madrid")):
        hits = await service.asearch("user", U, query, as_of=when, mode=mode)
        assert hits[0].content == f"Alice lives in {city}.", (mode, when)
        assert hits[0].slug == "home_city" and hits[0].category == "profile"
    assert {h.slug for h in await service.asearch("user", U, "Alice lives", as_of=T_LISBON, mode=mode)} <= {
        "home_city",
        "pet",
    }


async def test_search_as_of_sees_a_forgotten_memory_only_before_its_forget(service: MemoryService) -> None:
    query = "Where does Alice work? Which company employs her?"
    before = await service.asearch("user", U, query, as_of=T_FORGET_EMPLOYER - timedelta(days=1))
    assert before[0].slug == "employer"
    after = await service.asearch("user", U, query, as_of=T_FORGET_EMPLOYER)
    assert "employer" not in {h.slug for h in after}
    assert "employer" not in {h.slug for h in await service.asearch("user", U, query)}


async def test_history_shows_each_values_validity_interval(service: MemoryService) -> None:
    entries = await service.ahistory("user", U, "home_city")
    assert [(e.new_content, e.valid_from, e.valid_to) for e in entries] == [
        ("Alice lives in Lisbon.", T_LISBON, None),
        ("Alice lives in Madrid.", T_MADRID, T_LISBON),
        ("Alice lives in Paris.", T_PARIS, T_MADRID),
    ]
    employer = await service.ahistory("user", U, "employer")
    assert [(e.action, e.valid_from, e.valid_to) for e in employer] == [
        ("forget", T_FORGET_EMPLOYER, None),
        ("create", T_PARIS, T_FORGET_EMPLOYER),
    ]
    # A truncated page still has exact intervals: the later entries come first (Lisbon, forget, Madrid).
    page = await service.ahistory("user", U, limit=3)
    assert (page[2].new_content, page[2].valid_from, page[2].valid_to) == (
        "Alice lives in Madrid.",
        T_MADRID,
        T_LISBON,
    )


BAD_AS_OF = [
    (datetime.now(UTC) + timedelta(days=2), "in the future"),
    ((datetime.now(UTC) + timedelta(days=2)).date().isoformat(), "in the future"),
    (T_PARIS - timedelta(seconds=1), "nothing was stored yet"),
    ("2023-12-31", "nothing was stored yet"),
    (datetime(2024, 6, 1, 12), "has no timezone"),
    ("2024-06-01T12:00:00", "has no timezone"),
    ("last march", "is not an ISO date"),
    ("2024-13-01", "is not an ISO date"),
    (1717243200, "must be a date, a datetime or an ISO 8601 string"),
]


@pytest.mark.parametrize(("as_of", "message"), BAD_AS_OF)
async def test_bad_as_of_is_a_clear_error_on_every_read(
    service: MemoryService, as_of: object, message: str
) -> None:
    with pytest.raises(MemoryValidationError, match=message):
        await service.aget("user", U, "home_city", as_of=as_of)
    with pytest.raises(MemoryValidationError, match=message):
        await service.alist("user", U, as_of=as_of)
    with pytest.raises(MemoryValidationError, match=message):
        await service.asearch("user", U, "city", as_of=as_of)


async def test_an_entity_with_no_memories_had_nothing_stored_yet(service: MemoryService) -> None:
    with pytest.raises(MemoryValidationError, match="nothing was stored yet"):
        await service.alist("user", "nobody", as_of=T_LISBON)
    # The tenant filter holds for the past as well: another user's history is not read.
    with pytest.raises(MemoryValidationError, match="nothing was stored yet"):
        await service.asearch("company", U, "Which city does Alice live in?", as_of=T_LISBON)


async def test_search_tool_takes_as_of_and_words_errors_for_the_model(service: MemoryService) -> None:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(create_memory_tools(service)))
    g.add_edge(START, "tools")
    graph = g.compile()

    async def search(as_of: str) -> ToolMessage:
        args = {"query": "Which city does Alice live in?", "k": 1, "as_of": as_of}
        call = AIMessage("", tool_calls=[{"name": "search_user_memory", "args": args, "id": "c1"}])
        out = await graph.ainvoke({"messages": [call]}, context={"user_id": "Alice"})
        msg = out["messages"][-1]
        assert isinstance(msg, ToolMessage)
        return msg

    past = await search("2024-07-01")
    assert past.status != "error" and "as of 2024-07-01" in past.text and "Madrid" in past.text
    future = await search("2999-01-01")
    assert future.status == "error" and "in the future" in future.text and "Leave as_of out" in future.text

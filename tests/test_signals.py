"""Importance on every memory (issue 15): explicit from the save tools, the HTTP API and metadata, else
derived by the database (migration v9) from category, source and confidence.

Real Postgres, Mem0 and e5. Bad values are refused on every save path with nothing stored: a
`MemoryValidationError` from the service, an error message the model can act on from the save
tool, a 422 from the HTTP API. Access counts are in tests/test_access.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_brain.brain import MemoryService, MemoryValidationError
from langgraph_brain.brain.factory import aclose_shared_service, get_shared_service
from langgraph_brain.identity import AUTH_USER_KIND
from langgraph_brain.server.api.app import create_app
from langgraph_brain.settings import BrainSettings
from langgraph_brain.store import BrainStore
from langgraph_brain.tools import BrainContext, create_memory_tools
from langgraph_brain.tools.schemas import SaveMemoryArgs

#: Importance values every save path must refuse (type or range), with the reason in words.
BAD_IMPORTANCE: list[Any] = [
    True, False, "high", "0.5", None, float("nan"), float("inf"), -0.01, 1.01, 5, 10**400, [0.5], {"v": 1},
]  # fmt: skip


@pytest.fixture(scope="module")
def service_settings() -> BrainSettings:
    """No background flush during a test: each test flushes when it wants to look."""
    return BrainSettings(access_flush_seconds=3600)


def _user() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------------------------ importance


async def test_importance_is_derived_from_category_source_and_confidence(service: MemoryService) -> None:
    user = _user()
    cases: dict[str, tuple[str, dict[str, Any], float]] = {
        "name": ("profile", {}, 0.7),
        "likes": ("preference", {}, 0.6),
        "note": ("fact", {}, 0.5),
        "plan": ("goal", {}, 0.6),
        "other": ("misc", {}, 0.5),
        "said": ("fact", {"source": "extracted", "confidence": 0.5}, 0.5 * 0.9),
        "said_sure": ("preference", {"source": "extracted", "confidence": 1}, 0.6),
        "said_no_conf": ("profile", {"source": "extracted"}, 0.7),
        "summary": ("conversation_summary", {"source": "summary"}, 0.3 * 0.8),
        "sys": ("fact", {"source": "system"}, 0.5 * 0.8),
        "pinned": ("fact", {"pinned": True}, 1.0),
        "explicit": ("profile", {"importance": 0.15}, 0.15),
        "explicit_beats_pin": ("fact", {"pinned": True, "importance": 0.4}, 0.4),
        "explicit_zero": ("profile", {"importance": 0}, 0.0),
        "explicit_one": ("fact", {"importance": 1}, 1.0),
    }
    for slug, (category, metadata, _) in cases.items():
        await service.asave("user", user, slug, f"Memory {slug}.", category=category, metadata=metadata)
    records = {r.slug: r for r in await service.alist("user", user)}
    for slug, (_, metadata, expected) in cases.items():
        assert records[slug].importance == pytest.approx(expected, abs=1e-6), slug
        assert records[slug].metadata == metadata  # explicit importance lives in the metadata
    got = await service.aget("user", user, "said", track=False)
    assert got is not None and got.importance == pytest.approx(0.45, abs=1e-6)
    # Company scope: the company categories.
    company = f"c{uuid.uuid4().hex[:8]}"
    await service.asave("company", company, "vat", "VAT is 19 %.", category="company_tax")
    vat = await service.aget("company", company, "vat", track=False)
    assert vat is not None and vat.importance == pytest.approx(0.7, abs=1e-6)
    # A change of category or metadata changes the generated value with it.
    await service.asave("user", user, "note", "Memory note.", category="profile")
    note = await service.aget("user", user, "note", track=False)
    assert note is not None and note.importance == pytest.approx(0.7, abs=1e-6)


async def test_out_of_range_values_written_past_validation_are_clamped(service: MemoryService) -> None:
    """Rows written before v9, or by SQL, with importance or confidence outside 0..1."""
    user = _user()
    rows = {
        "big": {"importance": 7},
        "neg": {"importance": -3},
        "conf": {"source": "extracted", "confidence": 9},
    }
    async with service.admin_pool.connection() as conn:
        for slug, metadata in rows.items():
            await conn.execute(
                "INSERT INTO brain_memories (scope, entity_id, slug, content, category, metadata,"
                " content_hash) VALUES ('user', %s, %s, 'x', 'fact', %s, 'h')",
                (user, slug, json.dumps(metadata)),
            )
    got = {r.slug: r.importance for r in await service.alist("user", user)}
    assert got == {"big": 1.0, "neg": 0.0, "conf": pytest.approx(0.5)}


async def test_bad_importance_is_refused_on_every_service_path(service: MemoryService) -> None:
    user = _user()
    await service.asave("user", user, "kept", "Kept as it was.", metadata={"importance": 0.3})
    for value in BAD_IMPORTANCE:
        with pytest.raises(MemoryValidationError, match=r"importance .*(0 to 1|from 0)"):
            await service.asave("user", user, "new", "Never stored.", metadata={"importance": value})
        with pytest.raises(MemoryValidationError, match="importance"):
            await service.asave("user", user, "kept", "Changed?", metadata={"importance": value})
    assert await service.aget("user", user, "new", track=False) is None
    kept = await service.aget("user", user, "kept", track=False)
    assert kept is not None and (kept.content, kept.importance) == ("Kept as it was.", pytest.approx(0.3))
    # Bulk save and import report the bad item and store the good one.
    result = await service.asave_many(
        [
            {
                "scope": "user",
                "entity_id": user,
                "slug": "bulk_bad",
                "content": "x",
                "metadata": {"importance": 2},
            },
            {
                "scope": "user",
                "entity_id": user,
                "slug": "bulk_ok",
                "content": "y",
                "metadata": {"importance": 1},
            },
        ]
    )
    assert (result.saved_count, result.failed_count) == (1, 1) and "importance" in result.errors[0]["error"]
    line = {
        "scope": "user",
        "entity_id": user,
        "slug": "imp_bad",
        "content": "z",
        "metadata": {"importance": "x"},
    }
    imported = await service.aimport_jsonl([json.dumps(line)])
    assert imported.failed_count == 1 and "importance" in imported.errors[0]["error"]
    slugs = {r.slug for r in await service.alist("user", user)}
    assert slugs == {"kept", "bulk_ok"}


async def test_store_values_carry_importance_in_their_metadata(service: MemoryService) -> None:
    user = _user()
    store = BrainStore(service)
    await store.aput(
        ("user", user), "tea", {"content": "Gil drinks green tea.", "metadata": {"importance": 0.9}}
    )
    tea = await service.aget("user", user, "tea", track=False)
    assert tea is not None and tea.importance == pytest.approx(0.9)
    item = await store.aget(("user", user), "tea")
    assert item is not None and item.value["metadata"] == {"importance": 0.9}
    for value in ("high", 2, True):
        with pytest.raises(MemoryValidationError, match="importance"):
            await store.aput(
                ("user", user), "tea", {"content": "Changed.", "metadata": {"importance": value}}
            )
    tea = await service.aget("user", user, "tea", track=False)
    assert tea is not None and tea.content == "Gil drinks green tea."


async def test_importance_round_trips_through_export_and_import(service: MemoryService) -> None:
    user, other = _user(), _user()
    await service.asave("user", user, "a", "Alpha fact.", metadata={"importance": 0.85, "pinned": True})
    exported = [
        json.dumps({**row, "entity_id": other}) async for row in service.aexport(scope="user", entity_id=user)
    ]
    assert (await service.aimport_jsonl(exported)).saved_count == 1
    copy = await service.aget("user", other, "a", track=False)
    assert copy is not None and copy.importance == pytest.approx(0.85) and copy.metadata["importance"] == 0.85


def _graph(tools: list[Any]) -> Any:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "tools")
    return g.compile()


async def _tool(service: MemoryService, user: str, name: str, args: dict[str, Any]) -> ToolMessage:
    call = {"name": name, "args": args, "id": uuid.uuid4().hex}
    out = await _graph(create_memory_tools(service)).ainvoke(
        {"messages": [AIMessage("", tool_calls=[call])]}, context={"user_id": user, "company_id": "acme"}
    )
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage)
    return msg


async def test_save_tool_importance(service: MemoryService) -> None:
    user = _user()
    tool = next(t for t in create_memory_tools(service) if t.name == "save_user_memory")
    schema = SaveMemoryArgs.model_json_schema()["properties"]["importance"]
    assert tool.args_schema is SaveMemoryArgs
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("number", 0, 1)
    await service.asave(
        "user", user, "diet", "Ana is vegetarian.", category="preference", metadata={"pinned": True}
    )
    await service.access.aflush()
    ok = await _tool(
        service, user, "save_user_memory", {"slug": "diet", "content": "Ana is vegan.", "importance": 0.95}
    )
    assert ok.status == "success", ok.content
    diet = await service.aget("user", user, "diet", track=False)
    assert diet is not None and diet.category == "preference"
    assert diet.metadata == {"pinned": True, "importance": 0.95} and diet.importance == pytest.approx(0.95)
    # Left out: the memory keeps its importance.
    await _tool(service, user, "save_user_memory", {"slug": "diet", "content": "Ana is strictly vegan."})
    diet = await service.aget("user", user, "diet", track=False)
    assert diet is not None and diet.importance == pytest.approx(0.95)
    new = await _tool(
        service, user, "save_user_memory", {"slug": "minor", "content": "Likes blue pens.", "importance": 0.1}
    )
    assert new.status == "success"
    minor = await service.aget("user", user, "minor", track=False)
    assert minor is not None and minor.metadata == {"importance": 0.1} and minor.category == "fact"
    for value in ["high", 2, -1, True, "0.5", [1], float("nan")]:
        bad = await _tool(
            service, user, "save_user_memory", {"slug": "diet", "content": "Changed.", "importance": value}
        )
        assert bad.status == "error", value
        assert "importance" in bad.content and "Leave it out" in bad.content, bad.content  # what to do next
        bad_new = await _tool(
            service, user, "save_user_memory", {"slug": "fresh", "content": "x", "importance": value}
        )
        assert bad_new.status == "error"
    diet = await service.aget("user", user, "diet", track=False)
    assert diet is not None and diet.content == "Ana is strictly vegan."
    assert await service.aget("user", user, "fresh", track=False) is None
    assert service.access.pending == 0  # the tool's read before a save is not an access


class _AsUser:
    """ASGI wrapper playing langgraph-api's custom auth: `request.user` is one API-key user."""

    def __init__(self, app: Any, user_id: str) -> None:
        self.app, self.user_id = app, user_id

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["user"] = {
            "kind": AUTH_USER_KIND,
            "user_id": self.user_id,
            "company_id": "acme",
            "is_admin": False,
        }
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
async def shared(database_url: str) -> AsyncIterator[MemoryService]:
    """The server's shared service on this module's database (what the HTTP routes use)."""
    await aclose_shared_service()  # one left open by an earlier module would be another database's
    svc = await get_shared_service(BrainSettings(database_url=database_url))
    yield svc
    await aclose_shared_service()


async def test_http_put_importance(shared: MemoryService) -> None:
    user = _user()
    transport = httpx.ASGITransport(app=_AsUser(create_app(), user))
    async with httpx.AsyncClient(transport=transport, base_url="http://brain") as client:
        r = await client.put("/brain/memories/user/tz", json={"content": "Lives in Lima.", "importance": 0.8})
        assert r.status_code == 201, r.text
        got = (await client.get("/brain/memories/user/tz")).json()
        assert got["importance"] == pytest.approx(0.8) and got["metadata"] == {"importance": 0.8}
        assert got["access_count"] == 0 and got["last_accessed_at"] is None
        # With metadata in the same body, importance is set into it; null clears it (derived again).
        r = await client.put(
            "/brain/memories/user/tz",
            json={"content": "Lives in Lima.", "metadata": {"source": "ui"}, "importance": 1},
        )
        assert r.status_code == 200, r.text
        assert (await client.get("/brain/memories/user/tz")).json()["metadata"] == {
            "source": "ui",
            "importance": 1.0,
        }
        r = await client.put(
            "/brain/memories/user/tz", json={"content": "Lives in Lima.", "importance": None}
        )
        got = (await client.get("/brain/memories/user/tz")).json()
        assert got["metadata"] == {"source": "ui"} and got["importance"] == pytest.approx(0.5)
        for body in (
            {"content": "Lives in Cusco.", "importance": 1.5},
            {"content": "Lives in Cusco.", "importance": -0.2},
            {"content": "Lives in Cusco.", "importance": "high"},
            {"content": "Lives in Cusco.", "importance": True},
            {"content": "Lives in Cusco.", "metadata": {"importance": 3}},
            {"content": "Lives in Cusco.", "metadata": {"importance": "high"}},
            {"content": "Lives in Cusco.", "metadata": {"importance": 0.5}, "importance": 7},
        ):
            for slug in ("tz", "new_one"):
                r = await client.put(f"/brain/memories/user/{slug}", json=body)
                assert r.status_code == 422, (body, r.text)
                assert "importance" in r.json()["detail"], r.text
        r = await client.put(
            "/brain/memories/user/tz", content=b'{"content": "Lives in Cusco.", "importance": NaN}',
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert r.status_code in (400, 422), r.text
        assert (await client.get("/brain/memories/user/new_one")).status_code == 404
    tz = await shared.aget("user", user, "tz", track=False)
    assert tz is not None and tz.content == "Lives in Lima."

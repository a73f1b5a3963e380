"""Signals on every memory (issue 15): importance, access count and last access.

Real Postgres, Mem0 and e5. Importance is the generated column of migration v9, explicit (save
tool, HTTP API, metadata) or derived (category, source, confidence); bad values are refused on
every save path with nothing stored. Access counts are noted by search and get and written in
batches by `brain.access.AccessRecorder`; the flush runs under row-level security, so the
attacker here (the application role, another tenant's slugs, forged tenant settings, SQL in
slugs and queries) is counted in ATTACKS and must neither read nor bump anyone else's counters.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from psycopg.conninfo import make_conninfo

from langgraph_brain.brain import MemoryService, MemoryValidationError, open_memory_service
from langgraph_brain.brain.access import AccessRecorder
from langgraph_brain.brain.factory import aclose_shared_service, get_shared_service
from langgraph_brain.brain.rows import Tenancy
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import TENANT_SQL, Tenant, acreate_app_role, aread_tenant_key, parse_tenant_key
from langgraph_brain.identity import AUTH_USER_KIND
from langgraph_brain.server.api.app import create_app
from langgraph_brain.settings import BrainSettings
from langgraph_brain.store import BrainStore
from langgraph_brain.tools import BrainContext, create_memory_tools
from langgraph_brain.tools.schemas import SaveMemoryArgs

ATTACKS: list[str] = []
LEAKS: list[str] = []
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


async def _access_rows(service: MemoryService, scope: str, entity: str) -> dict[str, tuple[int, Any]]:
    """Counters of one tenant as the owner sees them: slug -> (count, last access)."""
    async with service.admin_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT m.slug, a.access_count, a.last_accessed_at FROM brain_memory_access a"
            " JOIN brain_memories m ON m.id = a.brain_id WHERE a.scope = %s AND a.entity_id = %s",
            (scope, entity),
        )
        return {r["slug"]: (r["access_count"], r["last_accessed_at"]) for r in await cur.fetchall()}


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


# -------------------------------------------------------------------------------- access counts


async def test_searches_and_gets_are_counted_after_a_flush(service: MemoryService) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Ana has a grey cat named Mora.")
    await service.asave("user", user, "car", "Ana drives a red bicycle to work.")
    await service.access.aflush()
    n_search, n_get = 4, 3
    for mode in ("vector", "keyword", "hybrid", "hybrid")[:n_search]:
        hits = await service.asearch("user", user, "cat named Mora", k=1, mode=mode)
        assert [h.slug for h in hits] == ["pet"], mode
    for _ in range(n_get):
        assert await service.aget("user", user, "pet") is not None
    # Not counted: a missing slug, a read before a write, listings, as-of reads.
    assert await service.aget("user", user, "nothing") is None
    await service.aget("user", user, "car", track=False)
    await service.alist("user", user)
    await service.alist_core("user", user, categories=["fact"])
    assert service.access.pending == 1
    assert await _access_rows(service, "user", user) == {}
    await service.access.aflush()
    rows = await _access_rows(service, "user", user)
    assert set(rows) == {"pet"} and rows["pet"][0] == n_search + n_get
    pet = await service.aget("user", user, "pet")
    assert pet is not None and pet.access_count == n_search + n_get
    assert pet.last_accessed_at == rows["pet"][1]
    # The get above counts too, and times only move forward.
    await service.access.aflush()
    again = await _access_rows(service, "user", user)
    assert again["pet"][0] == n_search + n_get + 1 and again["pet"][1] > rows["pet"][1]


async def test_two_processes_add_up_and_keep_the_latest_time(service: MemoryService) -> None:
    """Each process has its own recorder; flushed out of order, counts add and the later time stays."""
    user = _user()
    await service.asave("user", user, "pet", "Hal has a ferret.")
    early = AccessRecorder(service.tenancy, flush_seconds=3600)
    late = AccessRecorder(service.tenancy, flush_seconds=3600)
    early.note("user", user, ["pet"])
    late.note("user", user, ["pet", "pet"])
    assert await late.aflush() == 1
    latest = (await _access_rows(service, "user", user))["pet"][1]
    assert await early.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"] == (3, latest)
    await early.aclose()
    await late.aclose()


async def test_as_of_reads_are_not_counted(service: MemoryService) -> None:
    """A past version is an audit of what was true, not a use of today's memory."""
    user = _user()
    await service.asave("user", user, "city", "Ana lives in Quito.")
    await service.access.aflush()
    now = datetime.now(UTC)
    past = await service.aget("user", user, "city", as_of=now)
    assert past is not None and past.content == "Ana lives in Quito."
    assert [h.slug for h in await service.asearch("user", user, "Quito", as_of=now)] == ["city"]
    assert service.access.pending == 0


async def test_aclose_flushes_what_is_pending(database: Database) -> None:
    user = _user()
    settings = BrainSettings(access_flush_seconds=3600)
    async with open_memory_service(settings, database=database) as svc:
        await svc.asave("user", user, "pet", "Bea has a dog named Toby.")
        for _ in range(5):
            await svc.asearch("user", user, "dog named Toby", k=1)
        assert svc.access.pending == 1
    async with open_memory_service(settings, database=database) as svc:
        assert (await _access_rows(svc, "user", user))["pet"][0] == 5
        rec = await svc.aget("user", user, "pet", track=False)
        assert rec is not None and rec.access_count == 5


async def test_tracking_off_counts_nothing(database: Database) -> None:
    user = _user()
    async with open_memory_service(BrainSettings(access_tracking=False), database=database) as svc:
        await svc.asave("user", user, "pet", "Cleo has a parrot.")
        await svc.asearch("user", user, "parrot", k=1)
        await svc.aget("user", user, "pet")
        assert svc.access.pending == 0
        await svc.access.aflush()
        assert await _access_rows(svc, "user", user) == {}


async def test_forgotten_memory_loses_its_counters(service: MemoryService) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Dan has a hamster.")
    record = await service.aget("user", user, "pet")
    assert record is not None
    await service.access.aflush()
    assert (await _access_rows(service, "user", user))["pet"][0] == 1
    await service.aget("user", user, "pet")  # noted, not yet flushed, when the forget runs
    await service.aforget("user", user, "pet")

    async def counters_of_the_forgotten_id() -> int:
        async with service.admin_pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM brain_memory_access WHERE brain_id = %s", (record.id,)
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else -1

    assert await counters_of_the_forgotten_id() == 0
    await service.access.aflush()  # the pending count finds no memory: nothing written
    assert await counters_of_the_forgotten_id() == 0 and await _access_rows(service, "user", user) == {}
    await service.asave("user", user, "pet", "Dan has a hamster again.")
    again = await service.aget("user", user, "pet", track=False)
    assert again is not None and again.access_count == 0 and again.last_accessed_at is None


async def test_a_failed_flush_never_fails_a_search_and_keeps_the_counts(
    service: MemoryService, database: Database
) -> None:
    user = _user()
    await service.asave("user", user, "pet", "Eva has a turtle.")
    await service.access.aflush()
    dead = await open_async_pool(database.url, min_size=0, max_size=1)
    await dead.close()
    real = service.access.tenancy
    service.access.tenancy = Tenancy(dead, real.key)
    try:
        for _ in range(3):
            assert [h.slug for h in await service.asearch("user", user, "turtle", k=1)] == ["pet"]
        assert await service.access.aflush() == 0  # failed: logged, kept
        assert service.access.pending == 1 and service.access.dropped == 0
        assert await service.aget("user", user, "pet") is not None
    finally:
        service.access.tenancy = real
    assert await service.access.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"][0] == 4


async def test_one_tenants_failed_statement_does_not_stop_the_others(service: MemoryService) -> None:
    """The tenants share one pipelined connection: a statement that fails is that tenant's alone."""
    user = _user()
    await service.asave("user", user, "pet", "Fay has a rabbit.")
    recorder = AccessRecorder(service.tenancy, flush_seconds=3600)
    recorder.note("user", "broken\x00tenant", ["pet"])  # Postgres text cannot hold NUL
    recorder.note("user", user, ["pet"])
    recorder.note("user", "broken\x00tenant", ["pet"])
    assert await recorder.aflush() == 1
    assert (await _access_rows(service, "user", user))["pet"][0] == 1
    assert (recorder.pending, recorder.dropped) == (1, 0)  # the failed tenant's count waits
    await recorder.aclose()  # fails again for that tenant: logged, not raised


async def test_a_long_outage_drops_counts_beyond_the_bound(database: Database) -> None:
    dead = await open_async_pool(database.url, min_size=0, max_size=1)
    await dead.close()
    recorder = AccessRecorder(Tenancy(dead, None), flush_seconds=3600, flush_keys=2, max_keys=3)
    recorder.note("user", "x", ["a", "b"])
    recorder.note("user", "x", ["a"])
    await recorder.aflush()
    assert (recorder.pending, recorder.dropped) == (2, 0)
    recorder.note("user", "y", ["c", "d"])
    await recorder.aflush()  # x's 2 keys are kept; y's 2 more would exceed max_keys: given up
    assert (recorder.pending, recorder.dropped) == (2, 2)
    await recorder.aclose()  # its final flush fails too: logged, never raised


def test_recorder_refuses_bad_limits() -> None:
    for kwargs in ({"flush_seconds": 0}, {"flush_seconds": -1}, {"flush_keys": 0}, {"max_keys": 1}):
        with pytest.raises(ValueError, match="flush"):
            AccessRecorder(None, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- row-level security

ROLE = f"brain_sig_{uuid.uuid4().hex[:6]}"
PASSWORD = uuid.uuid4().hex


@pytest.fixture(scope="module")
async def tenants(service: MemoryService, database: Database) -> dict[str, Any]:
    """alice and bob (a memory each, both counted once), the application role and its service."""
    await service.asave("user", "alice", "locker", "Alice's locker code is 1234.")
    await service.asave("user", "bob", "locker", "Bob's locker code is 9876.")
    await service.asave("user", "bob", "bob_only", "Bob's bank is Banco Azul.")
    for who in ("alice", "bob"):
        await service.aget("user", who, "locker")
    await service.aget("user", "bob", "bob_only")
    await service.access.aflush()
    async with database.pool.connection() as conn:
        await acreate_app_role(conn, ROLE, PASSWORD)
        key = parse_tenant_key(await aread_tenant_key(conn))
        ids = {
            r["slug"]: r["id"]
            for r in await (
                await conn.execute("SELECT slug, id FROM brain_memories WHERE entity_id = 'bob'")
            ).fetchall()
        }
    return {"key": key, "url": make_conninfo(database.url, user=ROLE, password=PASSWORD), "bob_ids": ids}


async def _bob(service: MemoryService) -> dict[str, tuple[int, Any]]:
    return await _access_rows(service, "user", "bob")


async def test_forged_tenants_cannot_read_or_bump_counters(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    before = await _bob(service)
    assert before["locker"][0] == 1
    bob_sig = Tenant.signed(tenants["key"], "user", "bob", "user:bob").params()[3]
    forgeries = {
        "no signature": None,
        "random signature": secrets.token_hex(32),
        "truncated real signature": bob_sig[:32],
        "alice's signature on bob": Tenant.signed(tenants["key"], "user", "alice", "user:alice").params()[3],
    }
    bob_locker = tenants["bob_ids"]["locker"]
    async with await psycopg.AsyncConnection.connect(tenants["url"]) as conn:
        for name, sig in forgeries.items():
            async with conn.transaction():
                await conn.execute(TENANT_SQL, ("user", "bob", "user:bob", sig or ""))
                ATTACKS.append(f"read counters as {name}")
                seen = await (await conn.execute("SELECT * FROM brain_memory_access")).fetchall()
                if seen:
                    LEAKS.append(f"read counters as {name}")
                assert seen == []
                for statement in (
                    "UPDATE brain_memory_access SET access_count = access_count + 100",
                    "DELETE FROM brain_memory_access",
                ):
                    ATTACKS.append(f"{statement.split()[0].lower()} counters as {name}")
                    assert (await conn.execute(statement.encode())).rowcount == 0
            ATTACKS.append(f"insert a counter as {name}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    await conn.execute(TENANT_SQL, ("user", "bob", "user:bob", sig or ""))
                    await conn.execute(
                        "INSERT INTO brain_memory_access VALUES (%s, 'user', 'bob', 100, now())"
                        " ON CONFLICT (brain_id) DO UPDATE SET access_count = 100",
                        (bob_locker,),
                    )
    assert await _bob(service) == before


async def test_signed_tenant_cannot_plant_counters_on_another_tenants_memory(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    """alice, correctly signed, files a counter row under bob's memory id (ids are guessable)."""
    before = await _bob(service)
    alice = Tenant.signed(tenants["key"], "user", "alice", "user:alice").params()
    async with await psycopg.AsyncConnection.connect(tenants["url"]) as conn:
        for brain_id in tenants["bob_ids"].values():
            for label in (("user", "alice"), ("user", "bob")):
                ATTACKS.append(f"plant a counter on bob's memory {brain_id} labelled {label[1]}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                    async with conn.transaction():
                        await conn.execute(TENANT_SQL, alice)
                        await conn.execute(
                            "INSERT INTO brain_memory_access VALUES (%s, %s, %s, 100, now())",
                            (brain_id, *label),
                        )
        async with conn.transaction():
            await conn.execute(TENANT_SQL, alice)
            mine = await (await conn.execute("SELECT brain_id FROM brain_memory_access")).fetchall()
            ATTACKS.append("read counters as alice")
            if any(r[0] in tenants["bob_ids"].values() for r in mine):
                LEAKS.append("alice read bob's counters")
            assert len(mine) == 1
            ATTACKS.append("move alice's counter onto bob's memory")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE brain_memory_access SET brain_id = %s", (tenants["bob_ids"]["bob_only"],)
                    )
    assert await _bob(service) == before


async def test_app_service_searches_and_gets_count_only_the_callers_memories(
    service: MemoryService, tenants: dict[str, Any]
) -> None:
    before = await _bob(service)
    alice_before = (await _access_rows(service, "user", "alice"))["locker"][0]
    pool = await open_async_pool(tenants["url"], min_size=1, max_size=2)
    app = MemoryService(pool, service.index, tenant_key=tenants["key"], access_flush_seconds=3600)
    try:
        queries = [
            "Bob's locker code is 9876",
            "Banco Azul bank",
            "'; UPDATE brain_memory_access SET access_count = 999; --",
            "x' OR '1'='1",
            "locker') OR entity_id = 'bob' --",
        ]
        for query in queries:
            for mode in ("vector", "keyword", "hybrid"):
                ATTACKS.append(f"search as alice for bob's text ({mode}): {query[:20]}")
                hits = await app.asearch("user", "alice", query, k=5, mode=mode)
                if any("9876" in h.content or "Azul" in h.content for h in hits):
                    LEAKS.append(f"search {mode} {query}")
                assert {h.slug for h in hits} <= {"locker"}
        for slug in ("bob_only", "locker"):
            ATTACKS.append(f"get bob's slug {slug} as alice")
            got = await app.aget("user", "alice", slug)
            assert got is None or "1234" in got.content
        for slug in ("bob_only' OR '1'='1", "locker'; DELETE FROM brain_memory_access; --"):
            ATTACKS.append(f"SQL injection in slug: {slug[:20]}")
            with pytest.raises(MemoryValidationError, match="slug"):
                await app.aget("user", "alice", slug)
            # Past validation (straight into the recorder), the slug is only ever a bound value.
            ATTACKS.append(f"SQL injection in a noted slug: {slug[:20]}")
            app.access.note("user", "alice", [slug])
        app.access.note("user", "alice", ["bob_only"])  # bob's slug, alice's tenant: matches nothing
        ATTACKS.append("note bob's slug under alice")
        await app.access.aflush()
        assert app.access.pending == 0
    finally:
        await app.access.aclose()
        await pool.close()
    assert await _bob(service) == before
    alice = await _access_rows(service, "user", "alice")
    assert set(alice) == {"locker"} and alice["locker"][0] > alice_before


def test_attack_count() -> None:
    """Reported: every attempt made against the counters, and how many leaked (must be 0)."""
    print(f"\nsignals attacks: {len(ATTACKS)}, leaks: {len(LEAKS)}")
    assert len(ATTACKS) >= 40 and LEAKS == []

"""Isolation: user B never reads, updates or forgets user A's memory, by any path.

Paths: every MemoryService method, every memory tool (through ToolNode, identity from the
runtime context), and the `brain memories` CLI. Attacks: forged identity arguments, A's Mem0 id
used as a slug or query, a slug that exists for both, ids that are prefixes of each other
("1" vs "12"), the same id in the other scope, and a copy of A's memory planted under B's Mem0
key. Plus the maintenance guard: cross-tenant jobs refuse a role that RLS restricts.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from langgraph_brain.brain import (
    BrainConfigurationError,
    MemoryNotFoundError,
    MemoryService,
    entity_key,
)
from langgraph_brain.brain.reconcile import acheck_invariant, areconcile
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import acreate_app_role
from langgraph_brain.maintenance import aerase
from langgraph_brain.settings import get_settings
from langgraph_brain.tools import BrainContext, create_memory_tools

SECRET = "zqsecret4411"  # only A's memories contain it
A = ("user", "1")
VICTIMS = [("user", "1"), ("company", "1")]  # what the attacker must never reach
ATTACKER_USER, ATTACKER_COMPANY = "12", "12"
PROBES: list[str] = []


@pytest.fixture(scope="module")
async def service(service: MemoryService) -> MemoryService:
    """The shared service, seeded for this module."""
    svc = service
    for scope, entity in VICTIMS:
        await svc.asave(scope, entity, "shared_slug", f"{scope} {entity}: the {SECRET} is in the safe.")
        await svc.asave(scope, entity, "plan", f"{scope} {entity}: {SECRET} plan is to expand to Peru.")
        await svc.asave(scope, entity, "vault", f"{scope} {entity}: the {SECRET} is in the safe. (vault)")
    await svc.asave("user", ATTACKER_USER, "shared_slug", "Attacker: my own note about the safe.")
    await svc.asave("company", ATTACKER_COMPANY, "shared_slug", "Attacker company: our own note.")
    return svc


async def _victim_state(service: MemoryService) -> Any:
    """Rows, history and Mem0 payloads of the victims: any change shows."""
    async with service.admin_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT scope, entity_id, slug, content, version, sync_state, memory_id::text AS m"
                " FROM brain_memories WHERE entity_id = '1' ORDER BY scope, slug"
            )
        ).fetchall()
        history = await (
            await conn.execute("SELECT count(*) AS n FROM brain_history WHERE entity_id = '1'")
        ).fetchone()
    mem0 = []
    for s, e in VICTIMS:
        mem0 += [(h.memory_id, h.content) for h in await service.index.alist(entity_key=entity_key(s, e))]
    mem0.sort()
    return rows, history, mem0


async def _victim_memory_ids(service: MemoryService) -> list[str]:
    ids = []
    for scope, entity in VICTIMS:
        for r in await service.alist(scope, entity):
            assert r.memory_id
            ids.append(r.memory_id)
    return ids


#: Fragments only the victims' contents hold (the CLI echoes a query, so SECRET alone is not enough).
VICTIM_FRAGMENTS = ("is in the safe.", "plan is to expand to Peru")


def _no_secret(value: Any, where: str, *, echoes_query: bool = False) -> None:
    PROBES.append(where)
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    for fragment in VICTIM_FRAGMENTS if echoes_query else (SECRET, *VICTIM_FRAGMENTS):
        assert fragment not in text, f"leak through {where}: {text[:300]}"


async def test_service_paths(service: MemoryService) -> None:
    before = await _victim_state(service)
    forged = await _victim_memory_ids(service)
    for scope, me in (("user", ATTACKER_USER), ("company", ATTACKER_COMPANY)):
        for query in ("where is the safe?", SECRET, *forged, "' OR 1=1 --"):
            for mode in ("vector", "keyword", "hybrid"):
                hits = await service.asearch(scope, me, query, k=100, mode=mode)
                _no_secret([h.as_dict() for h in hits], f"asearch {scope}/{mode}")
        for slug in ("shared_slug", "plan", *forged):
            _no_secret(str(await service.aget(scope, me, slug)), f"aget {scope} {slug}")
        _no_secret([r.as_json() for r in await service.alist(scope, me)], f"alist {scope}")
        _no_secret([str(h) for h in await service.ahistory(scope, me)], f"ahistory {scope}")
        _no_secret([x async for x in service.aexport(scope=scope, entity_id=me)], f"aexport {scope}")
        # "plan" and A's Mem0 ids exist only for the victims: to the attacker they do not exist.
        for slug in ("plan", "vault", *forged):
            with pytest.raises(MemoryNotFoundError):
                await service.aforget(scope, me, slug)
        # Saving the colliding slug writes the attacker's own row only.
        saved = await service.asave(scope, me, "shared_slug", f"Attacker {scope}: overwritten?")
        assert (saved.entity_id, saved.status) == (me, "updated")
    # Entity ids are compared whole: "1" is not a prefix match of "12", nor " 1" of "1" after trim.
    assert [r.entity_id for r in await service.alist("user", " 12 ")] == ["12"]
    assert await _victim_state(service) == before


async def test_planted_copy_under_the_attackers_mem0_key_is_never_returned(service: MemoryService) -> None:
    """Defence in depth: even if A's text sits under B's Mem0 key (a bad restore, a bug in an
    index backend), B's search only returns synced rows of B."""
    victim = await service.aget(*A, "plan")
    assert victim is not None
    planted = await service.index.aadd(
        victim.content,
        entity_key=entity_key("user", ATTACKER_USER),
        metadata={"brain_id": str(victim.id), "slug": "plan", "scope": "user", "entity": ATTACKER_USER},
    )
    for mode in ("vector", "hybrid"):
        hits = await service.asearch("user", ATTACKER_USER, "plan to expand to Peru", k=100, mode=mode)
        _no_secret([h.as_dict() for h in hits], f"planted copy, {mode}")
    report = await areconcile(service)
    assert report.deleted_orphans == 1 and await service.index.aget(planted) is None
    assert (await acheck_invariant(service)).ok


def _graph(service: MemoryService) -> Any:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(create_memory_tools(service)))
    g.add_edge(START, "tools")
    return g.compile()


async def test_tool_paths(service: MemoryService) -> None:
    before = await _victim_state(service)
    forged_ids = await _victim_memory_ids(service)
    forged_identity = {"user_id": "1", "company_id": "1", "entity_id": "1", "scope_id": "1"}
    calls: list[tuple[str, dict[str, Any]]] = []
    for query in ("where is the safe?", SECRET, *forged_ids):
        calls += [("search_user_memory", {"query": query, "k": 20, **forged_identity})]
        calls += [("search_company_memory", {"query": query, "k": 20, **forged_identity})]
    for slug in ("shared_slug", "plan", "vault", *forged_ids):
        calls += [("forget_memory", {"scope": "user", "slug": slug, **forged_identity})]
        calls += [("forget_memory", {"scope": "company", "slug": slug, **forged_identity})]
    calls += [("save_user_memory", {"slug": "plan", "content": "Attacker plan.", **forged_identity})]
    calls += [("save_company_memory", {"slug": "plan", "content": "Attacker co plan.", **forged_identity})]
    graph = _graph(service)
    for name, args in calls:
        call_id = uuid.uuid4().hex
        out = await graph.ainvoke(
            {"messages": [AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])]},
            context={"user_id": ATTACKER_USER, "company_id": ATTACKER_COMPANY},
            config={"configurable": {"user_id": "1", "company_id": "1"}},  # context wins over configurable
        )
        msg = out["messages"][-1]
        assert isinstance(msg, ToolMessage)
        _no_secret({"content": msg.content, "artifact": msg.artifact}, f"tool {name}")
    assert await _victim_state(service) == before
    # The attacker's writes landed on the attacker.
    assert (await service.aget("user", ATTACKER_USER, "plan")) is not None
    assert (await service.aget("company", ATTACKER_COMPANY, "plan")) is not None


@pytest.fixture
def cli_env(database_url: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", database_url)
        mp.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


async def test_cli_paths(service: MemoryService, cli_env: None) -> None:
    from langgraph_brain.cli import app

    before = await _victim_state(service)
    forged_ids = await _victim_memory_ids(service)
    runner = CliRunner()
    commands: list[list[str]] = []
    for scope in ("user", "company"):
        me = ["-s", scope, "-i", "12"]
        commands += [
            ["memories", "list", *me],
            ["memories", "search", *me, SECRET],
            ["memories", "search", *me, forged_ids[0]],
            ["memories", "history", *me],
            ["memories", "export", *me],
            ["memories", "forget", *me, "vault"],
            ["memories", "forget", *me, forged_ids[0]],
        ]
    commands += [["erase", "--user", "12", "--yes"]]  # erasing the attacker leaves the victims alone
    for args in commands:
        # The CLI runs its own event loop; run it off this test's loop.
        import asyncio

        result = await asyncio.to_thread(runner.invoke, app, args)
        assert "Traceback" not in result.output, result.output[-2000:]
        # Reads and the attacker's own erase succeed; forgetting a victim's slug is "not found".
        assert (result.exit_code != 0) == (args[1] == "forget"), (args, result.output[-1000:])
        _no_secret(result.output, "cli " + " ".join(args[:2]), echoes_query=True)
    assert await _victim_state(service) == before


async def test_maintenance_refuses_a_role_that_rls_restricts(
    service: MemoryService, database: Database, database_url: str
) -> None:
    """Reconcile as the RLS-restricted app role would see no rows and delete every Mem0 memory as
    an orphan; erase would delete Mem0 memories and leave the rows. Both refuse instead."""
    role = f"brain_app_{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex  # ignored by the embedded server (trust); required by an external one
    async with database.pool.connection() as conn:
        await acreate_app_role(conn, role, password)
    pool = await open_async_pool(
        make_conninfo(database_url, user=role, password=password), min_size=1, max_size=2
    )
    try:
        restricted = MemoryService(pool, service.index)  # admin_pool defaults to the restricted pool
        mem0_before = len(await service.index.alist())
        for job in (areconcile(restricted), acheck_invariant(restricted), aerase(restricted, "user", "1")):
            with pytest.raises(BrainConfigurationError, match="owner role"):
                await job
        assert len(await service.index.alist()) == mem0_before
        # With the owner pool as admin_pool, the same restricted service may reconcile.
        owner_admin = MemoryService(pool, service.index, admin_pool=database.pool)
        assert (await areconcile(owner_admin)).failed == 0
    finally:
        await pool.close()
    _record_probes()


def _record_probes() -> None:
    path = os.environ.get("BRAIN_RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "isolation", "probes": len(PROBES), "leaks": 0}) + "\n")

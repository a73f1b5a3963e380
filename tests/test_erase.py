"""Erase one user or company: nothing of them remains in any table or in Mem0, and everything of
every other entity (including ids that are prefixes of each other, and the same id in the other
scope) is intact. Real Postgres, real Mem0, real LangGraph checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_brain.brain import MemoryService, entity_key
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.db import Database
from langgraph_brain.maintenance import aerase

#: (scope, entity id as the app passes it, marker that only this entity's data contains)
ENTITIES = [
    ("user", "1", "zqmarkuserone"),
    ("user", "12", "zqmarkusertwelve"),
    ("company", "1", "zqmarkcompanyone"),
    ("company", "acme", "zqmarkacme"),
]


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def saver(database: Database) -> AsyncIterator[BrainSaver]:
    saver = BrainSaver(database.pool)
    await saver.setup()
    yield saver
    await saver.adrain()


def _graph(saver: BrainSaver) -> Any:
    async def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"noted: {state['messages'][-1].content}")]}

    g = StateGraph(MessagesState)
    g.add_node("reply", reply)
    g.add_edge(START, "reply")
    return g.compile(checkpointer=saver)


async def _populate(service: MemoryService, saver: BrainSaver) -> None:
    graph = _graph(saver)
    for scope, raw, marker in ENTITIES:
        for n in range(3):
            await service.asave(scope, raw, f"fact{n}", f"{marker} fact number {n}.")
        await service.asave(scope, raw, "fact0", f"{marker} fact number 0, corrected.")
        await service.aforget(scope, raw, "fact2")  # leaves history of a forgotten memory
        # A crashed save's orphan: a Mem0 memory tagged with the entity's row but never marked.
        row = await service.aget(scope, raw, "fact1")
        assert row is not None
        await service.index.aadd(
            f"{marker} orphan copy.",
            entity_key=entity_key(scope, row.entity_id),
            metadata={"brain_id": str(row.id), "slug": "fact1", "scope": scope, "entity": row.entity_id},
        )
        key = "user_id" if scope == "user" else "company_id"
        thread = f"thread-{scope}-{raw}"
        for turn in range(2):
            await graph.ainvoke(
                {"messages": [HumanMessage(f"{marker} turn {turn}")]},
                {"configurable": {"thread_id": thread, key: raw}},
            )
        await saver.transcript.aappend(thread, [HumanMessage(f"{marker} archived", id=f"{thread}-m0")])


async def _traces(service: MemoryService, marker: str) -> dict[str, int]:
    """Rows of every public table whose text (bytea shown as hex) contains the marker."""
    found: dict[str, int] = {}
    hex_marker = marker.encode().hex()
    async with service.admin_pool.connection() as conn:
        tables = await (
            await conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ).fetchall()
        for t in tables:
            name = t["tablename"]
            row = await (
                await conn.execute(
                    f'SELECT count(*) AS n FROM "{name}" AS t'.encode()
                    + b" WHERE strpos(t::text, %s) > 0 OR strpos(t::text, %s) > 0",
                    (marker, hex_marker),
                )
            ).fetchone()
            if row and row["n"]:
                found[name] = row["n"]
    return found


async def test_erase_removes_one_entity_everywhere_and_nothing_else(
    service: MemoryService, saver: BrainSaver
) -> None:
    await _populate(service, saver)
    before = {marker: await _traces(service, marker) for _, _, marker in ENTITIES}
    for _scope, _raw, marker in ENTITIES:
        tables = set(before[marker])
        assert {"brain_memories", "brain_history", "brain_mem0", "chat_messages"} <= tables, tables
        assert {"checkpoint_blobs", "checkpoint_writes"} & tables, tables

    # The id as a careless caller types it: normalised exactly like on save.
    report = await aerase(service, "user", "  1 ", saver=saver)
    assert (report.scope, report.entity_id) == ("user", "1")
    assert report.brain_rows == 2  # fact0, fact1 (fact2 was forgotten)
    assert report.history_rows == 5  # 3 creates, 1 update, 1 forget
    assert report.index_memories == 3  # fact0, fact1 and the orphan copy
    assert report.threads == 1 and report.checkpoints >= 2 and report.transcript_messages == 1

    assert await _traces(service, "zqmarkuserone") == {}
    assert await saver.aget_tuple({"configurable": {"thread_id": "thread-user-1"}}) is None
    assert await service.index.alist(entity_key="user:1") == []
    assert await service.alist("user", "1") == [] and await service.ahistory("user", "1") == []
    # Everything of everyone else is exactly as it was.
    for _scope, _raw, marker in ENTITIES[1:]:
        assert await _traces(service, marker) == before[marker], marker
    for scope, raw, marker in ENTITIES[1:]:
        rows = {r.slug: r.content for r in await service.alist(scope, raw)}
        assert rows == {"fact0": f"{marker} fact number 0, corrected.", "fact1": f"{marker} fact number 1."}
        assert len(await service.index.alist(entity_key=entity_key(scope, raw))) == 3  # 2 + orphan copy
        assert len(await saver.aget_session(f"thread-{scope}-{raw}")) == 5  # 1 archived + 2 turns x 2

    again = await aerase(service, "user", "1", saver=saver)
    assert again.total == 0 and again.threads == 0


async def test_erase_a_company_leaves_the_user_with_the_same_id(
    service: MemoryService, saver: BrainSaver
) -> None:
    report = await aerase(service, "company", "1", saver=saver)
    assert report.brain_rows == 2 and report.threads == 1
    assert await _traces(service, "zqmarkcompanyone") == {}
    assert [r.slug for r in await service.alist("user", "12")] == ["fact0", "fact1"]
    assert [r.slug for r in await service.alist("company", "acme")] == ["fact0", "fact1"]


async def test_erase_without_a_saver_and_bad_ids(service: MemoryService) -> None:
    await service.asave("user", "solo", "note", "Solo keeps one note.")
    report = await aerase(service, "user", "SOLO")
    assert (report.brain_rows, report.history_rows, report.index_memories) == (1, 1, 1)
    assert report.threads == 0
    from langgraph_brain.brain import BrainConfigurationError, MemoryValidationError

    with pytest.raises(MemoryValidationError):
        await aerase(service, "tenant", "solo")
    with pytest.raises(BrainConfigurationError):
        await aerase(service, "user", "   ")
    # The orphan copies left for the other entities are reconcile's job, not erase's.
    from langgraph_brain.brain.reconcile import areconcile

    await areconcile(service)
    assert (await acheck_invariant(service)).ok


def _cli() -> Any:
    from langgraph_brain.cli import app

    return app


def test_cli_erase_asks_first_and_reports_counts(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from langgraph_brain.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        app = _cli()
        refused = runner.invoke(app, ["erase", "--company", "acme"], input="n\n")
        assert refused.exit_code == 1 and "nothing was erased" in refused.output
        both = runner.invoke(app, ["erase", "--company", "acme", "--user", "12", "--yes"])
        assert both.exit_code == 2 and "exactly one" in both.output
        done = runner.invoke(app, ["erase", "--company", "acme", "--yes", "--json"])
        assert done.exit_code == 0, done.output
        counts = json.loads(done.output)
        assert counts["scope"] == "company" and counts["entity_id"] == "acme"
        assert counts["brain_rows"] == 2 and counts["threads"] == 1 and counts["transcript_messages"] == 1
        table = runner.invoke(app, ["erase", "--user", "12", "--yes"])
        assert table.exit_code == 0 and "brain rows" in table.output and "Mem0 memories" in table.output
    finally:
        get_settings.cache_clear()


async def test_erase_forgets_the_erased_threads_queued_extraction(
    service: MemoryService, saver: BrainSaver, database: Database, database_url: str
) -> None:
    """A queued extraction job or cursor of an erased thread must not outlive the erase (a job
    would recreate memories from a conversation that no longer exists)."""
    from datetime import UTC, datetime, timedelta

    from langgraph_brain.extraction.migrations import aensure_queue_schema
    from langgraph_brain.extraction.queue import adefer_extraction, create_queue_app

    async with database.pool.connection() as conn:
        await aensure_queue_schema(conn, migrate=True)
    graph = _graph(saver)
    app = create_queue_app(database_url)
    async with app.open_async():
        for user in ("q1", "q12"):
            thread = f"thread-queued-{user}"
            await graph.ainvoke(
                {"messages": [HumanMessage("hello")]},
                {"configurable": {"thread_id": thread, "user_id": user}},
            )
            later = datetime.now(UTC) + timedelta(hours=1)
            await adefer_extraction(
                app, thread_id=thread, user_id=user, company_id=None, lane="idle", at=later
            )
            async with database.pool.connection() as conn:
                await conn.execute("INSERT INTO brain_extraction_cursors (thread_id) VALUES (%s)", (thread,))

    report = await aerase(service, "user", "q1", saver=saver)
    assert (report.extraction_cursors, report.extraction_jobs) == (1, 1)
    async with database.pool.connection() as conn:
        jobs = await (await conn.execute("SELECT args->>'thread_id' AS t FROM procrastinate_jobs")).fetchall()
        cursors = await (await conn.execute("SELECT thread_id AS t FROM brain_extraction_cursors")).fetchall()
    assert "thread-queued-q1" not in {r["t"] for r in jobs} | {r["t"] for r in cursors}
    assert "thread-queued-q12" in {r["t"] for r in jobs} and "thread-queued-q12" in {r["t"] for r in cursors}

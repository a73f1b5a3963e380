"""BrainSaver on real Postgres: conformance, concurrent setup, dropped connections, text, lifecycle."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_brain.checkpointers import BrainSaver, CheckpointTextError
from langgraph_brain.db import open_async_pool
from langgraph_brain.middleware import Compactor


def echo_graph(saver: BrainSaver, compactor: Compactor | None = None) -> Any:
    async def model(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        return {"messages": [AIMessage(f"echo: {last.content}")]}

    builder: StateGraph[Any] = StateGraph(MessagesState)
    builder.add_node("model", model)
    if compactor is not None:
        builder.add_node("compact", compactor)
        builder.add_edge(START, "compact")
        builder.add_edge("compact", "model")
    else:
        builder.add_edge(START, "model")
    return builder.compile(checkpointer=saver)


@pytest.fixture(scope="module")
async def saver(database_url: str) -> AsyncIterator[BrainSaver]:
    async with BrainSaver.from_conn_string(database_url, max_size=4) as s:
        yield s


async def count(url: str, sql: str, *params: Any) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(sql.encode(), params)).fetchone()
        assert row is not None
        return int(row[0])


async def test_conformance_full(saver: BrainSaver, database_url: str) -> None:
    @checkpointer_test(name="BrainSaver")
    async def factory() -> AsyncIterator[BrainSaver]:
        async with BrainSaver.from_conn_string(database_url, max_size=2) as s:
            yield s

    report = await validate(factory)
    failures = {cap: r.failures for cap, r in report.results.items() if r.passed is not True}
    assert failures == {}
    assert {cap for cap, r in report.results.items() if r.detected} == {c.value for c in ALL_CAPABILITIES}
    assert report.conformance_level() == "FULL"


_SETUP_SCRIPT = textwrap.dedent(
    """
    import asyncio, pathlib, sys, time
    from langgraph_brain.checkpointers import BrainSaver
    from langgraph_brain.db import open_async_pool

    url, ready, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])

    async def main():
        pool = await open_async_pool(url, min_size=1, max_size=2)
        saver = BrainSaver(pool)
        ready.touch()
        while not go.exists():
            time.sleep(0.01)
        await saver.setup()
        await pool.close()

    asyncio.run(main())
    """
)


def test_concurrent_setup_from_eight_processes(
    fresh_database_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database_url("setup8")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SETUP_SCRIPT, url, str(tmp_path / f"ready{i}"), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    deadline = time.monotonic() + 90
    while sum((tmp_path / f"ready{i}").exists() for i in range(8)) < 8:
        assert time.monotonic() < deadline, "setup processes did not start"
        assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs if p.stderr]
        time.sleep(0.05)
    go.touch()  # all eight start setup() at the same moment on an empty database
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM checkpoint_migrations").fetchone()
        assert row is not None and row[0] == len(BrainSaver.MIGRATIONS)
        row = conn.execute("SELECT count(*) FROM chat_messages").fetchone()
        assert row is not None and row[0] == 0


async def test_turn_succeeds_after_pooled_connection_is_killed(database_url: str) -> None:
    pool = await open_async_pool(database_url, min_size=1, max_size=1)
    try:
        saver = BrainSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = echo_graph(saver)
        config = {"configurable": {"thread_id": "killed"}}
        await graph.ainvoke({"messages": [HumanMessage("one")]}, config)
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone()
            assert row is not None
            pid = row["pid"]
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as killer:
            row2 = await (await killer.execute("SELECT pg_terminate_backend(%s)", (pid,))).fetchone()
            assert row2 is not None and row2[0] is True
        result = await graph.ainvoke({"messages": [HumanMessage("two")]}, config)
        assert [m.content for m in result["messages"]] == ["one", "echo: one", "two", "echo: two"]
    finally:
        await pool.close()


async def test_nul_characters_round_trip(saver: BrainSaver) -> None:
    graph = echo_graph(saver)
    config = {"configurable": {"thread_id": "nul"}}
    await graph.ainvoke({"messages": [HumanMessage("a\x00b\x00")]}, config)
    fresh = echo_graph(saver)  # read back from Postgres, not from any in-process cache
    state = await fresh.aget_state(config)
    assert [m.content for m in state.values["messages"]] == ["a\x00b\x00", "echo: a\x00b\x00"]


async def test_lone_surrogate_fails_clearly_and_stores_nothing(saver: BrainSaver) -> None:
    graph = echo_graph(saver)
    config = {"configurable": {"thread_id": "surrogate"}}
    with pytest.raises(CheckpointTextError, match="lone UTF-16 surrogate"):
        await graph.ainvoke({"messages": [HumanMessage("half an emoji: \ud83d")]}, config)
    # Nothing of the run was stored: no checkpoint, no write, no message (not even a '?' copy).
    assert await saver.aget_tuple(config) is None
    assert [t async for t in saver.alist(config)] == []
    state = await graph.aget_state(config)
    assert state.values.get("messages", []) == []


async def test_lone_surrogate_in_transcript_fails_clearly(saver: BrainSaver) -> None:
    with pytest.raises(CheckpointTextError):
        await saver.transcript.aappend("t-sur", [HumanMessage("x\udc00", id="m1")])
    assert await saver.transcript.acount("t-sur") == 0


async def test_auto_prune_keeps_latest_checkpoints(database_url: str) -> None:
    async with BrainSaver.from_conn_string(database_url, keep_checkpoints=3) as saver:
        graph = echo_graph(saver)
        config = {"configurable": {"thread_id": "pruned"}}
        for i in range(8):
            await graph.ainvoke({"messages": [HumanMessage(f"m{i}")]}, config)
        await saver.adrain()
        kept = [t async for t in saver.alist(config)]  # newest first
        # The last prune kept the newest 3 of its snapshot; checkpoints the last turn wrote after
        # that snapshot come on top (when the prune ran relative to them is up to the scheduler).
        assert 3 <= len(kept) <= 5, [t.metadata for t in kept]
        assert any(t.metadata.get("source") == "input" for t in kept), "the last turn's input is kept"
        # What is kept is the newest contiguous stretch of the chain: each parent is the next one...
        for newer, older in itertools.pairwise(kept):
            assert newer.parent_config is not None
            assert (
                newer.parent_config["configurable"]["checkpoint_id"]
                == older.config["configurable"]["checkpoint_id"]
            )
        # ...and everything older is gone: the oldest kept checkpoint is far from the thread's
        # first (step -1), and its parent was pruned (prune unlinks a kept child from it).
        assert kept[-1].metadata["step"] > 10, [t.metadata for t in kept]
        oldest_parent = kept[-1].parent_config
        assert oldest_parent is None or await saver.aget_tuple(oldest_parent) is None
        state = await graph.aget_state(config)
        assert (
            state.config["configurable"]["checkpoint_id"] == kept[0].config["configurable"]["checkpoint_id"]
        )
        assert len(state.values["messages"]) == 16
        assert (
            await count(
                database_url,
                "SELECT count(*) FROM checkpoint_blobs b WHERE thread_id = 'pruned' AND NOT EXISTS ("
                " SELECT 1 FROM checkpoints c WHERE c.thread_id = b.thread_id"
                " AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)",
            )
            == 0
        )


async def test_prune_keep_n(saver: BrainSaver) -> None:
    graph = echo_graph(saver)
    config = {"configurable": {"thread_id": "keep-n"}}
    for i in range(4):
        await graph.ainvoke({"messages": [HumanMessage(f"m{i}")]}, config)
    before = [t.checkpoint["id"] async for t in saver.alist(config)]
    await saver.aprune(["keep-n"], keep=2)
    after = [t.checkpoint["id"] async for t in saver.alist(config)]
    assert after == before[:2]
    oldest = await saver.aget_tuple({"configurable": {"thread_id": "keep-n", "checkpoint_id": after[-1]}})
    assert oldest is not None and oldest.parent_config is None
    state = await graph.aget_state(config)
    assert len(state.values["messages"]) == 8


async def test_delete_user_and_copy_thread_carry_the_transcript(saver: BrainSaver) -> None:
    graph = echo_graph(saver)
    for thread, user in (("u1-a", "alice"), ("u1-b", "alice"), ("u2-a", "bob")):
        cfg = {"configurable": {"thread_id": thread, "user_id": user}}
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, cfg)
        await saver.transcript.aappend(thread, [HumanMessage("archived", id=f"old-{thread}")])

    await saver.acopy_thread("u1-a", "u1-a-copy")
    session = await saver.aget_session("u1-a-copy")
    assert [m.content for m in session] == ["archived", "hi", "echo: hi"]

    deleted = await saver.adelete_user("alice")
    assert deleted == ["u1-a", "u1-a-copy", "u1-b"]
    for thread in deleted:
        assert await saver.aget_session(thread) == []
    assert [m.content for m in await saver.aget_session("u2-a")] == ["archived", "hi", "echo: hi"]


async def test_ttl_sweep_deletes_only_expired_threads(saver: BrainSaver, database_url: str) -> None:
    graph = echo_graph(saver)
    for thread in ("ttl-old", "ttl-new"):
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": thread}})
    # Age one thread by rewriting its checkpoints' timestamps.
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        old = (datetime.now(UTC) - timedelta(days=10)).isoformat()
        await conn.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', to_jsonb(%s::text)) "
            "WHERE thread_id = 'ttl-old'",
            (old,),
        )
    swept = await saver.asweep_expired(timedelta(days=7))
    assert "ttl-old" in swept and "ttl-new" not in swept
    assert await saver.aget_tuple({"configurable": {"thread_id": "ttl-old"}}) is None
    assert await saver.aget_tuple({"configurable": {"thread_id": "ttl-new"}}) is not None


async def test_transcript_pagination_is_keyset_and_complete(saver: BrainSaver) -> None:
    msgs = [HumanMessage(f"m{i}", id=f"id{i}") for i in range(25)]
    assert await saver.transcript.aappend("pages", msgs) == 25
    assert await saver.transcript.aappend("pages", msgs[:5]) == 0  # idempotent
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await saver.transcript.apage("pages", after=after, limit=10)
        seen += [str(e.message.content) for e in page.entries]
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == [f"m{i}" for i in range(25)]
    assert pages == 3


async def test_langgraph_json_factory_yields_a_ready_saver(database_url: str) -> None:
    from langgraph_brain.checkpointers import brain_checkpointer
    from langgraph_brain.settings import BrainSettings

    # The LangGraph server imports "langgraph_brain.checkpointers.brain_checkpointer", calls it
    # with no arguments and enters the async context manager it returns.
    settings = BrainSettings(DATABASE_URL=database_url, BRAIN_KEEP_CHECKPOINTS=2)
    async with brain_checkpointer(settings) as saver:
        assert isinstance(saver, BrainSaver)
        assert saver.keep_checkpoints == 2
        graph = echo_graph(saver)
        config = {"configurable": {"thread_id": "factory"}}
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, config)
        assert (await graph.aget_state(config)).values["messages"][-1].content == "echo: hi"

"""Short-term memory: stock AsyncPostgresSaver vs BrainSaver + compaction, one thread, N turns.

Both run the same graph (a scripted model node that answers with 60 words to a 30-word human
message) on the same Postgres, each in its own fresh database, in one process, one after the
other. Reported: median turn latency around turn 10 and around the last turn, their ratio, and
the on-disk size of every table the saver uses (checkpoints, blobs, writes and, for ours, the
transcript), indexes and TOAST included.

    python bench/bench_short_term.py --turns 1000

Uses DATABASE_URL when set, else a private embedded Postgres in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import START, MessagesState, StateGraph
from psycopg import sql

from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.db import create_database, open_async_pool, resolve_database_url
from langgraph_brain.middleware import Compactor

WORDS = [
    "memory",
    "graph",
    "thread",
    "turn",
    "token",
    "budget",
    "window",
    "message",
    "human",
    "model",
    "tool",
    "call",
    "result",
    "state",
    "checkpoint",
    "postgres",
    "table",
    "index",
    "vacuum",
    "page",
    "cursor",
    "transcript",
    "session",
    "agent",
    "user",
    "company",
]

TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "chat_messages")


def sentence(n_words: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 13) % len(WORDS)] for i in range(n_words))


def build_graph(compactor: Compactor | None) -> StateGraph[Any]:
    async def model(state: MessagesState) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(sentence(60, n))]}

    builder: StateGraph[Any] = StateGraph(MessagesState)
    builder.add_node("model", model)
    if compactor is not None:
        builder.add_node("compact", compactor)
        builder.add_edge(START, "compact")
        builder.add_edge("compact", "model")
    else:
        builder.add_edge(START, "model")
    return builder


async def disk_bytes(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        total = 0
        for table in TABLES:
            cur = await conn.execute("SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (table,))
            row = await cur.fetchone()
            total += int(row[0]) if row else 0
        return total


async def vacuum(url: str) -> None:
    """What autovacuum does in the background: mark dead rows' space reusable (no VACUUM FULL)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for table in TABLES:
            cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            row = await cur.fetchone()
            if row and row[0]:
                await conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(table)))


async def run_turns(
    name: str,
    invoke: Callable[[int], Awaitable[Any]],
    turns: int,
    progress: bool,
    between: Callable[[], Awaitable[None]] | None,
    vacuum_every: int,
) -> list[float]:
    latencies: list[float] = []
    for t in range(1, turns + 1):
        start = time.perf_counter()
        await invoke(t)
        latencies.append((time.perf_counter() - start) * 1000)
        if between is not None and vacuum_every and t % vacuum_every == 0:
            await between()  # outside the timed turn, as autovacuum runs outside it
        if progress and t % 100 == 0:
            print(f"  {name}: turn {t}: {latencies[-1]:.1f} ms", file=sys.stderr)
    return latencies


def window_median(latencies: list[float], center: int, half: int = 10) -> float:
    """Median of the (up to) 20 turns around turn `center`: robust to a noisy shared machine."""
    hi = min(len(latencies), center - 1 + half)
    lo = max(0, hi - 2 * half)
    return statistics.median(latencies[lo:hi])


async def bench_stock(url: str, turns: int, progress: bool, vacuum_every: int) -> tuple[list[float], int]:
    pool = await open_async_pool(url, min_size=1, max_size=4, name="stock")
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = build_graph(None).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}}

        async def invoke(t: int) -> Any:
            return await graph.ainvoke({"messages": [HumanMessage(sentence(30, t))]}, config)

        latencies = await run_turns("stock", invoke, turns, progress, lambda: vacuum(url), vacuum_every)
    finally:
        await pool.close()
    return latencies, await disk_bytes(url)


async def bench_brain(
    url: str, turns: int, progress: bool, retain: int, keep: int, vacuum_every: int
) -> tuple[list[float], int, int]:
    pool = await open_async_pool(url, min_size=1, max_size=4, name="brain")
    try:
        saver = BrainSaver(pool, keep_checkpoints=keep)  # type: ignore[arg-type]
        await saver.setup()
        graph = build_graph(Compactor(saver.transcript, retain_messages=retain)).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}}

        async def invoke(t: int) -> Any:
            return await graph.ainvoke({"messages": [HumanMessage(sentence(30, t))]}, config)

        async def between() -> None:
            await saver.adrain()
            await vacuum(url)

        latencies = await run_turns("brain", invoke, turns, progress, between, vacuum_every)
        await saver.adrain()
        session = await saver.aget_session("bench")
    finally:
        await pool.close()
    return latencies, await disk_bytes(url), len(session)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--early", type=int, default=10, help="turn whose latency is the baseline")
    parser.add_argument("--retain", type=int, default=40, help="messages kept in state (ours)")
    parser.add_argument("--keep", type=int, default=3, help="checkpoints kept per thread (ours)")
    parser.add_argument(
        "--vacuum-every",
        type=int,
        default=50,
        help="plain VACUUM of both databases every N turns, untimed, standing in for autovacuum "
        "(whose 1 min naptime a compressed benchmark outruns; real conversations take hours). 0: never",
    )
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    rows: list[tuple[str, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="brain-bench-") as tmp:
        server = resolve_database_url(os.environ.get("DATABASE_URL"), Path(tmp))
        if not args.skip_stock:
            url = create_database(server, "bench_stock")
            lat, disk = asyncio.run(bench_stock(url, args.turns, args.progress, args.vacuum_every))
            early, late = window_median(lat, args.early), window_median(lat, args.turns)
            rows.append(("stock AsyncPostgresSaver", early, late, disk))
        url = create_database(server, "bench_brain")
        lat, disk, n_session = asyncio.run(
            bench_brain(url, args.turns, args.progress, args.retain, args.keep, args.vacuum_every)
        )
        rows.append(
            ("BrainSaver + compaction", window_median(lat, args.early), window_median(lat, args.turns), disk)
        )
        assert n_session == 2 * args.turns, f"session has {n_session} messages, expected {2 * args.turns}"

    print(
        f"\none thread, {args.turns} turns (human 30 words, AI 60 words); latency = median of 20 turns; "
        f"plain VACUUM every {args.vacuum_every} turns, untimed (0 = never)\n"
    )
    print(f"| saver | turn {args.early} ms | turn {args.turns} ms | late/early | disk MB |")
    print("|---|---:|---:|---:|---:|")
    for name, early, late, disk in rows:
        print(f"| {name} | {early:.1f} | {late:.1f} | {late / early:.2f}x | {disk / 1e6:.2f} |")
    if len(rows) == 2:
        (_, _, s_late, s_disk), (_, _, b_late, b_disk) = rows
        print(
            f"\nstock/ours at turn {args.turns}: latency {s_late / b_late:.1f}x, disk {s_disk / b_disk:.1f}x"
        )
    print(f"ours: transcript + state hold {n_session} messages, each once")
    print(f"load average during the run: {os.getloadavg()[1]:.1f} (5 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

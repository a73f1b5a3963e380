"""BrainStore vs LangGraph's AsyncPostgresStore on a LoCoMo sample: load rate, search latency, recall@5.

    .venv/bin/python bench/bench_store.py ../shared/data/locomo10.json                  # 3 conversations
    .venv/bin/python bench/bench_store.py ../shared/data/locomo10.json --conversations 1 --json /tmp/s.json

Same data on both sides: every dialog turn of the first N conversations is one item at
namespace ("company", <conversation id>), key = the turn's slug (``D3:12`` -> ``d3-12``), value
``{"content": "Speaker: text", "metadata": {...}}`` (the `bench/locomo.py` mapping). Both stores
run on the same Postgres server (embedded, or DATABASE_URL's), each in a fresh database:

* BrainStore over a MemoryService (puts are brain saves synced to Mem0; search is the brain's
  search, run with the default "hybrid" mode and with "vector");
* AsyncPostgresStore with ``index={"dims": 384, "embed": <e5>, "fields": ["content"]}``, cosine
  distance and its HNSW index (its defaults, spelled out below).

Both use one e5 engine object (`make_embeddings("e5", query_cache_size=0)`): no query cache
on either side, so every search pays one query embedding on both. e5 wants ``passage: `` on
stored texts and ``query: `` on searches; our embedder adds them in `embed_documents` and
`embed_query`. The brain calls them that way. AsyncPostgresStore (langgraph-checkpoint-postgres
3.2) embeds its puts *and its search queries* with `aembed_documents`, so stock, its queries get
the passage prefix. The row "AsyncPostgresStore, query prefix" searches the same tables through
a second store instance whose embedder maps `embed_documents` to `embed_query`: what the stock
store would score if it embedded queries as queries.

Every question of categories 1-4 is asked of every side (k=5), the order rotating per question
so machine noise spreads evenly. On a sample this small Postgres's planner may scan exactly
instead of using the HNSW index (the run prints how often the index was scanned);
`--force-hnsw` turns sequential scans off in the AsyncPostgresStore sessions to measure the
index. recall@5 is `bench/locomo.py`'s: the share of a question's evidence turns in the top 5,
averaged; hit@5 counts questions with any evidence turn there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp
from langgraph.store.postgres import AsyncPostgresStore
from langgraph.store.postgres.base import PoolConfig, PostgresIndexConfig

from bench.locomo import load
from langgraph_brain.brain import open_memory_service
from langgraph_brain.brain.embeddings import make_embeddings
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings
from langgraph_brain.store import BrainStore

K = 5
IDLE_LOAD_PER_CORE = 0.25
SIDES = ("brain_hybrid", "brain_vector", "lg_stock", "lg_query_prefix")
LABELS = {
    "brain_hybrid": "BrainStore (hybrid, default)",
    "brain_vector": "BrainStore (vector)",
    "lg_stock": "AsyncPostgresStore, stock",
    "lg_query_prefix": "AsyncPostgresStore, query prefix",
}


class QueriesAsQueries(Embeddings):
    """Embeds what AsyncPostgresStore sends to `embed_documents` with `embed_query` instead.

    Used only by a search-only store instance: the rows were embedded as passages by the stock
    instance, and every `embed_documents` call this one makes is a search query.
    """

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.inner.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return [await self.inner.aembed_query(t) for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return await self.inner.aembed_query(text)


def index_config(embed: Embeddings) -> PostgresIndexConfig:
    # HNSW with cosine distance is also the store's default; spelled out so the run says what it ran.
    return {
        "dims": 384,
        "embed": embed,
        "fields": ["content"],
        "distance_type": "cosine",
        "ann_index_config": {"kind": "hnsw", "vector_type": "vector"},
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def load_store(store: BaseStore, ops: list[PutOp], batch: int) -> float:
    """Put every item (in `abatch` calls of `batch` ops); returns puts per second."""
    t0 = time.perf_counter()
    for i in range(0, len(ops), batch):
        await store.abatch(ops[i : i + batch])
    return len(ops) / (time.perf_counter() - t0)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    start_load = os.getloadavg()[0]  # before we add any load of our own
    conversations = load(Path(args.path), args.conversations)
    ops = [
        PutOp(
            ("company", item["entity_id"]),
            item["slug"],
            {"content": item["content"], "metadata": item["metadata"]},
        )
        for conv in conversations
        for item in conv["items"]
    ]
    questions = [(conv["company"], q) for conv in conversations for q in conv["questions"]]
    server = resolve_database_url(
        os.environ.get("DATABASE_URL"), Path(args.data_dir or tempfile.mkdtemp(prefix="brain-store-"))
    )
    brain_url, lg_url = (
        create_database(server, "bench_store_brain"),
        create_database(server, "bench_store_lg"),
    )
    # One e5 engine for both sides, without the query cache: every search embeds its query.
    embeddings = make_embeddings("e5", query_cache_size=0)
    db = await Database.aopen(brain_url)
    pool: PoolConfig = {"min_size": 1, "max_size": 4}
    if args.force_hnsw:  # small tables make the planner prefer an exact scan over the HNSW index
        pool["kwargs"] = {"options": "-c enable_seqscan=off"}
    try:
        async with (
            open_memory_service(BrainSettings(), database=db, embeddings=embeddings) as hybrid_svc,
            open_memory_service(
                BrainSettings(search_mode="vector"), database=db, embeddings=embeddings
            ) as vector_svc,
            AsyncPostgresStore.from_conn_string(
                lg_url, pool_config=pool, index=index_config(embeddings)
            ) as lg_stock,
            AsyncPostgresStore.from_conn_string(
                lg_url, pool_config=pool, index=index_config(QueriesAsQueries(embeddings))
            ) as lg_query_prefix,
        ):
            await lg_stock.setup()
            stores: dict[str, BaseStore] = {
                "brain_hybrid": BrainStore(hybrid_svc),
                "brain_vector": BrainStore(vector_svc),
                "lg_stock": lg_stock,
                "lg_query_prefix": lg_query_prefix,
            }
            puts_per_s = {
                "brain": await load_store(stores["brain_hybrid"], ops, args.put_batch),
                "langgraph": await load_store(lg_stock, ops, args.put_batch),
            }
            print(f"loaded {len(ops)} items per side: {puts_per_s}", flush=True)
            out = await search_all(stores, questions, args.warmup)
            out["load_before"], out["load_after"] = start_load, os.getloadavg()[0]
            async with await psycopg.AsyncConnection.connect(lg_url) as conn:
                row = await (
                    await conn.execute(
                        "SELECT idx_scan FROM pg_stat_user_indexes"
                        " WHERE indexrelname = 'store_vectors_embedding_idx'"
                    )
                ).fetchone()
            out["lg_hnsw_index_scans"] = None if row is None else int(row[0])
    finally:
        await db.aclose()
    out.update(
        items=len(ops), conversations=len(conversations), questions=len(questions), puts_per_s=puts_per_s
    )
    return out


async def search_all(
    stores: dict[str, BaseStore], questions: list[tuple[str, dict[str, Any]]], warmup: int
) -> dict[str, Any]:
    def search(side: str, company: str, text: str) -> Awaitable[Any]:
        return stores[side].asearch(("company", company), query=text, limit=K)

    for company, q in questions[:warmup]:  # plans, pools, the engine's first calls; no cache to fill
        for side in SIDES:
            await search(side, company, q["question"])
    latency: dict[str, list[float]] = {s: [] for s in SIDES}
    recall: dict[str, list[float]] = {s: [] for s in SIDES}
    hit: dict[str, list[float]] = {s: [] for s in SIDES}
    for i, (company, q) in enumerate(questions):
        for j in range(len(SIDES)):
            side = SIDES[(i + j) % len(SIDES)]  # rotate who goes first
            t0 = time.perf_counter()
            items = await search(side, company, q["question"])
            latency[side].append(time.perf_counter() - t0)
            found = {item.key for item in items}
            share = sum(e in found for e in q["evidence"]) / len(q["evidence"])
            recall[side].append(share)
            hit[side].append(float(share > 0))
    return {
        "sides": {
            s: {
                "p50_ms": pct(latency[s], 0.5),
                "p95_ms": pct(latency[s], 0.95),
                "recall_at_5": statistics.fmean(recall[s]),
                "hit_at_5": statistics.fmean(hit[s]),
            }
            for s in SIDES
        },
        "raw_latency_s": latency,
    }


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\nLoCoMo sample: {r['conversations']} conversations, {r['items']} turns as items,"
        f" {r['questions']} questions (categories 1-4), k={K}, query embedding included"
    )
    base = r["sides"]["lg_stock"]["p50_ms"]
    print(
        "| store | search p50 | p95 | p50 / AsyncPostgresStore | recall@5 | hit@5 |\n"
        "|---|---|---|---|---|---|"
    )
    for side in SIDES:
        s = r["sides"][side]
        print(
            f"| {LABELS[side]} | {s['p50_ms']:.1f} ms | {s['p95_ms']:.1f} ms | {s['p50_ms'] / base:.2f}x"
            f" | {s['recall_at_5']:.3f} | {s['hit_at_5']:.3f} |"
        )
    p = r["puts_per_s"]
    print(
        f"\nloading ({args.put_batch} put(s) per abatch call): BrainStore {p['brain']:.1f} puts/s,"
        f" AsyncPostgresStore {p['langgraph']:.1f} puts/s"
        f"\nAsyncPostgresStore HNSW index scans during the run: {r['lg_hnsw_index_scans']}"
    )
    idle = r["load_before"] <= IDLE_LOAD_PER_CORE * (os.cpu_count() or 1)
    print(
        f"load average (1 min) at start: {r['load_before']:.2f}, after: {r['load_after']:.2f}"
        f" on {os.cpu_count()} cores; machine {'idle' if idle else 'LOADED'}"
        f" (idle = ≤ {IDLE_LOAD_PER_CORE}/core)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", help="path to locomo10.json")
    parser.add_argument("--conversations", type=int, default=3, help="first N conversations")
    parser.add_argument("--put-batch", type=int, default=1, help="puts per abatch call while loading")
    parser.add_argument(
        "--force-hnsw", action="store_true", help="AsyncPostgresStore sessions with enable_seqscan=off"
    )
    parser.add_argument("--warmup", type=int, default=10, help="untimed questions per side first")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="also write the figures and raw latencies (s) to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), **result}, indent=2))


if __name__ == "__main__":
    main()

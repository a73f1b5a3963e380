"""What row-level security with signed tenants costs search: owner vs application role.

    python bench/bench_rls.py                                    # 20,000 memories, 200 tenants
    python bench/bench_rls.py --memories 200000 --entities 2000  # the brain benchmark's size

One fresh database (embedded Postgres, or DATABASE_URL's server), bulk-loaded like
bench/bench_brain.py (`bench.synthetic.bulk_load`: real e5 vectors, synced rows, Mem0 payloads).
The same queries, for the same tenants, go through `MemoryService.asearch(k=5)` three ways,
interleaved query by query in rotating order so that load drifts hit all three alike:

- owner: the migration role (on the embedded server a superuser, so RLS is not evaluated at all;
  a non-superuser owner would pass through its `USING (true)` policies), Mem0 on the
  tenant-aware pool (each call: BEGIN + tenant settings, the query, COMMIT);
- owner, pre-v6 Mem0 pool: the same, with Mem0 on a plain autocommit pool, as before migration v6
  (no per-call transaction): the plumbing's own cost;
- app role: a NOSUPERUSER NOBYPASSRLS role (`acreate_app_role`) with the tenant key: every
  statement passes the v6 policies (signature check + tenant filter), Mem0 included.

Modes: vector and hybrid (the default), end to end (e5 query embedding included), and the Mem0
vector query alone on a pre-computed embedding, where the database work is all there is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")

from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import FACTS, SUBJECTS, aembed_corpus, bulk_load
from langgraph_brain.brain import MemoryService, open_memory_service, shared_embeddings
from langgraph_brain.brain.embeddings import embedding_dimensions
from langgraph_brain.brain.index import entity_key
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.db import (
    Database,
    create_database,
    open_async_pool,
    open_sync_pool,
    resolve_database_url,
)
from langgraph_brain.db.rls import acreate_app_role, aread_tenant_key, parse_tenant_key
from langgraph_brain.settings import BrainSettings

console = Console()
WAYS = ("owner", "owner_pre_v6", "app")
LABELS = {"owner": "owner", "owner_pre_v6": "owner, pre-v6 Mem0 pool", "app": "app role, signed"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-bench-rls-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    url = create_database(server, "bench_rls")
    per_entity = args.memories // args.entities
    rng = random.Random(5)
    role = "brain_bench_app"
    db = await Database.aopen(url)
    settings = BrainSettings(search_mode="hybrid")
    async with open_memory_service(settings, database=db) as owner:
        embeddings = shared_embeddings("e5", "text-embedding-3-small")
        texts, vectors = await aembed_corpus(console, embeddings, args.distinct)
        t0 = time.perf_counter()
        async with db.pool.connection() as conn:
            total = await bulk_load(
                conn,
                texts=texts,
                vectors=vectors,
                entities=args.entities,
                per_entity=per_entity,
                scope="company",
            )
            await acreate_app_role(conn, role)
            key = parse_tenant_key(await aread_tenant_key(conn))
        console.print(
            f"bulk-loaded {total:,} memories for {args.entities:,} tenants in {time.perf_counter() - t0:.1f}s"
        )

        dims = await asyncio.to_thread(embedding_dimensions, embeddings)
        app_url = make_conninfo(db.url, user=role)
        app_index = await asyncio.to_thread(Mem0OSSIndex.create, app_url, embeddings, dims=dims)
        app_pool = await open_async_pool(app_url, min_size=2, max_size=10)
        app = MemoryService(app_pool, app_index, tenant_key=key, search_mode="hybrid")
        await app.acheck_tenant_access()
        # The pre-v6 plumbing: Mem0 on a plain autocommit pool, no per-call transaction or settings.
        pre_index = await asyncio.to_thread(Mem0OSSIndex.create, db.url, embeddings, dims=dims)
        plain_pool = await asyncio.to_thread(open_sync_pool, db.url, name="bench-plain")
        await asyncio.to_thread(pre_index.sync_pool.close)
        pre_index._sync_pool = plain_pool  # swapping the plumbing on purpose: this bench measures it
        pre_index.memory.vector_store.connection_pool = plain_pool
        owner_pre = MemoryService(db.pool, pre_index, search_mode="hybrid")
        services = {"owner": owner, "owner_pre_v6": owner_pre, "app": app}
        indexes = {"owner": owner.index, "owner_pre_v6": pre_index, "app": app_index}

        tenants = [f"tenant-{rng.randrange(args.entities)}" for _ in range(args.queries)]
        queries = [f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}?" for _ in range(args.queries)]
        query_vectors = await asyncio.to_thread(lambda: [embeddings.embed_query(q) for q in queries])

        def search(way: str, mode: str, i: int) -> Callable[[], Awaitable[Any]]:
            return lambda: services[way].asearch("company", tenants[i], queries[i], k=5, mode=mode)

        def vector_only(way: str, i: int) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                index = indexes[way]
                assert isinstance(index, Mem0OSSIndex)
                with services[way].tenancy.bind_index("company", tenants[i]):
                    key_ = entity_key("company", tenants[i])
                    return await index.asearch_vector(query_vectors[i], entity_key=key_, k=5)

            return run

        ops: dict[str, Callable[[str, int], Callable[[], Awaitable[Any]]]] = {
            "vector": lambda way, i: search(way, "vector", i),
            "hybrid": lambda way, i: search(way, "hybrid", i),
            "Mem0 query only": vector_only,
        }
        # Same answers both ways (the app role sees exactly its tenant), and warm every path.
        for i in range(min(10, args.queries)):
            for op in ops:
                answers = [await ops[op](way, i)() for way in WAYS]
                if op != "Mem0 query only":
                    slugs = [[h.slug for h in a] for a in answers]
                    assert slugs[0] == slugs[1] == slugs[2], (op, slugs)
                    assert len(slugs[0]) == 5, slugs
        console.print(f"before: {load()}")
        results: dict[str, dict[str, list[float]]] = {op: {w: [] for w in WAYS} for op in ops}
        started = time.perf_counter()
        for i in range(args.queries):
            for op in ops:
                order = WAYS[i % 3 :] + WAYS[: i % 3]
                for way in order:
                    run = ops[op](way, i)
                    t0 = time.perf_counter()
                    await run()
                    results[op][way].append(time.perf_counter() - t0)
        console.print(f"after:  {load()}; {time.perf_counter() - started:.0f}s of searches")
        await app_index.aclose()
        await pre_index.aclose()
        await app_pool.close()
    await db.aclose()
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    table = Table(
        title=f"Search latency, k=5: {args.memories:,} memories, {args.entities:,} tenants,"
        f" {args.queries} queries per cell, interleaved"
    )
    table.add_column("search")
    for way in WAYS:
        table.add_column(f"{LABELS[way]} p50 / p95", justify="right")
    table.add_column("app / owner: p50, p95, paired", justify="right")
    table.add_column("app / pre-v6: p50, p95, paired", justify="right")
    out: dict[str, Any] = {"memories": args.memories, "entities": args.entities, "queries": args.queries}
    for op, by_way in results.items():
        cells = [f"{pct(by_way[w], 0.5):.2f} / {pct(by_way[w], 0.95):.2f} ms" for w in WAYS]

        def ratio(base: str, by_way: dict[str, list[float]] = by_way) -> str:
            """Ratios of the p50s and of the p95s, then the median of the per-query ratios (each
            query ran both ways back to back, so drifting load cancels out of this one)."""
            quantiles = [pct(by_way["app"], q) / pct(by_way[base], q) for q in (0.5, 0.95)]
            paired = statistics.median(a / b for a, b in zip(by_way["app"], by_way[base], strict=True))
            return "  ".join(f"{r:.3f}x" for r in (*quantiles, paired))

        table.add_row(op, *cells, ratio("owner"), ratio("owner_pre_v6"))
        out[op] = {
            w: {
                "p50_ms": round(pct(by_way[w], 0.5), 3),
                "p95_ms": round(pct(by_way[w], 0.95), 3),
                "mean_ms": round(statistics.mean(by_way[w]) * 1000, 3),
            }
            for w in WAYS
        }
        for base in ("owner", "owner_pre_v6"):
            out[op][f"app_over_{base}_paired_median"] = round(
                statistics.median(a / b for a, b in zip(by_way["app"], by_way[base], strict=True)), 4
            )
    console.print(table)
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps({"bench": "rls", **out}) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=20_000)
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=2_000, help="distinct sentences embedded for real")
    parser.add_argument("--queries", type=int, default=500, help="queries per cell")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="append the figures as one JSON line to this file")
    asyncio.run(main(parser.parse_args()))

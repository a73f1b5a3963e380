"""Scale curve: search latency and recall for one tenant of 100, 10,000 and 100,000 memories.

    .venv/bin/python bench/bench_scale.py                     # 200,000 memories in other tenants
    .venv/bin/python bench/bench_scale.py --others 20000 --sizes 100,2000,20000   # quick

The other tenants hold `--others` memories (100 each). Each measured tenant gets its own rows with
vectors that are real e5 vectors plus a little noise (no exact duplicates, so "the 10 nearest" is
well defined). For each size: hybrid and vector search p50/p95 (k=5, query embedding included;
queries distinct, so the query cache never hits), and vector recall@10 against an exact scan.
With `--index` the same run then builds the approximate indexes of tenants above the threshold
(`brain vector-index`) and measures again, so both are side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.synthetic import FACTS, SUBJECTS, aembed_corpus, bulk_load
from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

console = Console(width=160)
EXACT_SQL = (
    "SELECT payload->>'slug' AS slug FROM brain_mem0 WHERE payload->>'user_id' = %s"
    " ORDER BY (vector <=> %s::vector) + 0 LIMIT %s"  # "+ 0": no index can serve it, always exact
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def load(db: Database, args: argparse.Namespace, sizes: list[int]) -> None:
    texts, vectors = await aembed_corpus(console, _embeddings(), args.distinct)
    t0 = time.perf_counter()
    async with db.pool.connection() as conn:
        await bulk_load(conn, texts=texts, vectors=vectors, entities=args.others // 100, per_entity=100,
                        scope="company", entity_prefix="other")  # fmt: skip
        for size in sizes:
            await bulk_load(conn, texts=texts, vectors=vectors, entities=1, per_entity=size, scope="company",
                            entity_prefix=f"scale{size}", seed=size)  # fmt: skip
            # Perturb this tenant's vectors so that no two rows are identical.
            await conn.execute(
                "UPDATE brain_mem0 SET vector = (SELECT array_agg(x + (random() - 0.5) * 0.02)"
                " FROM unnest(vector::real[]) AS x)::vector WHERE payload->>'user_id' = %s",
                (f"company:scale{size}-0",),
            )
        await conn.execute("VACUUM ANALYZE brain_mem0")
        await conn.execute("VACUUM ANALYZE brain_memories")
    console.print(f"loaded in {time.perf_counter() - t0:.1f}s")


def _embeddings() -> Any:
    from langgraph_brain.brain import shared_embeddings

    return shared_embeddings("e5", "text-embedding-3-small")


async def measure(svc: MemoryService, db: Database, size: int, n: int, rng: random.Random) -> dict[str, Any]:
    entity = f"scale{size}-0"
    key = f"company:{entity}"
    queries = [f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}? (q{size}-{i})" for i in range(n)]
    out: dict[str, Any] = {}
    for mode in ("hybrid", "vector"):
        times = []
        for q in queries:
            t0 = time.perf_counter()
            await svc.asearch("company", entity, q + mode, k=5, mode=mode)  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        out[mode] = times
    embeddings = svc.index.embeddings  # type: ignore[attr-defined]
    recalls = []
    for q in queries[: min(n, 50)]:
        got = {h.slug for h in await svc.asearch("company", entity, q, k=10, mode="vector")}
        vec = await embeddings.aembed_query(q)
        async with db.pool.connection() as conn:
            exact = {r["slug"] for r in await (await conn.execute(EXACT_SQL, (key, vec, 10))).fetchall()}
        recalls.append(len(got & exact) / max(1, len(exact)))
    out["recall"] = sum(recalls) / len(recalls)
    return out


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-scale-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    db = await Database.aopen(create_database(server, "bench_scale"))
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    async with open_memory_service(BrainSettings(), database=db) as svc:
        await load(db, args, sizes)
        rng = random.Random(9)
        for size in sizes:  # warm every tenant's pages and plans before timing any
            await measure(svc, db, size, 5, rng)
        console.print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        runs["exact scans (no index)"] = {
            size: await measure(svc, db, size, args.queries, rng) for size in sizes
        }
        if args.index:
            from langgraph_brain.brain.vector_indexes import aensure_vector_indexes

            t0 = time.perf_counter()
            built = await aensure_vector_indexes(svc.admin_pool, threshold=args.threshold)
            console.print(f"approximate indexes {built.created} built in {time.perf_counter() - t0:.1f}s")
            svc.index.registry_ttl = 0.0  # type: ignore[attr-defined]
            for size in sizes:
                await measure(svc, db, size, 5, rng)
            runs[f"with brain vector-index (threshold {args.threshold:,})"] = {
                size: await measure(svc, db, size, args.queries, rng) for size in sizes
            }
        console.print(f"load average after: {os.getloadavg()[0]:.2f}")
    await db.aclose()
    for title, results in runs.items():
        report(title, args, sizes, results)


def report(
    title: str, args: argparse.Namespace, sizes: list[int], results: dict[int, dict[str, Any]]
) -> None:
    table = Table(title=f"{title}: one tenant of N memories beside {args.others:,} others")
    for col in ("tenant size", "hybrid p50 / p95", "vector p50 / p95", "vector recall@10 vs exact"):
        table.add_column(col, justify="right")
    for size, r in results.items():
        table.add_row(
            f"{size:,}",
            f"{pct(r['hybrid'], 0.5):.1f} / {pct(r['hybrid'], 0.95):.1f} ms",
            f"{pct(r['vector'], 0.5):.1f} / {pct(r['vector'], 0.95):.1f} ms",
            f"{r['recall']:.3f}",
        )
    console.print(table)
    small, large = results[sizes[0]], results[sizes[-1]]
    growth = pct(large["hybrid"], 0.95) / pct(small["hybrid"], 0.95)
    console.print(f"hybrid p95 largest / smallest: {growth:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--others", type=int, default=200_000)
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--index", action="store_true", help="build approximate indexes for large tenants")
    parser.add_argument("--threshold", type=int, default=5_000, help="tenant size that gets an index")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    asyncio.run(main(parser.parse_args()))

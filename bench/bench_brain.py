"""Brain benchmark: save and search latency and tenant recall, side by side with plain Mem0.

    python bench/bench_brain.py                       # 200,000 memories, 2,000 tenants
    python bench/bench_brain.py --memories 20000 --entities 200   # quick run

Runs on a fresh database in the embedded Postgres (or DATABASE_URL). Four columns:
- brain: MemoryService.asave / asearch (k=5), query embedding included;
- Mem0 (same table): AsyncMemory.add(infer=False) / AsyncMemory.search on the collection the
  brain uses (our indexes), i.e. Mem0's own code path on identical data;
- Mem0 (stock layout): AsyncMemory.search on a collection Mem0 created itself (vector(384) +
  HNSW), loaded with the same rows: what a plain Mem0 install does.
"""

from __future__ import annotations

import argparse
import asyncio
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

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import FACTS, SUBJECTS, aembed_corpus, bulk_load
from langgraph_brain.brain import open_memory_service, shared_embeddings
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

console = Console(width=150)
SMALL_TENANT = [
    ("bank_account", "Our company account is at Banco Estado, branch 42."),
    ("tax_id", "The company RUT is 76.123.456-7."),
    ("fiscal_year", "Our fiscal year closes on December 31."),
    ("payroll_day", "Payroll is paid on the 25th of each month."),
    ("accountant", "Our external accountant is Marta Rojas."),
]
SMALL_QUERIES = ["where is our bank account", "company tax id", "fiscal year end", "salary day", "bookkeeper"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(n: int, make: Callable[[int], Awaitable[Any]], label: str) -> list[float]:
    out: list[float] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=n)
        for i in range(n):
            t0 = time.perf_counter()
            await make(i)
            out.append(time.perf_counter() - t0)
            progress.advance(task)
    return out


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-bench-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    url = create_database(server, "bench_brain")
    per_entity = args.memories // args.entities
    rng = random.Random(3)
    db = await Database.aopen(url)
    settings = BrainSettings(search_mode="vector")
    async with open_memory_service(settings, database=db) as svc:
        embeddings = shared_embeddings("e5", "text-embedding-3-small")
        texts, vectors = await aembed_corpus(console, embeddings, args.distinct)
        t0 = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("bulk load (COPY)", total=args.memories)
            async with db.pool.connection() as conn:
                total = await bulk_load(
                    conn,
                    texts=texts,
                    vectors=vectors,
                    entities=args.entities,
                    per_entity=per_entity,
                    scope="company",
                    on_progress=lambda n: progress.advance(task, n),
                )
        console.print(f"bulk-loaded {total:,} memories in {time.perf_counter() - t0:.1f}s")
        for slug, content in SMALL_TENANT:
            await svc.asave("company", "small-co", slug, content)

        assert isinstance(svc.index, Mem0OSSIndex)
        mem0 = svc.index.memory
        tenants = [f"tenant-{rng.randrange(args.entities)}" for _ in range(args.queries)]
        queries = [f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}? ({i})" for i in range(args.queries)]

        # Warm both paths so start-up (model load, pool fill, plan cache) is not counted.
        for i in range(10):
            await svc.asearch("company", tenants[i], queries[i])
            await mem0.search(queries[i], filters={"user_id": f"company:{tenants[i]}"}, top_k=5)

        results: dict[str, dict[str, list[float]]] = {"brain": {}, "mem0_same": {}, "mem0_stock": {}}
        # The floor under every search: e5 embedding of the query alone, the same way search calls it.
        results["brain"]["embed"] = await timed(
            args.queries,
            lambda i: asyncio.to_thread(embeddings.embed_query, queries[i] + " e"),
            "e5 query embedding",
        )
        # Every timed call gets text no earlier call used, so the query cache never hits.
        results["brain"]["search"] = await timed(
            args.queries, lambda i: svc.asearch("company", tenants[i], queries[i] + " v", k=5), "brain search"
        )
        results["brain"]["hybrid"] = await timed(
            args.queries,
            lambda i: svc.asearch("company", tenants[i], queries[i] + " h", k=5, mode="hybrid"),
            "brain hybrid search",
        )
        results["mem0_same"]["search"] = await timed(
            args.queries,
            lambda i: mem0.search(queries[i] + " m", filters={"user_id": f"company:{tenants[i]}"}, top_k=5),
            "Mem0 search (same table)",
        )
        save_texts = [
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(FACTS)} #{i}" for i in range(args.saves)
        ]
        results["brain"]["save"] = await timed(
            args.saves,
            lambda i: svc.asave("company", f"tenant-{i % args.entities}", f"bench_{i % 50}", save_texts[i]),
            "brain save",
        )
        results["mem0_same"]["save"] = await timed(
            args.saves,
            lambda i: mem0.add(save_texts[i], user_id=f"company:plain-{i % args.entities}", infer=False),
            "Mem0 add",
        )
        recall = await tenant_recall(lambda q, k: svc.asearch("company", "small-co", q, k=k))

        stock_recall: dict[int, float] = {}
        if not args.skip_stock:
            stock = await asyncio.to_thread(stock_mem0, url, embeddings)
            t0 = time.perf_counter()
            with console.status("copying rows into a stock Mem0 collection and building its HNSW index"):
                async with db.pool.connection() as conn:
                    await conn.execute("DROP INDEX IF EXISTS bench_mem0_stock_hnsw_idx")
                    await conn.execute(
                        "INSERT INTO bench_mem0_stock (id, vector, payload)"
                        " SELECT id, vector::vector(384), payload FROM brain_mem0"
                    )
                    await conn.execute("SET maintenance_work_mem = '1GB'")
                    await conn.execute(
                        "CREATE INDEX bench_mem0_stock_hnsw_idx ON bench_mem0_stock"
                        " USING hnsw (vector vector_cosine_ops)"
                    )
                    await conn.execute("ANALYZE bench_mem0_stock")
            console.print(f"stock layout ready in {time.perf_counter() - t0:.1f}s")
            for i in range(10):
                await stock.search(queries[i], filters={"user_id": f"company:{tenants[i]}"}, top_k=5)
            results["mem0_stock"]["search"] = await timed(
                args.queries,
                lambda i: stock.search(
                    queries[i] + " s", filters={"user_id": f"company:{tenants[i]}"}, top_k=5
                ),
                "Mem0 search (stock HNSW layout)",
            )

            async def stock_search(q: str, k: int) -> list[str]:
                out = await stock.search(q, filters={"user_id": "company:small-co"}, top_k=k)
                return [r.get("metadata", {}).get("slug", "") for r in out["results"]]

            stock_recall = await tenant_recall(stock_search)
    await db.aclose()
    report(args, results, recall, stock_recall)


async def tenant_recall(search: Callable[[str, int], Awaitable[Any]]) -> dict[int, float]:
    wanted = {slug for slug, _ in SMALL_TENANT}
    out: dict[int, float] = {}
    for k in (5, 10):
        found = []
        for q in SMALL_QUERIES:
            hits = await search(q, k)
            slugs = {h if isinstance(h, str) else h.slug for h in hits}
            found.append(len(slugs & wanted) / len(wanted))
        out[k] = statistics.mean(found)
    return out


def stock_mem0(url: str, embeddings: Any) -> Any:
    """A plain Mem0 AsyncMemory that creates its own collection (vector(384) + HNSW)."""
    from mem0 import AsyncMemory

    from langgraph_brain.brain.mem0_payload import PrefixAwareEmbedder

    memory = AsyncMemory.from_config(
        {
            "vector_store": {
                "provider": "pgvector",
                "config": {
                    "connection_string": url,
                    "collection_name": "bench_mem0_stock",
                    "embedding_model_dims": 384,
                },
            },
            "embedder": {"provider": "langchain", "config": {"model": embeddings}},
            "llm": {"provider": "openai", "config": {"api_key": "unused-because-infer-is-false"}},
            "history_db_path": ":memory:",
        }
    )
    memory.embedding_model = PrefixAwareEmbedder(embeddings)
    memory.vector_store._ensure_collection()
    return memory


def report(
    args: argparse.Namespace,
    results: dict[str, dict[str, list[float]]],
    recall: dict[int, float],
    stock_recall: dict[int, float],
) -> None:
    table = Table(title=f"Brain vs plain Mem0: {args.memories:,} memories, {args.entities:,} tenants")
    table.add_column("metric")
    table.add_column("target")
    table.add_column("brain", justify="right")
    table.add_column("Mem0, same table", justify="right")
    table.add_column("Mem0, stock HNSW", justify="right")
    table.add_column("brain / Mem0 same", justify="right")

    def cell(col: str, op: str, q: float) -> str:
        values = results[col].get(op)
        return f"{pct(values, q):.1f} ms" if values else "-"

    def ratio(op: str, q: float) -> str:
        a, b = results["brain"].get(op), results["mem0_same"].get(op)
        return f"{pct(a, q) / pct(b, q):.2f}x" if a and b else "-"

    table.add_row(
        "save p50",
        "≤ 30 ms",
        cell("brain", "save", 0.5),
        cell("mem0_same", "save", 0.5),
        "-",
        ratio("save", 0.5),
    )
    table.add_row(
        "save p95", "", cell("brain", "save", 0.95), cell("mem0_same", "save", 0.95), "-", ratio("save", 0.95)
    )
    for q, target in ((0.5, "≤ 15 ms"), (0.95, "≤ 25 ms")):
        table.add_row(
            f"search p{int(q * 100)}",
            target,
            cell("brain", "search", q),
            cell("mem0_same", "search", q),
            cell("mem0_stock", "search", q),
            ratio("search", q),
        )
    table.add_row("  of which e5 query embedding, p50", "", cell("brain", "embed", 0.5), "", "", "")
    for q in (0.5, 0.95):
        table.add_row(
            f"hybrid search p{int(q * 100)} (default mode)", "", cell("brain", "hybrid", q), "", "", ""
        )
    for k in (5, 10):
        table.add_row(
            f"tenant recall@{k} (5-memory tenant)",
            "5/5",
            f"{recall[k] * 5:.1f}/5",
            "-",
            f"{stock_recall[k] * 5:.1f}/5" if stock_recall else "-",
            "",
        )
    console.print(table)
    b, m = results["brain"], results["mem0_same"]
    ratios = Table(title="idle targets, ratios in the same run")
    for col in ("ratio", "value", "target"):
        ratios.add_column(col)
    for name, value, target in (
        ("vector p50 / embedding alone p50", pct(b["search"], 0.5) / pct(b["embed"], 0.5), "≤ 1.3"),
        ("hybrid p95 / vector p95", pct(b["hybrid"], 0.95) / pct(b["search"], 0.95), "≤ 1.2"),
        ("save p50 / Mem0 add p50", pct(b["save"], 0.5) / pct(m["save"], 0.5), "≤ 1.2"),
        ("save p95 / Mem0 add p95", pct(b["save"], 0.95) / pct(m["save"], 0.95), ""),
    ):
        ratios.add_row(name, f"{value:.2f}x", target)
    console.print(ratios)
    console.print(f"saves: {args.saves}, searches: {args.queries}, cpu count: {os.cpu_count()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=200_000)
    parser.add_argument("--entities", type=int, default=2_000)
    parser.add_argument("--distinct", type=int, default=4_000, help="distinct sentences embedded for real")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--saves", type=int, default=200)
    parser.add_argument("--skip-stock", action="store_true", help="skip the stock Mem0 HNSW layout")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    asyncio.run(main(parser.parse_args()))

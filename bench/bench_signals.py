"""Cost of the signals (issue 15): access tracking, the new ranking, and the counters' flush.

    .venv/bin/python bench/bench_signals.py                                  # the 200,000-memory bench
    .venv/bin/python bench/bench_signals.py --others 20000 --sizes 100,2000 --queries 40   # quick

Loads `bench_scale.py`'s data (`bench/synthetic.py` `bulk_load`: `--others` memories in other
tenants, 100 each, and one measured tenant per `--sizes`), then, in one run, side by side:

1. **Tracking** ("access tracking adds <= 1 ms p50"): search (hybrid, vector, keyword) and get with
   access tracking on and off, same service, same data, the two interleaved query by query (each
   query distinct, so the query-embedding cache never hits). Tracking on includes its background
   flushes every BRAIN_ACCESS_FLUSH_SECONDS. Also the in-process cost of one `note` alone.
2. **Ranking** ("search latency with the new ranking <= 1.1x today's"): hybrid and vector search
   p50/p95 with the service's defaults (`BrainSettings` -> `RetrievalOptions`, tracking on) against
   today's path (`TODAY`: importance and recency weights 0, and the new fusion signals that exist
   in this tree turned off; tracking off), interleaved. When the defaults leave all of those off,
   a third column turns the weights on (0.1 / 0.1) so the scoring's own cost is measured anyway.
   Before the ranking fields exist, only tracking on/off is compared.
3. **Flush**: rows per second of `AccessRecorder.aflush` for `--flush-keys` distinct memories, spread
   over one tenant and over many (inserting new counters, then adding to existing ones).

Load averages are printed before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.table import Table

from bench.bench_scale import load, pct
from bench.synthetic import FACTS, SUBJECTS
from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.brain.access import AccessRecorder
from langgraph_brain.brain.retrieval import RetrievalOptions
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

console = Console(width=160)
_FIELDS = {f.name for f in dataclasses.fields(RetrievalOptions)}
RANKING_FIELDS = {"importance_weight", "recency_weight"} <= _FIELDS
#: Today's search (before issue 15): the new ranking's knobs that exist in this tree, turned off.
TODAY: dict[str, Any] = {
    name: off
    for name, off in {
        "importance_weight": 0.0,
        "recency_weight": 0.0,
        "cross_lingual_depth": 0,
        "temporal_weight": 0.0,
    }.items()
    if name in _FIELDS
}
Timed = Callable[[str], Awaitable[Any]]


def load_line(label: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {label}: {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def variant(base: MemoryService, *, tracking: bool, retrieval: RetrievalOptions) -> MemoryService:
    """Another service on the same pool and index (so the same caches) with other knobs."""
    return MemoryService(
        base.pool, base.index, search_mode=base.search_mode, retrieval=retrieval, access_tracking=tracking,
        access_flush_seconds=base.access.flush_seconds,
    )  # fmt: skip


def searcher(svc: MemoryService, entity: str, mode: str) -> Timed:
    """A k=5 search of the measured tenant in `mode` on `svc`."""
    return lambda q: svc.asearch("company", entity, q, k=5, mode=mode)


def getter(svc: MemoryService, entity: str, slugs: Iterator[str]) -> Timed:
    """A get of the measured tenant's next slug on `svc` (the query text is not used)."""
    return lambda q: svc.aget("company", entity, next(slugs))


async def interleaved(calls: dict[str, Timed], queries: list[str]) -> dict[str, list[float]]:
    """Time every variant on every query, rotating which goes first, so drift hits all alike."""
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            await calls[name](f"{q} [{name}]")  # distinct text per variant: no shared cache hit
            times[name].append(time.perf_counter() - t0)
    return times


def table(title: str, results: dict[str, dict[str, list[float]]], base: str) -> None:
    """p50/p95 (ms) per variant and operation, with each p50's ratio and difference to `base`."""
    t = Table(title=title)
    t.add_column("operation")
    for name in next(iter(results.values())):
        t.add_column(f"{name} p50 / p95 ms", justify="right")
        if name != base:
            t.add_column(f"{name} vs {base} p50", justify="right")
    for op, per in results.items():
        row = [op]
        ref = pct(per[base], 0.5)
        for name, times in per.items():
            p50 = pct(times, 0.5)
            row.append(f"{p50:.2f} / {pct(times, 0.95):.2f}")
            if name != base:
                row.append(f"{p50 / ref:.3f}x ({p50 - ref:+.2f} ms)")
        t.add_row(*row)
    console.print(t)


async def tracking_cost(svc: MemoryService, entity: str, size: int, n: int, rng: random.Random) -> None:
    on = variant(svc, tracking=True, retrieval=svc.retrieval)
    off = variant(svc, tracking=False, retrieval=svc.retrieval)
    queries = [f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}? (t{size}-{i})" for i in range(n)]
    services = {"off": off, "on": on}
    results: dict[str, dict[str, list[float]]] = {}
    for mode in ("hybrid", "vector", "keyword"):
        results[f"search {mode}"] = await interleaved(
            {name: searcher(s, entity, mode) for name, s in services.items()}, queries
        )
    slugs = iter([f"fact_{rng.randrange(size)}" for _ in range(2 * n)])
    results["get"] = await interleaved(
        {name: getter(s, entity, slugs) for name, s in services.items()}, queries
    )
    flushed = on.access.flushed
    await on.access.aclose()
    table(f"Access tracking, tenant of {size:,} ({n} interleaved calls each)", results, "off")
    closing = on.access.flushed - flushed
    console.print(
        f"  tracking on: flushes during the run wrote {flushed:,} counter rows (+ {closing} at close)"
    )
    recorder = AccessRecorder(svc.tenancy, flush_seconds=3600, flush_keys=10**9, max_keys=10**9)
    batch = [f"fact_{i}" for i in range(5)]
    reps = 100_000
    t0 = time.perf_counter()
    for _ in range(reps):
        recorder.note("company", entity, batch)
    per_note = (time.perf_counter() - t0) / reps * 1e6
    console.print(f"  one note of 5 hits (the in-line cost on a search): {per_note:.2f} µs")


async def ranking_cost(
    svc: MemoryService, entity: str, size: int, n: int, rng: random.Random, *, breakdown: bool = False
) -> None:
    today = variant(svc, tracking=False, retrieval=dataclasses.replace(svc.retrieval, **TODAY))
    new = variant(svc, tracking=True, retrieval=svc.retrieval)
    services = {"today": today, "new defaults": new}
    if all(getattr(svc.retrieval, name) == off for name, off in TODAY.items()):
        on = dataclasses.replace(svc.retrieval, importance_weight=0.1, recency_weight=0.1)
        services["ranking 0.1/0.1"] = variant(svc, tracking=True, retrieval=on)
    elif breakdown:  # each knob of the new defaults alone on today's path: which one costs
        for name in TODAY:
            if getattr(svc.retrieval, name) != TODAY[name]:
                alone = dataclasses.replace(today.retrieval, **{name: getattr(svc.retrieval, name)})
                services[f"only {name}"] = variant(svc, tracking=False, retrieval=alone)
    queries = [f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}? (r{size}-{i})" for i in range(n)]
    results: dict[str, dict[str, list[float]]] = {}
    for mode in ("hybrid", "vector"):
        results[f"search {mode}"] = await interleaved(
            {name: searcher(s, entity, mode) for name, s in services.items()}, queries
        )
    for s in services.values():
        await s.access.aclose()
    table(f"Ranking, tenant of {size:,}", results, "today")
    for name, s in services.items():
        knobs = ", ".join(f"{k}={getattr(s.retrieval, k)}" for k in TODAY)
        console.print(f"  {name}: {knobs}, half-life {s.retrieval.recency_half_life_days} days,"
                      f" tracking {'on' if s.access.enabled else 'off'}")  # fmt: skip


async def flush_cost(svc: MemoryService, args: argparse.Namespace, biggest: int) -> None:
    t = Table(title=f"Flush of {args.flush_keys:,} distinct memories' counters")
    t.add_column("spread")
    t.add_column("first flush (insert) rows/s", justify="right")
    t.add_column("second flush (update) rows/s", justify="right")
    tenants = min(args.flush_keys // 10, args.others // 100)
    spreads = {
        f"1 tenant (scale{biggest}-0)": [("company", f"scale{biggest}-0", min(args.flush_keys, biggest))],
        f"{tenants:,} tenants x 10": [("company", f"other-{e}", 10) for e in range(tenants)],
    }
    for label, spread in spreads.items():
        recorder = AccessRecorder(svc.tenancy, flush_seconds=3600, flush_keys=10**9, max_keys=10**9)
        rates = []
        for _ in range(2):
            for scope, entity, count in spread:
                recorder.note(scope, entity, [f"fact_{i}" for i in range(count)])
            keys = recorder.pending
            t0 = time.perf_counter()
            written = await recorder.aflush()
            rates.append(f"{written / (time.perf_counter() - t0):,.0f} ({written:,} rows)")
            assert written == keys, (written, keys)
        t.add_row(label, *rates)
    console.print(t)


async def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-signals-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    url = make_conninfo(server, dbname=args.reuse) if args.reuse else create_database(server, "bench_signals")
    db: Database = await Database.aopen(url)
    console.print(f"{args.others:,} memories in other tenants; measured tenants {sizes}; database {url}")
    async with open_memory_service(BrainSettings(), database=db) as svc:
        if args.reuse:  # loaded by an earlier run with the same sizes; its counters are cleared
            async with db.pool.connection() as conn:
                await conn.execute("TRUNCATE brain_memory_access")
        else:
            await load(db, args, sizes)
        rng = random.Random(15)
        for size in sizes:  # warm every tenant's pages and plans before timing any
            for mode in ("hybrid", "vector", "keyword"):
                await svc.asearch("company", f"scale{size}-0", f"warm {mode} {size}", mode=mode)
        console.print(load_line("before"))
        parts = set(args.parts.split(","))
        for size in sizes if "tracking" in parts else []:
            await tracking_cost(svc, f"scale{size}-0", size, args.queries, rng)
        if RANKING_FIELDS:
            for size in sizes if "ranking" in parts else []:
                await ranking_cost(svc, f"scale{size}-0", size, args.queries, rng, breakdown=args.breakdown)
        else:
            console.print(
                "RetrievalOptions has no importance/recency weights yet: ranking comparison skipped"
            )
        if "flush" in parts:
            await flush_cost(svc, args, max(sizes))
        console.print(load_line("after"))
    await db.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--others", type=int, default=200_000, help="memories in other tenants (100 each)")
    parser.add_argument("--sizes", default="100,10000", help="measured tenants' sizes")
    parser.add_argument("--distinct", type=int, default=2_000, help="distinct texts embedded for the load")
    parser.add_argument(
        "--queries", type=int, default=100, help="interleaved calls per variant and operation"
    )
    parser.add_argument("--flush-keys", type=int, default=10_000, help="distinct memories in the flush test")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--reuse", help="database name of an earlier run in --data-dir: skip the load")
    parser.add_argument("--parts", default="tracking,ranking,flush", help="which measurements to run")
    parser.add_argument("--breakdown", action="store_true", help="ranking: each new knob alone, too")
    asyncio.run(main(parser.parse_args()))

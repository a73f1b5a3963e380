"""Retention at scale: dry run, real run, re-run, restore and purge over 200,000 memories, with I1.

    .venv/bin/python bench/bench_retention.py                    # 200,000 memories
    .venv/bin/python bench/bench_retention.py --small 18000 --big 2000   # quick (20,000)

Loads `--small` memories in tenants of 100 and `--big` memories in 10 tenants of `--big`/10 (the
bulk route of bench/synthetic.py: real e5 vectors, rows written synced, I1 holding), then ages
them with owner SQL: created uniformly over the last 400 days, last updated somewhere between
creation and now, 30 % turned into conversation summaries (importance 0.3), 2 % pinned, and 10 %
of the rest read within the last 30 days (`brain_memory_access`). Then, timed, with the load
average before and after each step:

1. `brain retention run --dry-run` (stale with the defaults: older than 180 days, importance
   below 0.5, inactive 90 days; budget: the big tenants keep `--budget` each);
2. the real run (archive in batches of `--batch`), then I1 checked in SQL per tenant: synced
   rows vs Mem0 rows by count, every synced row's Mem0 memory present with its content hash, no
   Mem0 memory without its row, no row left `deleting`;
3. the same run again (nothing left to do);
4. restore of 50 archived memories one by one (p50 / p95);
5. purge: archive copies aged past the period, then the purge run.

Merging before the budget (consolidation) is off here (`merge=False`): the bulk corpus reuses a
few thousand vectors, so every big tenant is full of exact duplicates, which is not what a merge
pass meets in real data; `bench_cli.py consolidate` measures consolidation itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.synthetic import aembed_corpus, bulk_load
from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.brain.archive import arun
from langgraph_brain.brain.restore import arestore
from langgraph_brain.brain.retention import RetentionPolicy, RetentionReport
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

console = Console(width=160)

AGE_SQL = """
UPDATE brain_memories SET
    created_at = now() - make_interval(secs => 400 * 86400 * r1),
    updated_at = now() - make_interval(secs => 400 * 86400 * r1 * r2),
    category = CASE WHEN r3 < 0.30 THEN 'conversation_summary' ELSE category END,
    metadata = CASE WHEN r3 > 0.98 THEN '{"pinned": true}'::jsonb ELSE metadata END
FROM (SELECT id AS rid, random() AS r1, random() AS r2, random() AS r3 FROM brain_memories) AS r
WHERE id = r.rid
"""
ACCESS_SQL = """
INSERT INTO brain_memory_access (brain_id, scope, entity_id, access_count, last_accessed_at)
SELECT id, scope, entity_id, 1 + (random() * 20)::int, now() - make_interval(secs => 30 * 86400 * random())
FROM brain_memories WHERE random() < 0.10 ON CONFLICT DO NOTHING
"""
# I1 in SQL, per tenant and per row (the Python check lists every Mem0 memory through Mem0).
I1_SQL = """
WITH rows AS (
    SELECT scope || ':' || entity_id AS key, count(*) AS n FROM brain_memories
    WHERE sync_state = 'synced' GROUP BY 1
), mem0 AS (
    SELECT payload->>'user_id' AS key, count(*) AS n FROM brain_mem0 GROUP BY 1
)
SELECT
    (SELECT count(*) FROM rows FULL JOIN mem0 USING (key)
     WHERE rows.n IS DISTINCT FROM mem0.n) AS tenants_differing,
    (SELECT count(*) FROM rows) AS tenants,
    (SELECT sum(n) FROM rows) AS brain_rows,
    (SELECT sum(n) FROM mem0) AS mem0_rows,
    (SELECT count(*) FROM brain_memories m LEFT JOIN brain_mem0 v ON v.id = m.memory_id
     WHERE m.sync_state = 'synced' AND (v.id IS NULL OR v.payload->>'content_hash' <> m.content_hash
        OR v.payload->>'brain_id' <> m.id::text)) AS rows_without_their_memory,
    (SELECT count(*) FROM brain_mem0 v LEFT JOIN brain_memories m ON m.id = (v.payload->>'brain_id')::bigint
     WHERE m.id IS NULL OR m.memory_id IS DISTINCT FROM v.id) AS memories_without_their_row,
    (SELECT count(*) FROM brain_memories WHERE sync_state <> 'synced') AS rows_not_synced
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


async def owner(db: Database, sql: str, params: Any = None) -> list[dict[str, Any]]:
    async with db.pool.connection() as conn:
        cur = await conn.execute(sql.encode(), params)
        return await cur.fetchall() if cur.description else []


async def seed(db: Database, args: argparse.Namespace) -> None:
    from langgraph_brain.brain import shared_embeddings

    texts, vectors = await aembed_corpus(
        console, shared_embeddings("e5", "text-embedding-3-small"), args.distinct
    )
    t0 = time.perf_counter()
    async with db.pool.connection() as conn:
        await bulk_load(conn, texts=texts, vectors=vectors, entities=args.small // 100, per_entity=100)
        await bulk_load(conn, texts=texts, vectors=vectors, entities=10, per_entity=args.big // 10,
                        entity_prefix="big", seed=5)  # fmt: skip
    await owner(db, AGE_SQL)
    await owner(db, ACCESS_SQL)
    for table in ("brain_memories", "brain_mem0", "brain_memory_access"):
        await owner(db, f"VACUUM ANALYZE {table}")
    total = (await owner(db, "SELECT count(*) AS n FROM brain_memories"))[0]["n"]
    console.print(f"loaded and aged {total:,} memories in {time.perf_counter() - t0:.1f}s")


async def timed(what: str, job: Any, rows: list[list[str]]) -> Any:
    before = load()
    t0 = time.perf_counter()
    result = await job
    seconds = time.perf_counter() - t0
    if isinstance(result, RetentionReport):
        archived = result.total_archived
        rate = f"{archived / seconds:,.0f}/s" if archived else "-"
        detail = (
            f"candidates {result.candidates}, archived {result.archived}, finished {result.finished},"
            f" purged {result.purged}, skipped {result.skipped}"
        )
    else:
        rate, detail = "-", str(result)
    rows.append([what, f"{seconds:.2f} s", rate, detail, before, load()])
    console.print(f"{what}: {seconds:.2f} s ({detail})")
    return result


async def check_i1(db: Database) -> dict[str, Any]:
    i1 = (await owner(db, I1_SQL))[0]
    i1["ok"] = not (
        i1["tenants_differing"] or i1["rows_without_their_memory"] or i1["memories_without_their_row"]
        or i1["rows_not_synced"]
    )  # fmt: skip
    return i1


async def restores(svc: MemoryService, db: Database, n: int) -> str:
    archived = await owner(
        db, "SELECT scope, entity_id, slug FROM brain_archive ORDER BY random() LIMIT %s", (n,)
    )
    times = []
    for row in archived:
        t0 = time.perf_counter()
        await arestore(svc, row["scope"], row["entity_id"], row["slug"])
        times.append(time.perf_counter() - t0)
    times.sort()
    p50, p95 = times[len(times) // 2] * 1000, times[int(len(times) * 0.95)] * 1000
    return f"{len(times)} restored, p50 {p50:.1f} ms, p95 {p95:.1f} ms"


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-retention-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    db = await Database.aopen(create_database(server, "bench_retention"))
    policy = RetentionPolicy(policies=("stale", "budget"), budget=args.budget, merge=False)
    rows: list[list[str]] = []
    async with open_memory_service(BrainSettings(), database=db) as svc:
        await seed(db, args)
        console.print(f"I1 before: {await check_i1(db)}")
        await timed("dry run", arun(svc, policy, dry_run=True, batch=args.batch), rows)
        report = await timed("run", arun(svc, policy, batch=args.batch), rows)
        i1 = await check_i1(db)
        console.print(f"I1 after the run: {i1}")
        total = args.small + args.big
        console.print(
            f"archived {report.total_archived:,} of {total:,} ({report.total_archived / total:.1%})"
        )
        await timed("run again (nothing to do)", arun(svc, policy, batch=args.batch), rows)
        await timed("restore one by one", restores(svc, db, 50), rows)
        await owner(db, "UPDATE brain_archive SET archived_at = now() - interval '400 days'")
        await timed("purge (all copies past 365 days)", arun(svc, RetentionPolicy(), batch=args.batch), rows)
        final = await check_i1(db)
        console.print(f"I1 at the end: {final}")
    await db.aclose()
    table = Table(title=f"retention over {total:,} memories (batch {args.batch}, {os.cpu_count()} cores)")
    for col in ("step", "wall", "archived/s", "what", "load before (1/5/15 min)", "load after"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    verdict = {True: "holds", False: "VIOLATED"}
    console.print(f"I1 after the run: {verdict[i1['ok']]}; at the end: {verdict[final['ok']]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=180_000, help="memories in tenants of 100")
    parser.add_argument("--big", type=int, default=20_000, help="memories in 10 big tenants")
    parser.add_argument("--budget", type=int, default=1_500, help="live memories a big tenant keeps")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    asyncio.run(main(parser.parse_args()))

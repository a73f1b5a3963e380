"""Ranking generalisation: vector, keyword, today's hybrid and candidate rankings on three sets.

    python bench/eval_ranking.py ../shared/data/locomo10.json --records /tmp/records.json
    python bench/eval_ranking.py --replay /tmp/records.json          # re-score without a database
    python bench/eval_ranking.py PATH --verify                        # also run asearch end to end

Sets: the cross-lingual FR/ES/EN set (bench/sets_crosslingual.py), the paraphrase set
(bench/sets_paraphrase.py) and LoCoMo (bench/locomo.py: all 1,535 questions, by category).
Everything is saved through the real `MemoryService.asave_many` (embedded Postgres, Mem0 OSS,
e5) on a fresh database. For each question the harness records the inputs of fusion from the real
search path: the vector candidates (`index.asearch`, 50), the keyword candidates
(`search.akeyword`, the brain's BM25 SQL, 50) and the full-text language Postgres guesses
(`brain_ts_config`) for the query and each memory; `ranking_candidates.py` then replays every
configuration on them. `--verify` runs `MemoryService.asearch` in each mode with the service's
current options and prints its figures beside the replayed ones (they must agree).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import sets_crosslingual, sets_paraphrase
from bench.locomo import CATEGORIES, load, new_database
from bench.ranking_bar import categories, summary
from bench.ranking_candidates import DEFAULT, SUMMARY_ROWS, Config, evaluate, grid, rank, score_question
from langgraph_brain.brain import open_memory_service
from langgraph_brain.brain.index import entity_key
from langgraph_brain.brain.retrieval import QUERY_TERMS_SQL
from langgraph_brain.brain.search import akeyword
from langgraph_brain.brain.validation import Scope
from langgraph_brain.db import Database, embedded_database_url
from langgraph_brain.settings import BrainSettings

DEPTH = 50  # candidates per list, as RetrievalOptions.candidates
LANGS_SQL = (
    "SELECT slug, brain_ts_config(content)::text AS lang, length(search_tsv) AS dl, content"
    " FROM brain_memories WHERE scope = %s AND entity_id = %s"
)
# The BM25 inputs of one question, for replaying other keyword scorings: the query's lexemes and,
# for every synced row of the tenant holding one of them, the lexeme's term frequency.
TERMS_SQL = (
    "WITH q AS (\n"
    + QUERY_TERMS_SQL
    + """)
SELECT 'q' AS kind, NULL::text AS slug, term AS lexeme, 0 AS tf, NULL::int[] AS positions FROM q
UNION ALL
SELECT 'o', NULL, lexeme, 0, positions::int[] FROM unnest(brain_search_tsv(%(query)s))
UNION ALL
SELECT 'h', d.slug, u.lexeme, coalesce(array_length(u.positions, 1), 1), NULL
FROM brain_memories AS d CROSS JOIN LATERAL unnest(d.search_tsv) AS u JOIN q ON q.term = u.lexeme
WHERE d.scope = %(scope)s AND d.entity_id = %(entity)s AND d.sync_state = 'synced'
"""
)
STATS_SQL = (
    "SELECT greatest(coalesce(max(docs), 0), 1)::float8 AS n,"
    " greatest(coalesce(max(lexemes)::float8 / nullif(max(docs), 0), 1), 1) AS avgdl"
    " FROM brain_tenant_stats WHERE scope = %s AND entity_id = %s"
)


def datasets(locomo_path: str | None, limit: int | None) -> list[dict[str, Any]]:
    """Every set as {"name", "scope", "tenants": [{"entity", "items", "questions"}]}."""
    out = [sets_crosslingual.generate() | {"scope": "user"}, sets_paraphrase.generate() | {"scope": "user"}]
    if locomo_path:
        tenants = []
        for conv in load(Path(locomo_path), limit):
            items = [
                {"slug": i["slug"], "content": i["content"], "metadata": i["metadata"]} for i in conv["items"]
            ]
            questions = [
                {"question": q["question"], "gold": q["evidence"], "category": CATEGORIES[q["category"]],
                 "pair": "en->en", "split": "locomo"}
                for q in conv["questions"]
            ]  # fmt: skip
            tenants.append({"entity": conv["company"], "items": items, "questions": questions})
        out.append({"name": "locomo", "scope": "company", "tenants": tenants})
    return out


async def record(args: argparse.Namespace, sets: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Ingest every set and record each question's fusion inputs (and, with --verify, asearch)."""
    server = os.environ.get("DATABASE_URL") or embedded_database_url(
        Path(args.data_dir or tempfile.mkdtemp(prefix="brain-eval-"))
    )
    reused = make_conninfo(server, dbname=args.reuse) if args.reuse else None
    url = args.database_url or reused or new_database(server)
    print(f"database: {make_conninfo(url, password='')}", file=sys.stderr)
    db = await Database.aopen(url, min_size=2, max_size=8)
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        async with open_memory_service(BrainSettings(), database=db) as svc:
            for data in sets:
                scope = data["scope"]
                items = [
                    {"scope": scope, "entity_id": t["entity"], **item}
                    for t in data["tenants"]
                    for item in t["items"]
                ]
                t0 = time.perf_counter()
                if args.reuse:  # already saved by an earlier run (its database is named in its log)
                    pass
                elif (saved := await svc.asave_many(items, concurrency=args.concurrency)).failed_count:
                    raise SystemExit(f"{data['name']}: {saved.failed_count} saves failed: {saved.errors[:3]}")
                print(
                    f"{data['name']}: saved {len(items)} in {time.perf_counter() - t0:.0f} s", file=sys.stderr
                )
                recs = out.setdefault(data["name"], [])
                for tenant in data["tenants"]:
                    entity = tenant["entity"]
                    rows = await svc.tenancy.afetchall(scope, entity, LANGS_SQL, (scope, entity))
                    languages = {r["slug"]: r["lang"] for r in rows}
                    tenant_rows = {r["slug"]: (r["dl"], r["content"]) for r in rows}
                    stats = (await svc.tenancy.afetchall(scope, entity, STATS_SQL, (scope, entity)))[0]
                    for q in tenant["questions"]:
                        rec = await one(svc, scope, entity, q, languages, args.verify)
                        recs.append(rec | await terms(svc, scope, entity, rec, tenant_rows, stats))
    finally:
        await db.aclose()
    return out


async def one(
    svc: Any, scope: Scope, entity: str, q: dict[str, Any], languages: dict[str, str], verify: bool
) -> dict[str, Any]:
    """One question's record: the two candidate lists exactly as search.arank obtains them."""
    with svc.tenancy.bind_index(scope, entity):
        vhits = await svc.index.asearch(q["question"], entity_key=entity_key(scope, entity), k=DEPTH)
    khits = await akeyword(svc, scope, entity, q["question"], DEPTH, None)
    lang = await svc.tenancy.afetchall(
        scope, entity, "SELECT brain_ts_config(%s)::text AS lang", (q["question"],)
    )
    rec = {
        **q,
        "vector": [(h.metadata.get("slug"), h.score) for h in vhits],
        "keyword": [(h.slug, h.score) for h in khits],
        "languages": languages,
        "query_language": lang[0]["lang"],
        "slugs": sorted(languages),
    }
    if verify:
        for mode in ("vector", "keyword", "hybrid"):
            hits = await svc.asearch(scope, entity, q["question"], k=10, mode=mode)
            rec[f"asearch_{mode}"] = [h.slug for h in hits]
    return rec


async def terms(
    svc: Any, scope: Scope, entity: str, rec: dict[str, Any], rows: dict[str, Any], stats: dict[str, Any]
) -> dict[str, Any]:
    """Extra fields (added after the first recording format, which they leave intact): the BM25
    inputs (query lexemes with their document frequency, N, average length; each candidate's
    length and matched lexemes; the lexemes of the query's own indexed form, with their
    positions) and the candidates' texts."""
    params = {"query": rec["question"], "scope": scope, "entity": entity}
    found = await svc.tenancy.afetchall(scope, entity, TERMS_SQL, params)
    df: dict[str, int] = {r["lexeme"]: 0 for r in found if r["kind"] == "q"}
    candidates = {s for s, _ in rec["vector"]} | {s for s, _ in rec["keyword"]}
    matched: dict[str, dict[str, int]] = {s: {} for s in candidates}
    for r in found:
        if r["kind"] == "h":
            df[r["lexeme"]] = df.get(r["lexeme"], 0) + 1
            if r["slug"] in matched:
                matched[r["slug"]][r["lexeme"]] = r["tf"]
    return {
        "query_terms": [r["lexeme"] for r in found if r["kind"] == "o"],
        "query_positions": {r["lexeme"]: list(r["positions"] or []) for r in found if r["kind"] == "o"},
        "bm25": {"n": stats["n"], "avgdl": stats["avgdl"], "df": df},
        "matched": matched,
        "lengths": {s: rows[s][0] for s in candidates if s in rows},
        "texts": {s: rows[s][1] for s in candidates if s in rows},
    }


def report(records: dict[str, list[dict[str, Any]]], configs: list[Config]) -> dict[str, Any]:
    """Print one table per set (configurations x groups) and return every figure."""
    figures: dict[str, Any] = {}
    for name, recs in records.items():
        for rec in recs:
            rec["slugs"] = set(rec["slugs"])
        results = {c.name: evaluate(c, recs) for c in configs}
        if "asearch_hybrid" in recs[0]:
            results |= verified(recs)
            same = sum(rank(DEFAULT, rec) == rec["asearch_hybrid"] for rec in recs)
            print(f"{name}: replayed default top-10 = asearch hybrid top-10 on {same}/{len(recs)} questions")
        figures[name] = results
        groups = [
            "all",
            *sorted(
                g
                for g in results[configs[0].name]
                if g != "all" and results[configs[0].name][g]["n"] < len(recs)
            ),
        ]
        head = " | ".join(f"{g} ({results[configs[0].name][g]['n']}) R@5 | R@10" for g in groups)
        hit1 = " | hit@1"
        print(f"\n### {name} ({len(recs)} questions)\n\n| configuration | {head}{hit1} |")
        print("|---|" + "---|---|" * len(groups) + ("---|" if hit1 else ""))
        for cname, res in results.items():
            cells = " | ".join(f"{res[g]['r5']:.3f} | {res[g]['r10']:.3f}" for g in groups)
            extra = f" | {res['all']['hit1']:.3f}"
            print(f"| {cname} | {cells}{extra} |")
    return figures


def verified(recs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Figures of the end-to-end asearch runs recorded with --verify, grouped like `evaluate`."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode in ("vector", "keyword", "hybrid"):
        groups: dict[str, list[dict[str, float]]] = {}
        for rec in recs:
            s = score_question(rec[f"asearch_{mode}"], rec["gold"])
            for g in ("all", f"cat:{rec['category']}", f"split:{rec['split']}"):
                groups.setdefault(g, []).append(s)
        out[f"asearch {mode} (end to end)"] = {
            g: {m: sum(r[m] for r in rows) / len(rows) for m in ("r5", "r10", "hit1")} | {"n": len(rows)}
            for g, rows in groups.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("locomo", nargs="?", help="path to locomo10.json (omit to skip LoCoMo)")
    parser.add_argument("--limit-conversations", type=int, default=None)
    parser.add_argument("--records", help="write the recorded candidate lists to this JSON file")
    parser.add_argument("--replay", help="score the records in this JSON file; no database")
    parser.add_argument("--verify", action="store_true", help="also run asearch end to end in each mode")
    parser.add_argument("--database-url", default=None, help="use this (empty) database")
    parser.add_argument("--reuse", metavar="DBNAME", help="record from an earlier run's database, no saving")
    parser.add_argument("--data-dir", default=None, help="embedded Postgres data dir (default: a temp dir)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    if args.replay:
        records = json.loads(Path(args.replay).read_text())
    else:
        records = asyncio.run(record(args, datasets(args.locomo, args.limit_conversations)))
        if args.records:
            Path(args.records).write_text(json.dumps(records))
    print(f"load average: {os.getloadavg()}")
    figures = report(records, grid())
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if {"cross-lingual", "paraphrase", "locomo"} <= set(figures):
        print("\n" + summary(figures) + "\n\n" + categories(figures, SUMMARY_ROWS))


if __name__ == "__main__":
    main()

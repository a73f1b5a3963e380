"""Retrieval quality on LoCoMo: recall@5/@10 per search mode, plus search latency.

Each conversation is one company; each dialog turn is one memory saved through the public
`MemoryService.asave_many`, with the slug derived from its dialog id (``D3:12`` -> ``d3-12``).
The content is ``"Speaker: text"``; the speaker, session number, session date, dialog id and the
caption of a shared photo (if any) go into the memory's metadata. Every question of categories 1-4 is asked
through `MemoryService.asearch` in each requested mode. Recall of a question is the share of
its evidence turns found in the top k; evidence ids are split on ';' and spaces, and ids that
match no turn are skipped (questions left with none are not counted).

Usage:
    python bench/locomo.py ../shared/data/locomo10.json
    python bench/locomo.py PATH --limit-conversations 2 --modes vector,hybrid

The dataset is not part of this repository (CC BY-NC 4.0); pass its path. A fresh database is
created on the embedded Postgres (or on DATABASE_URL's server) unless --database-url is given;
saving is idempotent, so re-running on the same database skips unchanged turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from langgraph_brain.brain import open_memory_service
from langgraph_brain.brain.retrieval import SEARCH_MODES
from langgraph_brain.db import Database, embedded_database_url
from langgraph_brain.settings import BrainSettings

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10)


def slug_for(dia_id: str) -> str:
    """``D3:12`` -> ``d3-12`` (a valid brain slug)."""
    return re.sub(r"[^a-z0-9]+", "-", dia_id.lower()).strip("-")


def turn_content(turn: dict[str, Any]) -> str:
    """``"Speaker: text"``. The speaker is context the question often names ("What did Caroline
    research?"); with it, keyword recall@10 rose from 0.580 to 0.618. Appending the caption of a
    shared photo did not help (hybrid recall@10 0.681 with it, 0.682 without), so it is kept in
    the metadata only."""
    return f"{turn['speaker']}: {turn['text']}"


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """Conversations as {company, items (asave_many format), questions}."""
    data = json.loads(path.read_text())
    out = []
    for sample in data[:limit]:
        conv = sample["conversation"]
        company = str(sample["sample_id"]).lower()
        items: list[dict[str, Any]] = []
        n = 1
        while f"session_{n}" in conv:
            date = conv.get(f"session_{n}_date_time", "")
            for turn in conv[f"session_{n}"]:
                items.append(
                    {
                        "scope": "company",
                        "entity_id": company,
                        "slug": slug_for(turn["dia_id"]),
                        "content": turn_content(turn),
                        "metadata": {
                            "speaker": turn["speaker"],
                            "session": n,
                            "session_date": date,
                            "dia_id": turn["dia_id"],
                            **({"photo_caption": turn["blip_caption"]} if turn.get("blip_caption") else {}),
                        },
                    }
                )
            n += 1
        known = {item["metadata"]["dia_id"] for item in items}
        questions = []
        for qa in sample["qa"]:
            if qa["category"] not in CATEGORIES:
                continue
            evidence = [e for raw in qa["evidence"] for e in re.split(r"[;\s]+", raw) if e in known]
            if evidence:
                slugs = list(dict.fromkeys(slug_for(e) for e in evidence))
                questions.append({"question": qa["question"], "category": qa["category"], "evidence": slugs})
        out.append({"company": company, "items": items, "questions": questions})
    return out


def new_database(server_url: str) -> str:
    name = f"locomo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in SEARCH_MODES:
            raise SystemExit(f"unknown mode {mode!r}; choose from {', '.join(SEARCH_MODES)}")
    conversations = load(Path(args.path), args.limit_conversations)
    if args.database_url:
        url = args.database_url
    else:
        server = os.environ.get("DATABASE_URL") or embedded_database_url(
            Path(args.data_dir or tempfile.mkdtemp(prefix="brain-locomo-"))
        )
        url = new_database(server)
    db = await Database.aopen(url, min_size=2, max_size=8)
    try:
        async with open_memory_service(BrainSettings(), database=db) as svc:
            items = [item for conv in conversations for item in conv["items"]]
            started = time.perf_counter()
            saved = await svc.asave_many(items, concurrency=args.concurrency)
            ingest_s = time.perf_counter() - started
            if saved.failed_count:
                raise SystemExit(f"ingestion failed for {saved.failed_count} turns: {saved.errors[:3]}")
            print(
                f"ingested {len(items)} turns of {len(conversations)} conversations in {ingest_s:.1f} s"
                f" ({saved.statuses})",
                file=sys.stderr,
            )
            questions = [(conv["company"], q) for conv in conversations for q in conv["questions"]]
            # Warm-up: the first query of a connection loads the text-search dictionaries.
            for mode in modes:
                for company, q in questions[:5]:
                    await svc.asearch("company", company, q["question"], k=max(KS), mode=mode)
            results: dict[str, Any] = {}
            for mode in modes:
                recall: dict[int, dict[int, list[float]]] = {k: defaultdict(list) for k in KS}
                latency: list[float] = []
                for company, q in questions:
                    t0 = time.perf_counter()
                    hits = await svc.asearch("company", company, q["question"], k=max(KS), mode=mode)
                    latency.append((time.perf_counter() - t0) * 1000)
                    slugs = [h.slug for h in hits]
                    for k in KS:
                        top = set(slugs[:k])
                        value = sum(e in top for e in q["evidence"]) / len(q["evidence"])
                        recall[k][q["category"]].append(value)
                        recall[k][0].append(value)
                results[mode] = {
                    "recall": {
                        k: {c: statistics.fmean(v) for c, v in sorted(per.items())}
                        for k, per in recall.items()
                    },
                    "count": {c: len(v) for c, v in sorted(recall[KS[0]].items())},
                    "p50_ms": percentile(latency, 50),
                    "p95_ms": percentile(latency, 95),
                }
            return {"turns": len(items), "ingest_s": ingest_s, "questions": len(questions), "modes": results}
    finally:
        await db.aclose()


def table(report: dict[str, Any]) -> str:
    modes = list(report["modes"])
    head = "| category | questions | " + " | ".join(f"{m} R@5 | {m} R@10" for m in modes) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(modes))]
    first = report["modes"][modes[0]]
    for c, name in [(0, "**overall**"), *CATEGORIES.items()]:
        cells = []
        for m in modes:
            r = report["modes"][m]["recall"]
            cells += [f"{r[5].get(c, 0):.3f}", f"{r[10].get(c, 0):.3f}"]
        lines.append(f"| {name} | {first['count'].get(c, 0)} | " + " | ".join(cells) + " |")
    lat = ", ".join(
        f"{m} p50 {v['p50_ms']:.1f} ms / p95 {v['p95_ms']:.1f} ms" for m, v in report["modes"].items()
    )
    lines.append("")
    lines.append(f"search latency (k=10, query embedding included): {lat}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", help="path to locomo10.json")
    parser.add_argument(
        "--limit-conversations", type=int, default=None, help="only the first N conversations"
    )
    parser.add_argument("--modes", default="vector,keyword,hybrid", help="comma-separated search modes")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel saves while ingesting")
    parser.add_argument("--database-url", default=None, help="reuse this database instead of a fresh one")
    parser.add_argument("--data-dir", default=None, help="embedded Postgres data dir (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the raw figures to this file")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(
        f"LoCoMo: {report['turns']} turns, {report['questions']} questions (categories 1-4),"
        f" ingestion {report['ingest_s']:.0f} s"
    )
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Real-model extraction on LoCoMo: how many evidence facts became memories, how many changed facts
were resolved into one slug.

    OPENAI_API_KEY=... BRAIN_EXTRACTION_MODEL=openai:gpt-4o-mini \\
        .venv/bin/python bench/extraction.py ../shared/data/locomo10.json --conversations 1 --sessions 5

Without an API key for the configured model (BRAIN_EXTRACTION_MODEL, else BRAIN_MODEL) it prints
that it was skipped and why, and exits 0 without touching the network or a database: the
scripted model's rules (name, job, business, employee count...) are no LoCoMo extractor, and
their figures would mean nothing.

Each conversation is one user (its sample id); each of its first `--sessions` sessions is one
extraction, as one worker job would run it: `Extractor.arun` (the class the worker calls) on the
session's turns, oldest first, every turn a human message "Speaker: text" with its dialog id
(``D3:12``) as the message id, in chunks of at most 50 (a job's batch). Memories are saved
through the real MemoryService (Postgres, Mem0, e5) on a fresh database of the embedded Postgres
(or DATABASE_URL's server). The queue and worker are left out: bench_worker.py times them.

Proxies, over the questions of categories 1-4 whose evidence turns all lie in the sessions run:

* **evidence cited**: an evidence turn counts as captured when an applied upsert (created,
  updated or unchanged) lists its dialog id among its source message ids (the extractor
  records the ids the model cites).
* **answer covered**: a question counts when at least half of its answer's content words
  (lowercased, 3+ characters, stop words out) occur in the memories written from its evidence
  sessions (every content those sessions wrote, from `brain_history`, so that a later overwrite
  does not hide it).
* **contradictions resolved into one slug**: slugs with an `update` in `brain_history`, written
  by a later session than the one that created the slug, whose content changed: a fact that
  changed across sessions and stayed one memory (the old value kept in history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_brain.demo.models import is_scripted_spec, missing_model_key
from langgraph_brain.settings import BrainSettings

CATEGORIES = (1, 2, 3, 4)
HISTORY_SQL = """
    SELECT entity_id, slug, action, old_content, new_content, actor->>'thread_id' AS thread
    FROM brain_history WHERE scope = 'user' AND entity_id LIKE 'locomo-%' ORDER BY id
"""
BATCH = 50  # ExtractionOptions.max_batch: the most messages one job hands the extractor
STOP = frozenset(
    re.findall(
        r"\w+",
        "the and for with that this from was were are has have had his her their they them she he its"
        " not but all any can did does into out about after before over what when where who how which"
        " would will there than then also been being more most some such very just",
    )
)


def skip_reason(settings: BrainSettings, allow_scripted: bool) -> str | None:
    """Why the real model cannot run, or None."""
    spec = settings.extraction_model or settings.model
    if is_scripted_spec(spec):
        if allow_scripted:
            return None
        return f"the extraction model is {spec!r}: its fixed rules are not a meaningful LoCoMo extractor"
    key = missing_model_key(spec, settings)
    if key:
        return (
            f"no {key} for the extraction model {spec!r}, so no real model can run; the scripted rules"
            " that would replace it are not a meaningful LoCoMo extractor"
        )
    return None


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3 and w not in STOP}


def sessions_of(sample: dict[str, Any], limit: int) -> list[tuple[int, list[dict[str, Any]]]]:
    conv = sample["conversation"]
    out, n = [], 1
    while f"session_{n}" in conv and n <= limit:
        out.append((n, conv[f"session_{n}"]))
        n += 1
    return out


async def run(args: argparse.Namespace, settings: BrainSettings) -> dict[str, Any]:
    from langgraph_brain.brain import open_memory_service
    from langgraph_brain.db import Database, create_database, resolve_database_url
    from langgraph_brain.demo.models import resolve_chat_model
    from langgraph_brain.extraction.extractor import ExtractionIdentity, SourceMessage
    from langgraph_brain.extraction.factory import create_extractor

    data = json.loads(await asyncio.to_thread(Path(args.path).read_text))[: args.conversations]
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-extraction-"))
    url = create_database(resolve_database_url(os.environ.get("DATABASE_URL"), data_dir), "bench_extraction")
    model = resolve_chat_model(settings.extraction_model or settings.model, settings=settings)
    extractor = create_extractor(model, settings)
    cited: set[str] = set()  # "user/D3:12"
    stats: dict[str, Any] = {"extractions": 0, "model_seconds": [], "applied": {}, "dropped": {}}
    db = await Database.aopen(url, min_size=1, max_size=4)
    try:
        async with open_memory_service(settings, database=db) as service:
            for sample in data:
                user = f"locomo-{str(sample['sample_id']).lower()}"
                for n, turns in sessions_of(sample, args.sessions):
                    messages = [
                        SourceMessage(t["dia_id"], "human", f"{t['speaker']}: {t['text']}") for t in turns
                    ]
                    for i in range(0, len(messages), BATCH):
                        report = await extractor.arun(
                            service,
                            ExtractionIdentity(user),
                            messages[i : i + BATCH],
                            thread_id=f"{user}-s{n}",
                        )
                        stats["extractions"] += 1
                        stats["model_seconds"].append(report.model_seconds)
                        for applied in report.applied:
                            stats["applied"][applied.status] = stats["applied"].get(applied.status, 0) + 1
                            if applied.operation.op == "upsert":
                                cited.update(f"{user}/{m}" for m in applied.operation.message_ids)
                        for dropped in report.dropped:
                            reason = dropped.reason.split(":")[0][:60]
                            stats["dropped"][reason] = stats["dropped"].get(reason, 0) + 1
                    print(f"{user} session {n}: {len(turns)} turns extracted", file=sys.stderr, flush=True)
            async with service.pool.connection() as conn:
                history = await (await conn.execute(HISTORY_SQL)).fetchall()
    finally:
        await db.aclose()
    return score(data, args.sessions, cited, list(history), stats)


def score(
    data: list[dict[str, Any]], sessions: int, cited: set[str], history: list[Any], stats: dict[str, Any]
) -> dict[str, Any]:
    written: dict[str, str] = {}  # "user-sN" -> every content that session wrote
    created_in: dict[tuple[str, str], str] = {}
    changed: set[tuple[str, str]] = set()
    for h in history:
        written[h["thread"]] = f"{written.get(h['thread'], '')} {h['new_content'] or ''}"
        key = (h["entity_id"], h["slug"])
        if h["action"] == "create":
            created_in.setdefault(key, h["thread"])
        elif (
            h["action"] == "update"
            and h["thread"] != created_in.get(key)
            and h["old_content"] != h["new_content"]
        ):
            changed.add(key)
    evidence: set[str] = set()
    questions = covered = 0
    for sample in data:
        user = f"locomo-{str(sample['sample_id']).lower()}"
        for qa in sample["qa"]:
            ids = [e for raw in qa.get("evidence", []) for e in re.split(r"[;\s]+", raw) if e.startswith("D")]
            in_range = [
                e for e in ids if e[1:].split(":")[0].isdigit() and int(e[1:].split(":")[0]) <= sessions
            ]
            if qa.get("category") not in CATEGORIES or not ids or len(in_range) != len(ids):
                continue
            questions += 1
            evidence.update(f"{user}/{e}" for e in ids)
            answer = words(str(qa.get("answer", "")))
            text = words(" ".join(written.get(f"{user}-s{e[1:].split(':')[0]}", "") for e in ids))
            covered += bool(answer) and len(answer & text) * 2 >= len(answer)
    ms = sorted(stats["model_seconds"])
    return {
        "questions": questions,
        "answers_covered": covered,
        "evidence_turns": len(evidence),
        "evidence_cited": len(evidence & cited),
        "slugs": len(created_in),
        "contradictions_resolved": len(changed),
        "extractions": stats["extractions"],
        "model_p50_s": ms[len(ms) // 2] if ms else 0.0,
        "applied": stats["applied"],
        "dropped": stats["dropped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", help="path to locomo10.json (not part of this repository)")
    parser.add_argument("--conversations", type=int, default=1, help="first N conversations")
    parser.add_argument("--sessions", type=int, default=5, help="first N sessions of each conversation")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--allow-scripted", action="store_true", help="run the scripted rules anyway (a plumbing check only)"
    )
    args = parser.parse_args()
    settings = BrainSettings()
    reason = skip_reason(settings, args.allow_scripted)
    if reason:
        print(
            f"bench/extraction.py skipped: {reason}. Set OPENAI_API_KEY and BRAIN_EXTRACTION_MODEL=openai:..."
        )
        return
    t0 = time.perf_counter()
    r = asyncio.run(run(args, settings))
    spec = settings.extraction_model or settings.model
    print(
        f"\nLoCoMo extraction with {spec}: {args.conversations} conversation(s) × {args.sessions} sessions,"
        f" {r['extractions']} extractions in {time.perf_counter() - t0:.0f} s"
        f" (model p50 {r['model_p50_s']:.1f} s)"
    )
    print("| measure | count | share |\n|---|---|---|")
    for label, n, d in (
        ("evidence turns cited by a memory", r["evidence_cited"], r["evidence_turns"]),
        ("QA answers covered by memories of their sessions", r["answers_covered"], r["questions"]),
        (
            "slugs changed by a later session (contradiction → one slug)",
            r["contradictions_resolved"],
            r["slugs"],
        ),
    ):
        print(f"| {label} | {n} / {d} | {n / d if d else 0:.1%} |")
    print(f"\noperations applied: {r['applied']}; dropped: {r['dropped']}")
    if is_scripted_spec(spec):
        print("(scripted rules: a plumbing check, not a LoCoMo figure)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "model": spec, **r}, indent=2))


if __name__ == "__main__":
    main()

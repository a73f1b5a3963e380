"""Time benchmark: facts that change over time, questions about now and about a past date, and
the final score's importance and recency weights measured on them.

    python bench/bench_time.py                                  # 20 entities per variant, every mode
    python bench/bench_time.py --entities 5 --modes hybrid      # quick run

A synthetic set, generated here with a fixed seed. Each entity (a user) has five facts (home city,
employer, car, pet, hobby); each fact starts 3 years before today and changes `--changes` times
at random later instants up to today (the timeline ends today so that ages, and so recency, are
what a user asking now would see). Three variants, each on its own entities:

- **updates**: every change is an update of the same slug (`MemoryService.asave`), so one row per
  fact is live; history entries and the row's created/updated times are moved to their instants.
- **new memories**: every change is a new memory under a new slug (`home_city-b`, ...) and the
  old ones stay live, as agents that do not reuse slugs leave them; each row's created/updated
  time is its instant. Relevance cannot tell the values apart, so recency must decide.
- **importance**: five facts per entity that matter (saved with `metadata.importance` 0.9) each
  beside an unimportant near-duplicate that shares its words ("Ana is allergic to penicillin." /
  "Ana joked that a coworker is allergic to latex.", importance 0.2), both at independent random
  instants, so recency favours the important one only half of the time.

Timestamps are moved with owner SQL here, in the bench only. Reported per mode and per ranking
setting (`RetrievalOptions` importance/recency weight and half-life, passed per call):
- now-questions ("Which city does Ana live in?"): the current value (the important fact) first;
- as-of questions (updates variant, a random past instant; relevance only, as-of search does not
  apply the weights): the value valid then first; and `aget(as_of=)` exact;
- latency p50/p95 of normal search with today's ranking and with the default weights, and of
  as-of search.

Runs on a fresh database in the embedded Postgres (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import score_grid
from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.brain.ranking import Candidate
from langgraph_brain.brain.retrieval import RetrievalOptions
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Gloria", "Hugo", "Irene", "Jorge"]
# slug -> (statement template, question template, values)
FACTS = {
    "home_city": (
        "{n} lives in {v}.",
        "Which city does {n} live in?",
        ["Paris", "Madrid", "Lisbon", "Santiago", "Lima", "Bogota", "Quito", "Montevideo"],
    ),
    "employer": (
        "{n} works at {v} as an engineer.",
        "Which company does {n} work for?",
        ["Acme Corporation", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Hooli"],
    ),
    "car": (
        "{n} drives a {v}.",
        "What car does {n} drive?",
        [
            "red Toyota Corolla",
            "blue Ford Focus",
            "white Tesla Model 3",
            "black Volvo XC60",
            "green Fiat 500",
            "grey Kia Rio",
        ],
    ),
    "pet": (
        "{n} has a pet {v}.",
        "What pet does {n} have?",
        ["cat named Tom", "dog named Rex", "parrot named Kiwi", "rabbit named Luna", "turtle named Max"],
    ),
    "hobby": (
        "{n}'s hobby is {v}.",
        "What is {n}'s hobby?",
        ["painting", "rock climbing", "chess", "playing the cello", "gardening", "surfing"],
    ),
}
# slug -> (important statement, unimportant near-duplicate, question, values)
IMPORTANT = {
    "allergy": ("{n} is allergic to {v}.", "{n} joked that a coworker is allergic to {w}.",
                "What is {n} allergic to?", ["penicillin", "peanuts", "shellfish", "latex", "bee stings"]),
    "blood_type": ("{n}'s blood type is {v}.", "{n} read that the rarest blood type is {w}.",
                   "What is {n}'s blood type?", ["A positive", "O negative", "B positive", "AB negative"]),
    "daughter": ("{n}'s daughter is named {v}.", "{n} said the neighbour's daughter is named {w}.",
                 "What is the name of {n}'s daughter?", ["Sofia", "Lucia", "Marta", "Julia", "Elena"]),
    "anniversary": ("{n}'s wedding anniversary is on {v}.",
                    "{n} went to a friend's wedding anniversary party on {w}.",
                    "When is {n}'s wedding anniversary?", ["March 3", "June 14", "September 9", "May 21"]),
    "medication": ("{n} takes {v} every morning.", "{n} saw an advert for {w} every morning on TV.",
                   "Which medication does {n} take every morning?",
                   ["metformin", "levothyroxine", "lisinopril", "atorvastatin"]),
}  # fmt: skip
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = END - timedelta(days=3 * 365)
#: How the service counts a candidate's age (`ranking`): from the time of the search.
AGE_ORIGIN = "now"
#: Today's ranking: the mode's own order and scores (RetrievalOptions() has the default weights).
ZERO = RetrievalOptions(importance_weight=0.0, recency_weight=0.0)
MOVE_HISTORY_SQL = (
    "UPDATE brain_history AS h SET created_at = m.at"
    " FROM unnest(%s::text[], %s::int[], %s::timestamptz[]) AS m(slug, version, at)"
    " WHERE h.scope = 'user' AND h.entity_id = %s AND h.slug = m.slug AND h.version = m.version"
)
MOVE_ROWS_SQL = (
    "UPDATE brain_memories AS r SET created_at = m.created, updated_at = m.updated"
    " FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS m(slug, created, updated)"
    " WHERE r.scope = 'user' AND r.entity_id = %s AND r.slug = m.slug"
)
Timeline = dict[str, list[tuple[datetime, str]]]


def instant(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.uniform(1, (END - START).total_seconds()))


def timeline(rng: random.Random, changes: int) -> Timeline:
    """One entity's facts: per slug, its (instant, value) versions in time order."""
    out = {}
    for slug, (_, _, values) in FACTS.items():
        chosen = rng.sample(values, changes + 1)
        out[slug] = list(zip([START, *sorted(instant(rng) for _ in range(changes))], chosen, strict=True))
    return out


def valid_at(versions: list[tuple[datetime, str]], when: datetime) -> str:
    return [v for t, v in versions if t <= when][-1]


async def move(svc: MemoryService, entity: str, history: list[tuple[str, int, datetime]],
               rows: list[tuple[str, datetime, datetime]]) -> None:  # fmt: skip
    """Move history entries and rows' created/updated times to their instants (owner SQL)."""
    async with svc.admin_pool.connection() as conn:
        await conn.execute(MOVE_HISTORY_SQL, ([h[0] for h in history], [h[1] for h in history],
                                              [h[2] for h in history], entity))  # fmt: skip
        await conn.execute(MOVE_ROWS_SQL, ([r[0] for r in rows], [r[1] for r in rows],
                                           [r[2] for r in rows], entity))  # fmt: skip


async def load_updates(svc: MemoryService, entity: str, name: str, facts: Timeline) -> None:
    history = []
    for slug, versions in facts.items():
        for version, (when, value) in enumerate(versions, start=1):
            await svc.asave("user", entity, slug, FACTS[slug][0].format(n=name, v=value))
            history.append((slug, version, when))
    rows = [(slug, versions[0][0], versions[-1][0]) for slug, versions in facts.items()]
    await move(svc, entity, history, rows)


async def load_new(svc: MemoryService, entity: str, name: str, facts: Timeline) -> None:
    items, history, rows = [], [], []
    for slug, versions in facts.items():
        for i, (when, value) in enumerate(versions):
            key = f"{slug}-{'abcdefgh'[i]}"
            items.append({"scope": "user", "entity_id": entity, "slug": key,
                          "content": FACTS[slug][0].format(n=name, v=value)})  # fmt: skip
            history.append((key, 1, when))
            rows.append((key, when, when))
    await svc.asave_many(items)
    await move(svc, entity, history, rows)


async def load_important(svc: MemoryService, entity: str, name: str, rng: random.Random) -> dict[str, str]:
    """Five important facts beside unimportant near-duplicates; returns slug -> expected content."""
    items, history, rows, expected = [], [], [], {}
    for slug, (good, chatter, _, values) in IMPORTANT.items():
        v, w = rng.sample(values, 2)
        for key, text, importance in ((slug, good.format(n=name, v=v), 0.9),
                                      (f"{slug}-chatter", chatter.format(n=name, w=w), 0.2)):  # fmt: skip
            items.append({"scope": "user", "entity_id": entity, "slug": key, "content": text,
                          "metadata": {"importance": importance}})  # fmt: skip
            when = instant(rng)
            history.append((key, 1, when))
            rows.append((key, when, when))
        expected[slug] = good.format(n=name, v=v)
    await svc.asave_many(items)
    await move(svc, entity, history, rows)
    return expected


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def now_questions(svc: MemoryService, questions: list[tuple[str, str, str]], mode: str,
                        options: RetrievalOptions, lat: list[float] | None = None) -> int:  # fmt: skip
    """How many (entity, question, expected) find the expected content first."""
    ok = 0
    for entity, question, expected in questions:
        t = time.perf_counter()
        hits = await svc.asearch("user", entity, question, mode=mode, retrieval=options)
        if lat is not None:
            lat.append(time.perf_counter() - t)
        ok += bool(hits) and hits[0].content == expected
    return ok


async def run(args: argparse.Namespace, svc: MemoryService) -> None:
    rng = random.Random(args.seed)
    n = args.entities
    people = [(f"person-{i}", NAMES[i % len(NAMES)], timeline(rng, args.changes)) for i in range(n)]
    fresh = [(f"new-{i}", NAMES[i % len(NAMES)], timeline(rng, args.changes)) for i in range(n)]
    t0 = time.perf_counter()
    sets: dict[str, list[tuple[str, str, str]]] = {"updates": [], "new memories": [], "importance": []}
    for (entity, name, facts), (new_entity, new_name, new_facts) in zip(people, fresh, strict=True):
        await load_updates(svc, entity, name, facts)
        await load_new(svc, new_entity, new_name, new_facts)
        for slug, (statement, question, _) in FACTS.items():
            sets["updates"].append(
                (entity, question.format(n=name), statement.format(n=name, v=facts[slug][-1][1]))
            )
            sets["new memories"].append((new_entity, question.format(n=new_name),
                                         statement.format(n=new_name, v=new_facts[slug][-1][1])))  # fmt: skip
        imp_entity = f"imp-{entity.split('-')[1]}"
        expected = await load_important(svc, imp_entity, name, rng)
        for slug, (_, _, question, _) in IMPORTANT.items():
            sets["importance"].append((imp_entity, question.format(n=name), expected[slug]))
    print(f"loaded 3 variants x {n} entities in {time.perf_counter() - t0:.0f} s; load {os.getloadavg()}")
    importance = await importances(svc)
    figures: dict[str, Any] = {}
    for mode in args.modes.split(","):
        recorded = {
            name: [await candidates(svc, q, mode, importance) for q in qs] for name, qs in sets.items()
        }
        now = datetime.now(UTC)
        figures[mode] = {
            score_grid.label(s): {name: first_share(recorded[name], sets[name], now, s) for name in sets}
            for s in dict.fromkeys(score_grid.grid() + score_grid.fine())
        }
        print_table(mode, sets, figures[mode], args.show)
        await check_end_to_end(svc, sets, mode, recorded, now)
        await as_of_and_latency(svc, people, mode, rng, svc.retrieval, sets["updates"])
    if args.json:
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(figures, indent=1))


async def importances(svc: MemoryService) -> dict[tuple[str, str], float]:
    async with svc.admin_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT entity_id, slug, importance FROM brain_memories WHERE scope = 'user'"
        )
        return {(r["entity_id"], r["slug"]): r["importance"] for r in await cur.fetchall()}


async def candidates(svc: MemoryService, q: tuple[str, str, str], mode: str,
                     importance: dict[tuple[str, str], float]) -> list[Candidate]:  # fmt: skip
    """Every joined candidate of one question with both weights 0 (what `ajoin_hits` rescores),
    keyed by content. The tenants hold at most 40 memories, so k=100 is all of them."""
    entity, question, _ = q
    hits = await svc.asearch("user", entity, question, mode=mode, k=100, retrieval=ZERO)
    return [Candidate(h.content, h.score, importance[(entity, h.slug)], h.updated_at) for h in hits]


def first_share(recorded: list[list[Candidate]], questions: list[tuple[str, str, str]], now: datetime,
                setting: score_grid.Setting) -> float:  # fmt: skip
    """The share of questions whose expected content comes first under `setting`."""
    ok = 0
    for cands, (_, _, expected) in zip(recorded, questions, strict=True):
        top = score_grid.order(cands, now, setting)
        ok += bool(top) and top[0] == expected
    return ok / len(questions)


def print_table(mode: str, sets: dict[str, Any], figures: dict[str, dict[str, float]], show: str) -> None:
    """Today's ranking, the `show` settings, and the best settings by their worst variant."""
    best = sorted(figures, key=lambda s: (-min(figures[s].values()), -sum(figures[s].values())))[:8]
    rows = dict.fromkeys(["today (weights 0)", *[r for r in show.split(";") if r in figures], *best])
    print(f"\n#### mode {mode} (now-questions: current value first; {len(figures)} settings replayed)\n")
    print("| setting | " + " | ".join(f"{name} ({len(q)})" for name, q in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))
    for row in rows:
        print(f"| {row} | " + " | ".join(f"{figures[row][name]:.0%}" for name in sets) + " |")


async def check_end_to_end(svc: MemoryService, sets: dict[str, list[tuple[str, str, str]]], mode: str,
                           recorded: dict[str, list[list[Candidate]]], now: datetime) -> None:  # fmt: skip
    """The service's own ranking (its default options), end to end, against its replay."""
    opts = svc.retrieval
    setting = (opts.importance_weight, opts.recency_weight, opts.recency_half_life_days, AGE_ORIGIN)
    cells, agree = [], 0
    for name, questions in sets.items():
        ok = 0
        for q, cands in zip(questions, recorded[name], strict=True):
            hits = await svc.asearch("user", q[0], q[1], mode=mode)
            ok += bool(hits) and hits[0].content == q[2]
            replayed = score_grid.order(cands, now, setting)
            agree += bool(hits) and bool(replayed) and hits[0].content == replayed[0]
        cells.append(f"{name} {ok}/{len(questions)} = {ok / len(questions):.0%}")
    total = sum(len(q) for q in sets.values())
    print(f"\nend to end, the service's defaults ({score_grid.label(setting)}): " + "; ".join(cells)
          + f"; first hit as replayed: {agree}/{total}")  # fmt: skip


async def as_of_and_latency(svc: MemoryService, people: list[tuple[str, str, Timeline]], mode: str,
                            rng: random.Random, default: RetrievalOptions,
                            questions: list[tuple[str, str, str]]) -> None:  # fmt: skip
    past_ok = get_ok = total = 0
    past_lat: list[float] = []
    for entity, name, facts in people:
        for slug, versions in facts.items():
            statement, question, _ = FACTS[slug]
            total += 1
            when = instant(rng)
            expected = statement.format(n=name, v=valid_at(versions, when))
            t = time.perf_counter()
            hits = await svc.asearch("user", entity, question.format(n=name), as_of=when, mode=mode)
            past_lat.append(time.perf_counter() - t)
            past_ok += bool(hits) and hits[0].content == expected
            record = await svc.aget("user", entity, slug, as_of=when)
            get_ok += record is not None and record.content == expected
    print(f"\nas-of questions (updates), value valid then first: {past_ok}/{total} = {past_ok / total:.1%};"
          f" aget(as_of=) exact: {get_ok}/{total} = {get_ok / total:.1%}")  # fmt: skip
    lats: dict[str, list[float]] = {}
    for name, options in (("weights 0", ZERO), ("default weights", default)) * 2:
        lats[name] = []  # the second round is measured: the first warms caches for both
        await now_questions(svc, questions, mode, options, lats[name])
    lats["as-of"] = past_lat
    ratio = pct(lats["default weights"], 0.5) / pct(lats["weights 0"], 0.5)
    shown = "; ".join(f"{k} p50 {pct(v, 0.5):.1f} / p95 {pct(v, 0.95):.1f} ms" for k, v in lats.items())
    print(f"latency: {shown}; default/weights-0 p50 {ratio:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=20, help="entities per variant")
    parser.add_argument("--changes", type=int, default=3, help="changes per fact after its creation")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default="hybrid,vector,keyword")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="write every replayed figure to this file")
    parser.add_argument("--show", default="", help="settings (labels, ';'-separated) always printed")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-bench-time-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    db = await Database.aopen(create_database(server, "bench_time"))
    async with open_memory_service(BrainSettings(), database=db) as svc:
        await run(args, svc)
    await db.aclose()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())

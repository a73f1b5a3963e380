"""Time benchmark: facts that change over time, questions about now and about a past date.

    python bench/bench_time.py                      # 40 entities x 5 facts x 4 values
    python bench/bench_time.py --entities 10        # quick run

A synthetic set, generated here with a fixed seed: each entity (a user) has five facts (home city,
employer, car, pet, hobby); each fact is created on 2023-01-01 and changes `--changes` times at
random later instants up to 2025-12-31. Writes go through `MemoryService.asave`; each history
entry's `created_at` is then moved to its instant (one UPDATE per entity), as in tests/test_as_of.py.

Reported:
- now-questions ("Which city does Ana live in?" with no as_of): the fact's current value is the
  first hit (target >= 95 %);
- as-of questions (the same question with as_of = a random past instant): the value valid then
  is the first hit; and `aget(..., as_of=)` returns it (exact by construction);
- latency p50/p95 of as-of search against normal search, same questions (`--mode`, k=5).

Runs on a fresh database in the embedded Postgres (or DATABASE_URL).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("MEM0_TELEMETRY", "False")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_brain.brain import MemoryService, open_memory_service
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

NAMES = ["Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Gloria", "Hugo", "Irene", "Jorge"]
# slug -> (statement template, question template, values)
FACTS = {
    "home_city": ("{n} lives in {v}.", "Which city does {n} live in?",
                  ["Paris", "Madrid", "Lisbon", "Santiago", "Lima", "Bogota", "Quito", "Montevideo"]),
    "employer": ("{n} works at {v} as an engineer.", "Which company does {n} work for?",
                 ["Acme Corporation", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Hooli"]),
    "car": ("{n} drives a {v}.", "What car does {n} drive?",
            ["red Toyota Corolla", "blue Ford Focus", "white Tesla Model 3", "black Volvo XC60",
             "green Fiat 500", "grey Kia Rio"]),
    "pet": ("{n} has a pet {v}.", "What pet does {n} have?",
            ["cat named Tom", "dog named Rex", "parrot named Kiwi", "rabbit named Luna", "turtle named Max"]),
    "hobby": ("{n}'s hobby is {v}.", "What is {n}'s hobby?",
              ["painting", "rock climbing", "chess", "playing the cello", "gardening", "surfing"]),
}  # fmt: skip
START = datetime(2023, 1, 1, tzinfo=UTC)
END = datetime(2025, 12, 31, tzinfo=UTC)


def timeline(rng: random.Random, changes: int) -> dict[str, list[tuple[datetime, str]]]:
    """One entity's facts: per slug, its (instant, value) versions in time order."""
    out = {}
    span = (END - START).total_seconds()
    for slug, (_, _, values) in FACTS.items():
        chosen = rng.sample(values, changes + 1)
        instants = sorted(START + timedelta(seconds=rng.uniform(1, span)) for _ in range(changes))
        out[slug] = list(zip([START, *instants], chosen, strict=True))
    return out


def valid_at(versions: list[tuple[datetime, str]], when: datetime) -> str:
    return [v for t, v in versions if t <= when][-1]


async def load(
    svc: MemoryService, entity: str, name: str, facts: dict[str, list[tuple[datetime, str]]]
) -> None:
    moves = []
    for slug, versions in facts.items():
        for version, (when, value) in enumerate(versions, start=1):
            await svc.asave("user", entity, slug, FACTS[slug][0].format(n=name, v=value))
            moves.append((slug, version, when))
    async with svc.admin_pool.connection() as conn:
        await conn.execute(
            "UPDATE brain_history AS h SET created_at = m.at"
            " FROM unnest(%s::text[], %s::int[], %s::timestamptz[]) AS m(slug, version, at)"
            " WHERE h.scope = 'user' AND h.entity_id = %s AND h.slug = m.slug"
            " AND h.version = m.version",
            ([m[0] for m in moves], [m[1] for m in moves], [m[2] for m in moves], entity),
        )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=40)
    parser.add_argument("--changes", type=int, default=3, help="changes per fact after its creation")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "vector", "keyword"])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-bench-time-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    db = await Database.aopen(create_database(server, "bench_time"))
    async with open_memory_service(BrainSettings(), database=db) as svc:
        people = [
            (f"person-{i}", NAMES[i % len(NAMES)], timeline(rng, args.changes)) for i in range(args.entities)
        ]
        t0 = time.perf_counter()
        for entity, name, facts in people:
            await load(svc, entity, name, facts)
        versions = args.entities * len(FACTS) * (args.changes + 1)
        print(f"loaded {versions} versions in {time.perf_counter() - t0:.0f} s; search mode {args.mode}")
        now_ok = past_ok = get_ok = total = 0
        now_lat: list[float] = []
        past_lat: list[float] = []
        for entity, name, facts in people:
            for slug, versions in facts.items():
                statement, question, _ = FACTS[slug]
                total += 1
                t = time.perf_counter()
                hits = await svc.asearch("user", entity, question.format(n=name), mode=args.mode)
                now_lat.append(time.perf_counter() - t)
                now_ok += bool(hits) and hits[0].content == statement.format(n=name, v=versions[-1][1])
                when = START + timedelta(seconds=rng.uniform(0, (END - START).total_seconds()))
                expected = statement.format(n=name, v=valid_at(versions, when))
                t = time.perf_counter()
                hits = await svc.asearch("user", entity, question.format(n=name), as_of=when, mode=args.mode)
                past_lat.append(time.perf_counter() - t)
                past_ok += bool(hits) and hits[0].content == expected
                record = await svc.aget("user", entity, slug, as_of=when)
                get_ok += record is not None and record.content == expected
        print(f"questions: {total} now, {total} as-of ({args.entities} entities x {len(FACTS)} facts,"
              f" {args.changes + 1} values each)")  # fmt: skip
        print(
            f"now-questions, current value first:       {now_ok}/{total} = {now_ok / total:.1%} (target 95 %)"
        )
        print(f"as-of questions, value valid then first:   {past_ok}/{total} = {past_ok / total:.1%}")
        print(f"aget(as_of=), value valid then:            {get_ok}/{total} = {get_ok / total:.1%}")
        for label, lat in (("normal search", now_lat), ("as-of search", past_lat)):
            print(f"{label:14s} p50 {pct(lat, 0.5):6.1f} ms  p95 {pct(lat, 0.95):6.1f} ms"
                  f"  mean {statistics.mean(lat) * 1000:6.1f} ms")  # fmt: skip
        print(f"as-of / normal p50: {pct(past_lat, 0.5) / pct(now_lat, 0.5):.2f}x")
    await db.aclose()


if __name__ == "__main__":
    asyncio.run(main())

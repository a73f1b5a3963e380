"""HTTP memory API vs the in-process service: what `POST /brain/search/user` adds, side by side.

    .venv/bin/python bench/bench_http.py                     # 300 memories, 300 query pairs
    .venv/bin/python bench/bench_http.py --memories 100 --queries 60 --json /tmp/http.json

A real `langgraph dev` (BRAIN_AUTH=required, the repo's auth and `http.app`) runs on a fresh
database of the embedded Postgres (or DATABASE_URL's server). One API key is created for one
user, and N synthetic memories are saved for that user. This process opens its own
`MemoryService` on the same database, so both sides search identical rows with the same code.

Each timed query is run once in-process (`MemoryService.asearch`) and once over HTTP with a
persistent `httpx.AsyncClient` (keep-alive), one right after the other, the order alternating
per pair so that machine noise and warm caches hit both sides alike. Query embeddings are
cached per process (exact text, LRU): every pair uses a query text no earlier call used, so
each side misses its own cache once and pays one e5 embedding. A second pass repeats the same
pairs, now hitting both caches, which removes the embedding (8-22 ms of noisy CPU) and leaves
the bare difference. `GET /brain/health` is timed with the user's key and without credentials,
and `GET /ok` (langgraph-api's own route, no auth, no database) is the server's floor;
`GET /brain/memories/user/<slug>` is the floor of an authenticated memory API call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from tests.devserver import dev_server, offline_env

from bench.synthetic import FACTS, SUBJECTS, synthetic_texts
from langgraph_brain.brain import open_memory_service
from langgraph_brain.db import CONNECTION_KWARGS, Database, create_database, resolve_database_url
from langgraph_brain.migrate import amigrate_all
from langgraph_brain.server.keys import acreate_key
from langgraph_brain.settings import BrainSettings

USER, COMPANY = "bench-user", "bench-co"
HTTP_APP = {"app": "langgraph_brain.server.api:app", "enable_custom_route_auth": True}
#: 1-minute load average per core under which the machine counts as idle.
IDLE_LOAD_PER_CORE = 0.25


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of seconds, in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await call()
    return time.perf_counter() - t0, result


async def prepare(url: str, memories: int) -> str:
    """Auth tables, the user's API key and `memories` saved memories; returns the key."""
    async with await psycopg.AsyncConnection.connect(url, **CONNECTION_KWARGS) as conn:
        await amigrate_all(conn)
        _, key = await acreate_key(conn, USER, COMPANY, label="bench_http")
    db = await Database.aopen(url)
    try:
        async with open_memory_service(BrainSettings(), database=db) as svc:
            items = [
                {"scope": "user", "entity_id": USER, "slug": f"note_{i}", "content": text}
                for i, text in enumerate(synthetic_texts(memories, seed=13))
            ]
            t0 = time.perf_counter()
            saved = await svc.asave_many(items)
            if saved.failed_count:
                raise SystemExit(f"{saved.failed_count} saves failed: {saved.errors[:3]}")
            print(f"saved {memories} memories for {USER} in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        await db.aclose()
    return key


def make_queries(n: int, tag: str) -> list[str]:
    # The index makes every text distinct, so no cache (ours or the server's) has seen it.
    return [f"what about {SUBJECTS[i % len(SUBJECTS)]} who {FACTS[(i * 7) % len(FACTS)]}? ({tag} {i})"
            for i in range(n)]  # fmt: skip


async def measure(url: str, key: str, server_url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = await Database.aopen(url)
    out: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_keepalive_connections=4)
    try:
        async with (
            open_memory_service(BrainSettings(), database=db) as svc,
            httpx.AsyncClient(base_url=server_url, timeout=60, trust_env=False, limits=limits) as http,
        ):

            async def local(q: str) -> list[str]:
                hits = await svc.asearch("user", USER, q, k=args.k, mode=args.mode)
                return [h.slug for h in hits]

            async def remote(q: str) -> list[str]:
                r = await http.post(
                    "/brain/search/user", json={"query": q, "k": args.k, "mode": args.mode}, headers=headers
                )
                r.raise_for_status()
                return [h["slug"] for h in r.json()["hits"]]

            # Warm-up: opens the server's shared service, both pools, both e5 engines, plan caches.
            for q in make_queries(args.warmup, "warm"):
                await local(q)
                await remote(q)
            queries = make_queries(args.queries, "timed")
            mismatches = 0
            for phase in ("cold", "cached"):  # "cached": the same texts again, now in both caches
                times: dict[str, list[float]] = {"in_process": [], "http": []}
                for i, q in enumerate(queries):
                    sides = [("in_process", local), ("http", remote)]
                    slugs = {}
                    for name, fn in sides if i % 2 == 0 else sides[::-1]:
                        seconds, slugs[name] = await timed(partial(fn, q))
                        times[name].append(seconds)
                    mismatches += slugs["in_process"] != slugs["http"]
                out[phase] = times
            out["result_mismatches"] = mismatches

            probes: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                "health_with_key": lambda: http.get("/brain/health", headers=headers),
                "health_no_credentials": lambda: http.get("/brain/health"),  # client has no default auth
                "ok_floor": lambda: http.get("/ok"),
                # The cheapest authenticated API call: key check + one indexed row read.
                "get_memory_with_key": lambda: http.get("/brain/memories/user/note_0", headers=headers),
            }
            for probe in probes.values():  # warm-up, incl. the health embedder probe's first run
                for _ in range(5):
                    (await probe()).raise_for_status()
            health: dict[str, list[float]] = {name: [] for name in probes}
            for _ in range(args.health):
                for name, probe in probes.items():
                    seconds, response = await timed(probe)
                    response.raise_for_status()
                    health[name].append(seconds)
            out["health"] = health
    finally:
        await db.aclose()
    return out


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for phase in ("cold", "cached"):
        a, b = raw[phase]["in_process"], raw[phase]["http"]
        summary[phase] = {
            "in_process_p50_ms": pct(a, 0.5),
            "in_process_p95_ms": pct(a, 0.95),
            "http_p50_ms": pct(b, 0.5),
            "http_p95_ms": pct(b, 0.95),
            "p50_overhead_ms": pct(b, 0.5) - pct(a, 0.5),
            "median_paired_overhead_ms": statistics.median(y - x for x, y in zip(a, b, strict=True)) * 1000,
            "p50_ratio": pct(b, 0.5) / pct(a, 0.5),
        }
    summary["health"] = {
        name: {"p50_ms": pct(v, 0.5), "p95_ms": pct(v, 0.95)} for name, v in raw["health"].items()
    }
    return summary


def report(
    s: dict[str, Any], args: argparse.Namespace, loads: tuple[float, float], raw: dict[str, Any]
) -> None:
    print(f"\nsearch ({args.mode}, k={args.k}), {args.memories} memories of one user, {args.queries} pairs")
    print("| query embedding | in-process p50 / p95 | HTTP p50 / p95 | p50 overhead (target ≤ 3 ms)"
          " | median paired diff | p50 ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for phase, label in (("cold", "computed (distinct text)"), ("cached", "cache hit (same text again)")):
        r = s[phase]
        print(
            f"| {label} | {r['in_process_p50_ms']:.1f} / {r['in_process_p95_ms']:.1f} ms"
            f" | {r['http_p50_ms']:.1f} / {r['http_p95_ms']:.1f} ms | {r['p50_overhead_ms']:+.2f} ms"
            f" | {r['median_paired_overhead_ms']:+.2f} ms | {r['p50_ratio']:.2f}x |"
        )
    print(f"\n| GET ({args.health} each, interleaved) | p50 | p95 | target |\n|---|---|---|---|")
    for name, label, target in (
        ("health_with_key", "/brain/health, user's API key", "≤ 20 ms"),
        ("health_no_credentials", "/brain/health, no credentials", "≤ 20 ms"),
        ("ok_floor", "/ok (server floor)", ""),
        ("get_memory_with_key", "/brain/memories/user/note_0, user's API key", ""),
    ):
        h = s["health"][name]
        print(f"| {label} | {h['p50_ms']:.1f} ms | {h['p95_ms']:.1f} ms | {target} |")
    before, after = loads
    idle = before <= IDLE_LOAD_PER_CORE * (os.cpu_count() or 1)
    print(
        f"\nhits differing between the two sides: {raw['result_mismatches']} of {2 * args.queries}"
        f"\nload average (1 min) before: {before:.2f}, after: {after:.2f} on {os.cpu_count()} cores;"
        f" machine {'idle' if idle else 'LOADED'} at start (idle = before ≤ {IDLE_LOAD_PER_CORE}/core)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=300)
    parser.add_argument("--queries", type=int, default=300, help="timed query pairs (≤ 900: cache size)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--health", type=int, default=200, help="timed calls per GET probe")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "vector", "keyword"])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="also write the summary and raw timings (s) to this file")
    args = parser.parse_args()
    if args.queries + args.warmup > 900:  # both sides keep 1,024 query vectors; the cached pass needs all
        raise SystemExit("--queries + --warmup must stay ≤ 900")
    before = os.getloadavg()[0]
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-http-"))
    server = resolve_database_url(os.environ.get("DATABASE_URL"), data_dir)
    url = create_database(server, "bench_http")
    key = asyncio.run(prepare(url, args.memories))
    env = offline_env(DATABASE_URL=url, BRAIN_AUTH="required")
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "BRAIN_JWT_SECRET"):
        env.pop(name, None)  # the API key is the only way in
    with dev_server(env, config={"http": HTTP_APP}) as srv:
        raw = asyncio.run(measure(url, key, srv.url, args))
    after = os.getloadavg()[0]
    summary = summarize(raw)
    report(summary, args, (before, after), raw)
    if args.json:
        payload = {
            "args": vars(args),
            "load_before": before,
            "load_after": after,
            "summary": summary,
            "raw": raw,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()

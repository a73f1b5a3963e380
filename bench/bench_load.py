"""Latency on a busy machine: the brain idle and beside two CPU-bound neighbours, today vs a baseline.

    .venv/bin/python bench/bench_load.py                      # 20,000 memories / 200 tenants
    .venv/bin/python bench/bench_load.py --baseline 055fd8b --memories 20000 --entities 200

One database is filled once (real e5 vectors, bulk-loaded as synced rows). Then each version of
the code (this checkout, and the baseline commit checked out with `git worktree`) runs in its own
process against that same database, twice: idle, and with two `while True: pass` processes
running for the whole measurement (what a LangGraph server's neighbours do to it). Each phase
times the e5 query embedding alone, hybrid and vector search (k=5), save, and Mem0's own
`add(infer=False)` in the same process. Queries are all distinct, so the query cache never hits.
Prints p50/p95 per phase and the busy/idle ratio the issue's targets are written in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
OPS = ("embed", "hybrid", "vector", "save", "mem0_add")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _timed(n: int, make: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await make(i)
        out.append(time.perf_counter() - t0)
    return out


@contextmanager
def neighbours(n: int) -> Iterator[None]:
    """`n` CPU-bound processes running for the duration of the block."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(1.0 if n else 0.0)
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()


async def _phase(svc: Any, args: argparse.Namespace, rng: random.Random, tag: str) -> dict[str, list[float]]:
    from bench.synthetic import FACTS, SUBJECTS

    mem0 = svc.index.memory
    embeddings = svc.index.embeddings
    queries = [
        f"who {rng.choice(FACTS)} like {rng.choice(SUBJECTS)}? ({tag} {i})" for i in range(args.queries)
    ]
    tenants = [f"tenant-{rng.randrange(args.entities)}" for _ in range(args.queries)]
    texts = [f"{rng.choice(SUBJECTS)} {rng.choice(FACTS)} ({tag} {i})" for i in range(args.saves)]
    n, m = args.queries, args.saves
    return {
        "embed": await _timed(n, lambda i: embeddings.aembed_query(queries[i] + "!")),
        "hybrid": await _timed(
            n, lambda i: svc.asearch("company", tenants[i], queries[i], k=5, mode="hybrid")
        ),
        "vector": await _timed(
            n, lambda i: svc.asearch("company", tenants[i], queries[i] + "?", k=5, mode="vector")
        ),
        "save": await _timed(
            m, lambda i: svc.asave("company", f"tenant-{i % args.entities}", f"load_{i % 40}", texts[i])
        ),
        "mem0_add": await _timed(
            m, lambda i: mem0.add(texts[i] + ".", user_id=f"company:plain-{i % 50}", infer=False)
        ),
    }


async def child(args: argparse.Namespace) -> None:
    """Runs inside one code version (PYTHONPATH); prints {phase: {op: [seconds]}} as JSON."""
    from langgraph_brain.brain import open_memory_service
    from langgraph_brain.settings import BrainSettings

    rng = random.Random(5)
    out: dict[str, dict[str, list[float]]] = {}
    async with open_memory_service(BrainSettings()) as svc:
        for i in range(10):  # warm-up: pool, plans, the engine's first calls
            await svc.asearch("company", f"tenant-{i}", f"warm up query {i}", k=5)
        for phase, busy in (("idle", 0), ("busy", 2)):
            with neighbours(busy):
                out[phase] = await _phase(svc, args, rng, f"{phase}-{args.tag}")
    print("RESULT " + json.dumps(out))


async def prepare(args: argparse.Namespace) -> str:
    """Create and fill the shared database with this checkout's code; return its URL."""
    from rich.console import Console

    from bench.synthetic import aembed_corpus, bulk_load
    from langgraph_brain.brain import open_memory_service, shared_embeddings
    from langgraph_brain.db import Database, create_database, resolve_database_url
    from langgraph_brain.settings import BrainSettings

    console = Console()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-load-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    url = create_database(server, "bench_load")
    db = await Database.aopen(url)
    async with open_memory_service(BrainSettings(), database=db):
        texts, vectors = await aembed_corpus(
            console, shared_embeddings("e5", "text-embedding-3-small"), args.distinct
        )
        async with db.pool.connection() as conn:
            await bulk_load(
                conn,
                texts=texts,
                vectors=vectors,
                entities=args.entities,
                per_entity=args.memories // args.entities,
                scope="company",
            )
    await db.aclose()
    return url


def run_child(src: Path, url: str, args: argparse.Namespace, tag: str) -> dict[str, dict[str, list[float]]]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{src}{os.pathsep}{ROOT}",
        "DATABASE_URL": url,
        "BRAIN_MODEL": "scripted",
    }
    sizes = ["--entities", str(args.entities), "--queries", str(args.queries), "--saves", str(args.saves)]
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--tag", tag, *sizes]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{src} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result: dict[str, dict[str, list[float]]] = json.loads(lines[-1][len("RESULT ") :])
    return result


def report(results: dict[str, dict[str, dict[str, list[float]]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="p50 / p95 in ms; busy = two CPU-bound neighbour processes")
    table.add_column("operation")
    for name in results:
        table.add_column(f"{name} idle", justify="right")
        table.add_column(f"{name} busy", justify="right")
        table.add_column(f"{name} busy/idle", justify="right")
    for op in OPS:
        cells = []
        for res in results.values():
            idle, busy = res["idle"][op], res["busy"][op]
            cells += [
                f"{pct(idle, 0.5):.1f} / {pct(idle, 0.95):.1f}",
                f"{pct(busy, 0.5):.1f} / {pct(busy, 0.95):.1f}",
                f"{pct(busy, 0.5) / pct(idle, 0.5):.2f}x / {pct(busy, 0.95) / pct(idle, 0.95):.2f}x",
            ]
        table.add_row(op, *cells)
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="055fd8b", help="commit to compare against ('' to skip)")
    parser.add_argument("--memories", type=int, default=20_000)
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--distinct", type=int, default=1_000, help="distinct sentences embedded for real")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--saves", type=int, default=100)
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    url = asyncio.run(prepare(args))
    versions = {"now": ROOT / "src"}
    worktree = None
    if args.baseline:
        worktree = Path(tempfile.mkdtemp(prefix="brain-baseline-"))
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.baseline],
                       check=True, capture_output=True)  # fmt: skip
        versions = {args.baseline: worktree / "src", **versions}
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
        results = {name: run_child(src, url, args, name) for name, src in versions.items()}
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False
            )
    report(results)


if __name__ == "__main__":
    main()

"""Bulk import: `asave_many` against a plain Mem0 `add(infer=False)` loop, on the same data.

    .venv/bin/python bench/bench_import.py                          # 10,000 memories, 100 entities
    .venv/bin/python bench/bench_import.py --memories 2000 --entities 20 --mem0-sample 300

Memories are 100-500 characters of synthetic but varied text. Columns: the brain's bulk save
(the save protocol and I1 per memory, history included), a plain Mem0 loop on a sample of the
same items (the rate is what the loop sustains), and the e5 passage embedding alone over the same
sample in batches (the floor every path shares). Ends with the invariant check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MEM0_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.progress import Progress

from bench.synthetic import FACTS, SUBJECTS
from langgraph_brain.brain import open_memory_service
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.db import Database, create_database, resolve_database_url
from langgraph_brain.settings import BrainSettings

console = Console()


def memory_text(rng: random.Random) -> str:
    """100-500 characters: a few facts about a few subjects."""
    target = rng.randint(100, 500)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(FACTS)} (ref {rng.randrange(10**5)}).")
    return " ".join(parts)[:target]


def make_items(memories: int, entities: int) -> list[dict[str, str]]:
    rng = random.Random(17)
    return [
        {
            "scope": "user" if i % 2 else "company",
            "entity_id": f"import-{i % entities}",
            "slug": f"note-{i // entities}",
            "content": memory_text(rng),
        }
        for i in range(memories)
    ]


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-import-"))
    server = await asyncio.to_thread(resolve_database_url, os.environ.get("DATABASE_URL"), data_dir)
    db = await Database.aopen(create_database(server, "bench_import"))
    items = make_items(args.memories, args.entities)
    sample = items[: args.mem0_sample]
    console.print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    async with open_memory_service(BrainSettings(), database=db) as svc:
        assert isinstance(svc.index, Mem0OSSIndex)
        await svc.asave("user", "warm", "up", "warm up the pools and the engine")

        t0 = time.perf_counter()
        vectors = await svc.index.embeddings.aembed_documents([i["content"] for i in sample])
        embed_rate = len(vectors) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        for item in sample:
            await svc.index.memory.add(
                item["content"],
                user_id=f"plain:{item['entity_id']}",
                metadata={"slug": item["slug"]},
                infer=False,
            )
        mem0_rate = len(sample) / (time.perf_counter() - t0)

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("asave_many", total=len(items))
            t0 = time.perf_counter()
            result = await svc.asave_many(items, on_progress=lambda n: progress.advance(task, n))
            brain_seconds = time.perf_counter() - t0
        brain_rate = len(items) / brain_seconds
        again_t0 = time.perf_counter()
        rerun = await svc.asave_many(items)
        rerun_seconds = time.perf_counter() - again_t0
        report = await acheck_invariant(svc)
    await db.aclose()
    console.print(f"load average after: {os.getloadavg()[0]:.2f}")
    console.print(
        f"brain asave_many: {len(items):,} memories in {brain_seconds:.1f}s = {brain_rate:.1f}/s"
        f" (saved {result.saved_count:,}, failed {result.failed_count}, {result.statuses})"
    )
    console.print(f"plain Mem0 add(infer=False) loop, {len(sample):,} of the same items: {mem0_rate:.1f}/s")
    console.print(f"e5 passage embedding alone, same {len(sample):,} items in one batch: {embed_rate:.1f}/s")
    console.print(
        f"brain / Mem0 loop: {brain_rate / mem0_rate:.2f}x;"
        f"  brain / embedding alone: {brain_rate / embed_rate:.2f}x"
    )
    console.print(f"re-run of the whole import: {rerun_seconds:.1f}s, {rerun.statuses}")
    console.print(f"I1 after import: {'holds' if report.ok else report.violations[:5]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument(
        "--mem0-sample", type=int, default=500, help="items the Mem0 loop and the embedding time"
    )
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    asyncio.run(main(parser.parse_args()))

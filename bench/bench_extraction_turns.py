"""Turn latency with background extraction enabled ÷ disabled: same graph, same run, interleaved.

    .venv/bin/python bench/bench_extraction_turns.py                 # 200 turn pairs per phase
    .venv/bin/python bench/bench_extraction_turns.py --pairs 60 --backlog 60 --json /tmp/turns.json

Two graphs built by `create_assistant` with the same arguments (scripted model, real BrainSaver,
real MemoryService on embedded Postgres): one with `ExtractionMiddleware` on a real procrastinate
queue, one with `extraction=None` (what BRAIN_EXTRACTION=false builds), and a third with the middleware
switched off (`enabled=False`: its graph node runs, nothing is queued), which splits the cost of
the extra node from that of the enqueue. Thread group j (one thread per graph) belongs to user
j, so all sides read the same core memories. Turns go round-robin over the groups, each turn run
on every graph one right after the other, the order rotating, so machine noise (the CI run next
door) hits all alike. Turn texts are FR/ES/EN statements.

Phases, each after a warm-up:

* ``off``: no worker runs. The enabled side pays only the enqueue (cursor upsert + job INSERT,
  or the INSERT refused because a job already waits for the thread).
* ``busy``: a worker runs *in this process* (BRAIN_WORKER=inprocess, the default deployment:
  same event loop, same 2 cores) on a backlog of threads queued beforehand, so it is extracting
  during every measured turn; the backlog left at the end is printed to show it never ran dry.
  The measured threads' own jobs join that queue.
* ``enqueue``: `ExtractionQueue.aenqueue` alone, timed directly (the worker stopped), the floor
  of what the middleware adds.

The target (issue 14) is enabled/disabled ≤ 1.05× at p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from functools import partial
from pathlib import Path
from subprocess import DEVNULL
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extraction_common import Stack, arows, aturn, load, open_stack, pct, statements
from langgraph_brain.demo import create_assistant
from langgraph_brain.extraction.extractor import Extractor
from langgraph_brain.extraction.messages import MARK_ENQUEUED_SQL
from langgraph_brain.extraction.middleware import ExtractionMiddleware
from langgraph_brain.extraction.queue import EXTRACT_TASK, ExtractionQueue, adefer_extraction
from langgraph_brain.extraction.resources import ExtractionOptions, WorkerResources
from langgraph_brain.extraction.worker import start_worker

DUE_SQL = (
    "SELECT count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))"
    " AS due, count(*) FILTER (WHERE status = 'doing') AS running"
    " FROM procrastinate_jobs WHERE task_name = %s"
)


async def run_pairs(
    graphs: dict[str, Any], stack: Stack, phase: str, pairs: int, threads: int
) -> dict[str, list[float]]:
    """`pairs` turns on each graph, round-robin over `threads` thread groups, the order rotating."""
    times: dict[str, list[float]] = {side: [] for side in graphs}
    sides = list(graphs)
    for i in range(pairs):
        j = i % threads
        text = statements(j, 3)[(i // threads) % 3]
        for side in sides[i % len(sides) :] + sides[: i % len(sides)]:
            thread = f"{phase}-{side}-{j}"
            times[side].append(await aturn(graphs[side], thread, f"{phase}-user-{j}", text))
    return times


async def due_jobs(stack: Stack) -> tuple[int, int]:
    row = (await arows(stack.service, DUE_SQL, EXTRACT_TASK))[0]
    return int(row["due"]), int(row["running"])


async def backlog(graphs: dict[str, Any], phase: str, n: int) -> None:
    """`n` threads with the seed statement, queued by the enabled graph, for a worker to chew on."""
    for i in range(n):
        await aturn(
            graphs["enabled"], f"{phase}-backlog-{i}", f"{phase}-backlog-user-{i}", statements(i, 1)[0]
        )


@asynccontextmanager
async def inprocess_worker(stack: Stack, args: argparse.Namespace) -> AsyncIterator[None]:
    resources = WorkerResources(
        service=stack.service,
        saver=stack.saver,
        extractor=Extractor(stack.model),
        options=ExtractionOptions(idle_seconds=args.idle_seconds),
    )
    worker = start_worker(stack.app, resources, concurrency=args.concurrency, name="bench-turns")
    try:
        yield
    finally:
        await worker.astop()


@asynccontextmanager
async def process_worker(stack: Stack, args: argparse.Namespace) -> AsyncIterator[None]:
    """`brain worker` in its own process (BRAIN_WORKER=off deployments): same CPUs, own event loop."""
    env = {**os.environ, "DATABASE_URL": stack.url, "BRAIN_EXTRACTION_IDLE_SECONDS": str(args.idle_seconds)}
    brain = Path(sys.executable).with_name("brain")
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; nothing waits on it here)
        [str(brain), "worker", "-c", str(args.concurrency)], env=env, stdout=DEVNULL, stderr=DEVNULL
    )
    try:
        first = await due_jobs(stack)
        deadline = time.monotonic() + 120
        while await due_jobs(stack) == first:  # it has started taking jobs (e5 and Mem0 loaded)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("brain worker did not start taking jobs")
            await asyncio.sleep(0.5)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)


async def enqueue_parts(stack: Stack, queue: ExtractionQueue, n: int) -> dict[str, list[float]]:
    """The enqueue's two statements timed apart, and the whole call, on threads with a waiting job."""
    names = ("cursor upsert", "job INSERT (new job)", "job INSERT refused (a job waits)", "aenqueue (both)")
    parts: dict[str, list[float]] = {name: [] for name in names}
    states = [
        await stack.saver.aget_tuple({"configurable": {"thread_id": f"off-enabled-{j}"}}) for j in range(20)
    ]
    for i in range(n):
        st = states[i % len(states)]
        msgs = st.checkpoint["channel_values"].get("messages", []) if st else []
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "cursor upsert": partial(
                stack.app.connector.execute_query_one_async, query=MARK_ENQUEUED_SQL, thread_id=f"parts-{i}"
            ),
            "job INSERT (new job)": partial(
                adefer_extraction,
                stack.app,
                thread_id=f"parts-{i}",
                user_id="u",
                company_id=None,
                lane="idle",
            ),
            "job INSERT refused (a job waits)": partial(
                adefer_extraction,
                stack.app,
                thread_id=f"parts-{i}",
                user_id="u",
                company_id=None,
                lane="idle",
            ),
            "aenqueue (both)": partial(
                queue.aenqueue,
                f"off-enabled-{i % len(states)}",
                user_id="u",
                company_id=None,
                state_messages=msgs,
            ),
        }
        for name, call in calls.items():
            t = time.perf_counter()
            await call()
            parts[name].append(time.perf_counter() - t)
    return parts


async def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"phases": {}, "load_before": {}, "load_after": {}, "backlog_due": {}}
    async with open_stack(data_dir, "bench_turns") as stack:
        queue = ExtractionQueue(stack.app, idle_seconds=args.idle_seconds)
        graphs = {
            side: create_assistant(stack.service, model=stack.model, checkpointer=stack.saver, extraction=mw)
            for side, mw in (
                ("enabled", ExtractionMiddleware(queue)),
                ("disabled", None),
                # The hook's graph node without the enqueue: splits the node's cost from the queue's.
                ("node_only", ExtractionMiddleware(queue, enabled=False)),
            )
        }
        # Warm-up: pools, plan caches, e5, the model's first calls, both graphs' first runs.
        await run_pairs(graphs, stack, "warm", args.warmup, args.threads)
        workers = {"off": None, "inprocess": inprocess_worker, "process": process_worker}
        for phase in args.phases.split(","):
            start = workers[phase]
            if start is not None:
                await backlog(graphs, phase, args.backlog)
                await asyncio.sleep(args.idle_seconds)  # their debounce has passed: all due at once
            async with start(stack, args) if start else nullcontext():
                if start is not None:
                    await asyncio.sleep(1.0)  # the worker is in full swing
                before = await due_jobs(stack)
                out["load_before"][phase] = load()
                out["phases"][phase] = await run_pairs(graphs, stack, phase, args.pairs, args.threads)
                out["load_after"][phase] = load()
                out["backlog_due"][phase] = (before, await due_jobs(stack))
        out["enqueue"] = await enqueue_parts(stack, queue, args.pairs)
    return out


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"phases": {}}
    base = raw["phases"].get("off")
    for phase, times in raw["phases"].items():
        on, off = times["enabled"], times["disabled"]
        summary["phases"][phase] = {
            "enabled_p50_ms": pct(on, 0.5),
            "enabled_p95_ms": pct(on, 0.95),
            "disabled_p50_ms": pct(off, 0.5),
            "disabled_p95_ms": pct(off, 0.95),
            "p50_ratio": pct(on, 0.5) / pct(off, 0.5),
            "p95_ratio": pct(on, 0.95) / pct(off, 0.95),
            "median_paired_diff_ms": statistics.median(a - b for a, b in zip(on, off, strict=True)) * 1000,
            "node_only_p50_ms": pct(times["node_only"], 0.5),
            "node_only_p50_ratio": pct(times["node_only"], 0.5) / pct(off, 0.5),
            # What the worker's own work does to every turn, extraction on or off.
            "disabled_p50_vs_off": pct(off, 0.5) / pct(base["disabled"], 0.5) if base else None,
        }
    summary["enqueue"] = {
        name: {"p50_ms": pct(v, 0.5), "p95_ms": pct(v, 0.95)} for name, v in raw["enqueue"].items()
    }
    return summary


def report(s: dict[str, Any], raw: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\n{args.pairs} turn pairs per phase over {args.threads} thread pairs, after {args.warmup} warm-up"
        f" pairs; debounce {args.idle_seconds} s; worker concurrency {args.concurrency}"
    )
    print(
        "| worker during the turns | enabled p50 / p95 | disabled p50 / p95 | p50 ratio | p95 ratio"
        " | median paired diff | hook node, no enqueue: p50 (ratio) | disabled p50 vs no worker"
        " | jobs due/running before → after | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    labels = {"off": "none (enqueue only)", "inprocess": "busy, in-process (same event loop)",
              "process": "busy, `brain worker` process"}  # fmt: skip
    for phase, r in s["phases"].items():
        (d0, r0), (d1, r1) = raw["backlog_due"][phase]
        vs = f"{r['disabled_p50_vs_off']:.2f}x" if r["disabled_p50_vs_off"] else "-"
        print(
            f"| {labels[phase]} | {r['enabled_p50_ms']:.1f} / {r['enabled_p95_ms']:.1f} ms"
            f" | {r['disabled_p50_ms']:.1f} / {r['disabled_p95_ms']:.1f} ms"
            f" | {r['p50_ratio']:.3f}x | {r['p95_ratio']:.3f}x | {r['median_paired_diff_ms']:+.2f} ms"
            f" | {r['node_only_p50_ms']:.1f} ms ({r['node_only_p50_ratio']:.3f}x) | {vs}"
            f" | {d0}/{r0} → {d1}/{r1} | {raw['load_before'][phase]:.2f} → {raw['load_after'][phase]:.2f} |"
        )
    print(f"\n| enqueue, timed alone ({args.pairs} each) | p50 | p95 |\n|---|---|---|")
    for name, e in s["enqueue"].items():
        print(f"| {name} | {e['p50_ms']:.2f} ms | {e['p95_ms']:.2f} ms |")
    print(
        f"\ntarget: enabled/disabled ≤ 1.05x. Busy phases start with a backlog of {args.backlog} queued"
        f" threads; jobs still due at the end mean the worker was busy throughout."
        f" Load average (1 min) before → after each phase, {os.cpu_count()} cores."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=200, help="timed turns per graph and phase")
    parser.add_argument("--threads", type=int, default=20, help="thread pairs the turns rotate over")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=300, help="threads queued before each busy phase")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="in-process worker (BRAIN_WORKER_CONCURRENCY)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="debounce (BRAIN_EXTRACTION_IDLE_SECONDS)"
    )
    parser.add_argument("--phases", default="off,inprocess,process", help="worker during the turns")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="also write the summary and raw timings (s) to this file")
    args = parser.parse_args()
    # Each rotation repeats a thread's statements, so extractions drop duplicate upserts with a
    # warning per operation: expected here, and it would bury the figures.
    logging.getLogger("langgraph_brain.extraction").setLevel(logging.ERROR)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-turns-"))
    raw = asyncio.run(measure(args, data_dir))
    summary = summarize(raw)
    report(summary, raw, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "summary": summary, "raw": raw}, indent=2))


if __name__ == "__main__":
    main()

"""Worker throughput with the scripted extractor: a burst of threads, then the worker drains them.

    .venv/bin/python bench/bench_worker.py                       # 200 threads, concurrency 1 and 2
    .venv/bin/python bench/bench_worker.py --threads 40 --concurrency 1 --json /tmp/worker.json

For each worker concurrency, on the real stack (embedded Postgres, Mem0, e5, BrainSaver, a real
procrastinate queue; the scripted chat model, whose extraction rules stand in for an LLM):

1. burst, no worker running: N threads of new users, each with 1-3 turns (FR/ES/EN by thread:
   the seed statement, a preference, a changed employee count) through `create_assistant` with
   `ExtractionMiddleware`, `--parallel` threads at a time. Each turn only enqueues;
2. a worker starts in this process (`start_worker`, as BRAIN_WORKER=inprocess does) and runs
   until every thread's cursor has caught up and no extraction job is left.

Reported: jobs run and jobs/s (first job start to last job end), threads/s, job time p50/p95,
the share of job time outside the model call (job time measured around each job by a
procrastinate worker middleware; model time from each `ExtractionReport`), and the extraction
lag per thread: from the end of its last turn to its cursor's `updated_at` (everything
processed) and to its last `brain_history` row (its memories saved), p50/p95/max, plus the same
from the worker's start (queueing + processing only, without the burst's own duration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.extraction_common import Stack, arows, aturn, load, open_stack, pct, statements
from langgraph_brain.brain import MemoryService
from langgraph_brain.demo import create_assistant
from langgraph_brain.extraction.extractor import (
    ExtractionIdentity,
    ExtractionReport,
    Extractor,
    SourceMessage,
)
from langgraph_brain.extraction.middleware import ExtractionMiddleware
from langgraph_brain.extraction.queue import EXTRACT_TASK, ExtractionQueue
from langgraph_brain.extraction.resources import ExtractionOptions, WorkerResources
from langgraph_brain.extraction.worker import start_worker

OPEN_SQL = """
    SELECT (SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND status IN ('todo', 'doing'))
             AS open,
           (SELECT count(*) FROM brain_extraction_cursors
             WHERE thread_id LIKE %s AND pending_since IS NOT NULL) AS lagging
"""
CURSORS_SQL = """
    SELECT thread_id, extract(epoch FROM updated_at)::float8 AS done
    FROM brain_extraction_cursors WHERE thread_id LIKE %s
"""
HISTORY_SQL = """
    SELECT entity_id, count(*) FILTER (WHERE action = 'create') AS created,
           count(*) FILTER (WHERE action = 'update') AS updated,
           extract(epoch FROM max(created_at))::float8 AS last
    FROM brain_history WHERE scope = 'user' AND entity_id LIKE %s GROUP BY entity_id
"""


class TimedExtractor(Extractor):
    """The real Extractor, keeping each report (model_seconds, total_seconds) for the figures."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[ExtractionReport] = []

    async def arun(
        self,
        service: MemoryService,
        identity: ExtractionIdentity,
        messages: Sequence[SourceMessage],
        *,
        thread_id: str,
    ) -> ExtractionReport:
        report = await super().arun(service, identity, messages, thread_id=thread_id)
        self.reports.append(report)
        return report


def job_timer(log: list[dict[str, Any]]) -> Callable[..., Awaitable[Any]]:
    """A procrastinate worker middleware timing every extraction job from outside."""

    async def middleware(call_next: Callable[[], Awaitable[Any]], context: Any, worker: Any) -> Any:
        start, t0 = time.time(), time.perf_counter()
        result = await call_next()
        if context.job.task_name == EXTRACT_TASK:
            log.append({"start": start, "seconds": time.perf_counter() - t0, "result": result})
        return result

    return middleware


async def burst(graph: Any, tag: str, threads: int, parallel: int) -> dict[str, float]:
    """Run every thread's turns; returns each thread's last turn end (epoch seconds)."""
    ends: dict[str, float] = {}
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> None:
        async with gate:
            for text in statements(i, 1 + i % 3):
                await aturn(graph, f"{tag}-{i}", f"{tag}-user-{i}", text)
            ends[f"{tag}-{i}"] = time.time()

    await asyncio.gather(*(one(i) for i in range(threads)))
    return ends


async def drain(
    stack: Stack, args: argparse.Namespace, concurrency: int, tag: str, threads: int
) -> dict[str, Any]:
    queue = ExtractionQueue(stack.app, idle_seconds=args.idle_seconds)
    graph = create_assistant(
        stack.service, model=stack.model, checkpointer=stack.saver, extraction=ExtractionMiddleware(queue)
    )
    load_before = load()
    t0 = time.perf_counter()
    ends = await burst(graph, tag, threads, args.parallel)
    burst_seconds = time.perf_counter() - t0
    extractor = TimedExtractor(stack.model)
    jobs: list[dict[str, Any]] = []
    resources = WorkerResources(
        service=stack.service,
        saver=stack.saver,
        extractor=extractor,
        options=ExtractionOptions(idle_seconds=args.idle_seconds),
    )
    started = time.time()
    worker = start_worker(
        stack.app,
        resources,
        concurrency=concurrency,
        name=f"bench-worker-{tag}",
        # Scheduled (debounced) jobs are found by polling; procrastinate's 5 s default would
        # dominate a lag measured in seconds. New due jobs arrive by LISTEN/NOTIFY regardless.
        fetch_job_polling_interval=args.poll_seconds,
        worker_middleware=[job_timer(jobs)],
    )
    try:
        deadline = time.monotonic() + args.timeout
        while True:
            row = (await arows(stack.service, OPEN_SQL, EXTRACT_TASK, f"{tag}-%"))[0]
            if row["open"] == 0 and row["lagging"] == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"not drained after {args.timeout} s: {row}")
            await asyncio.sleep(0.2)
    finally:
        await worker.astop()
    load_after = load()
    cursors = {r["thread_id"]: r["done"] for r in await arows(stack.service, CURSORS_SQL, f"{tag}-%")}
    history = {r["entity_id"]: r for r in await arows(stack.service, HISTORY_SQL, f"{tag}-user-%")}
    first = min(j["start"] for j in jobs)
    last = max(j["start"] + j["seconds"] for j in jobs)
    extracting = [j for j in jobs if "report" in j["result"]]
    job_seconds = sum(j["seconds"] for j in extracting)
    model_seconds = sum(r.model_seconds for r in extractor.reports)
    extractor_seconds = sum(r.total_seconds for r in extractor.reports)
    counts: dict[str, int] = {}
    for r in extractor.reports:
        for status, n in r.counts().items():
            counts[status] = counts.get(status, 0) + n
    user = {t: f"{t.rsplit('-', 1)[0]}-user-{t.rsplit('-', 1)[1]}" for t in ends}
    return {
        "concurrency": concurrency,
        "threads": len(ends),
        "turns": sum(1 + i % 3 for i in range(threads)),
        "burst_seconds": burst_seconds,
        "jobs": len(jobs),
        "jobs_extracting": len(extracting),
        "jobs_deferred": sum("deferred" in j["result"] for j in jobs),
        "drain_seconds": last - first,
        "jobs_per_second": len(jobs) / (last - first),
        "threads_per_second": len(ends) / (last - first),
        "job_p50_ms": pct([j["seconds"] for j in extracting], 0.5),
        "job_p95_ms": pct([j["seconds"] for j in extracting], 0.95),
        "outside_model_share": 1 - model_seconds / job_seconds,
        "outside_model_share_of_extractor": 1 - model_seconds / extractor_seconds,
        # Mean ms per extracting job: reading the thread and moving its cursor (the job around the
        # extractor), gathering known memories + applying operations, and the model call.
        "split_ms": [
            1000 * (job_seconds - extractor_seconds) / len(extracting),
            1000 * (extractor_seconds - model_seconds) / len(extracting),
            1000 * model_seconds / len(extracting),
        ],
        "operations": counts,
        "history": {k: sum(int(h[k]) for h in history.values()) for k in ("created", "updated")},
        "users_with_memories": len(history),
        "lag_cursor": [cursors[t] - ends[t] for t in ends],
        "lag_memories": [history[user[t]]["last"] - ends[t] for t in ends if user[t] in history],
        "lag_from_worker_start": [cursors[t] - started for t in ends],
        "load": (load_before, load_after),
    }


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nburst: {args.threads} threads (1-3 turns each, FR/ES/EN), {args.parallel} at a time, no worker;"
        f" then the worker drains. debounce {args.idle_seconds} s, polling {args.poll_seconds} s"
    )
    print(
        "| concurrency | jobs (extracting / deferred) | drain s | jobs/s | threads/s | job p50 / p95"
        " | mean ms: thread I/O + cursor / known + apply / model | outside the model call"
        " | load before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in results:
        print(
            f"| {r['concurrency']} | {r['jobs']} ({r['jobs_extracting']} / {r['jobs_deferred']})"
            f" | {r['drain_seconds']:.1f} | {r['jobs_per_second']:.2f} | {r['threads_per_second']:.2f}"
            f" | {r['job_p50_ms']:.0f} / {r['job_p95_ms']:.0f} ms"
            f" | {' / '.join(f'{x:.0f}' for x in r['split_ms'])}"
            f" | {r['outside_model_share']:.1%} (extractor alone {r['outside_model_share_of_extractor']:.1%})"
            f" | {r['load'][0]:.2f} → {r['load'][1]:.2f} |"
        )
    print(
        "\n| concurrency | lag from last turn: cursor p50 / p95 / max | memories saved p50 / p95 / max"
        " | from worker start p50 / p95 | burst s | memories created / updated |"
    )
    print("|---|---|---|---|---|---|")  # fmt: skip
    for r in results:
        c, m, w = r["lag_cursor"], r["lag_memories"], r["lag_from_worker_start"]
        print(
            f"| {r['concurrency']} | {statistics.median(c):.1f} / {pct(c, 0.95) / 1000:.1f} / {max(c):.1f} s"
            f" | {statistics.median(m):.1f} / {pct(m, 0.95) / 1000:.1f} / {max(m):.1f} s"
            f" | {statistics.median(w):.1f} / {pct(w, 0.95) / 1000:.1f} s | {r['burst_seconds']:.1f}"
            f" | {r['history']['created']} / {r['history']['updated']} ({r['users_with_memories']} users) |"
        )
    print(f"\noperations applied: {[r['operations'] for r in results]}; {os.cpu_count()} cores")


async def run(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    async with open_stack(data_dir, "bench_worker") as stack:
        # Warm-up (untimed): e5, Mem0, plan caches, the graph's and the worker's first runs.
        await drain(stack, args, 1, "warm", 6)
        concurrencies = [int(x) for x in args.concurrency.split(",")]
        return [await drain(stack, args, c, f"c{c}", args.threads) for c in concurrencies]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=200, help="threads in the burst")
    parser.add_argument("--parallel", type=int, default=8, help="threads taking turns at once in the burst")
    parser.add_argument("--concurrency", default="1,2", help="worker concurrencies, one drain each")
    parser.add_argument("--idle-seconds", type=float, default=0.5, help="BRAIN_EXTRACTION_IDLE_SECONDS")
    parser.add_argument("--poll-seconds", type=float, default=0.2, help="worker's fetch polling interval")
    parser.add_argument("--timeout", type=float, default=900, help="give up a drain after this long")
    parser.add_argument("--data-dir", help="embedded Postgres data dir (default: a new temp dir)")
    parser.add_argument("--json", help="also write the figures and raw lags (s) to this file")
    args = parser.parse_args()
    # Repeated statements in one thread make extractions drop duplicate upserts with a warning
    # per operation: expected here, and it would bury the figures.
    logging.getLogger("langgraph_brain.extraction").setLevel(logging.ERROR)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="brain-worker-"))
    results = asyncio.run(run(args, data_dir))
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()

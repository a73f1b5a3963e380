"""One load-test worker process: mixed saves, searches and forgets, with crashes.

Run by tests/test_reliability_load.py and bench/reliability.py, never collected by pytest:

    python tests/reliability_worker.py DATABASE_URL WORKER OPS SEED LOG_PATH

Every acknowledged operation (and every crash) is appended to LOG_PATH as one JSON line,
flushed at once, so the log survives the hard kill at the end. Crashes:

* random: with probability CRASH_RATE an operation's fault hook raises at a random protocol
  step (the operation is then unacknowledged, exactly like a crash of that coroutine);
* hard: the last operation kills the whole process with os._exit(137) at a protocol step
  chosen by the worker number, so across 6 workers every step of save and forget is hit.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")

from langgraph_brain.brain import (
    MemoryBackendError,
    MemoryNotFoundError,
    open_memory_service,
)
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings

POINTS = ("after_row_commit", "after_index_write", "before_mark")
#: Five entities, with the traps: "1" and "12" are prefixes, user "1" and company "1" share an id,
#: and "ana maria" contains a space (Mem0 refuses raw whitespace in its user_id).
ENTITIES: list[tuple[str, str]] = [
    ("user", "1"),
    ("user", "12"),
    ("company", "1"),
    ("company", "acme"),
    ("user", "ana maria"),
]
SLUGS = [f"slug{i:02d}" for i in range(50)]
CRASH_RATE = 0.05
KILL_EXIT_CODE = 137


class SimulatedCrash(BaseException):
    """Raised by the fault hook; BaseException so nothing in the service swallows it."""


def marker(scope: str, entity: str) -> str:
    """A prefix only this entity's contents carry, to spot a leak in any search result."""
    return f"[{scope}|{entity}]"


def hard_kill_plan(worker: int) -> tuple[str, str]:
    """(operation, step) at which this worker's last operation kills the process."""
    return ("save" if worker % 2 == 0 else "forget", POINTS[worker % 3])


async def run(url: str, worker: int, ops: int, seed: int, log_path: str) -> None:
    rng = random.Random(seed * 1000 + worker)
    # Line-buffered and flushed per record: os._exit skips Python's buffers, not the OS's.
    log = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115, ASYNC230

    def emit(**record: Any) -> None:
        log.write(json.dumps({"worker": worker, **record}) + "\n")
        log.flush()

    crash_at: list[str | None] = [None]

    def hook(point: str) -> None:
        if crash_at[0] == point:
            raise SimulatedCrash(point)
        if crash_at[0] == f"kill:{point}":
            emit(kind="killed", point=point)
            os._exit(KILL_EXIT_CODE)

    db = await Database.aopen(url, min_size=1, max_size=3, migrate=False)
    async with open_memory_service(BrainSettings(), database=db) as service:
        service.fault_hook = hook
        for n in range(ops):
            op_id = f"w{worker}-op{n}"
            scope, entity = rng.choice(ENTITIES)
            slug = rng.choice(SLUGS)
            last = n == ops - 1
            roll = rng.random()
            kind = "save" if roll < 0.55 else ("search" if roll < 0.85 else "forget")
            if last:
                kind, point = hard_kill_plan(worker)
                slug = f"kill{worker}"
                if kind == "forget":  # something to forget: an acknowledged save first
                    content = f"{marker(scope, entity)} {op_id} before the kill"
                    saved = await service.asave(
                        scope, entity, slug, content, actor={"thread_id": op_id + "a"}
                    )
                    emit(
                        kind="save",
                        op=op_id + "a",
                        scope=scope,
                        entity=entity,
                        slug=slug,
                        content=content,
                        status=saved.status,
                        version=saved.version,
                    )
                crash_at[0] = f"kill:{point}"
            elif kind != "search" and rng.random() < CRASH_RATE:
                crash_at[0] = rng.choice(POINTS)
            else:
                crash_at[0] = None
            base = {"op": op_id, "scope": scope, "entity": entity, "slug": slug}
            try:
                if kind == "save":
                    content = f"{marker(scope, entity)} {op_id} says {slug} is {rng.randint(0, 10**9)}"
                    saved = await service.asave(scope, entity, slug, content, actor={"thread_id": op_id})
                    emit(kind="save", content=content, status=saved.status, version=saved.version, **base)
                elif kind == "forget":
                    try:
                        await service.aforget(scope, entity, slug, actor={"thread_id": op_id})
                        emit(kind="forget", status="forgotten", **base)
                    except MemoryNotFoundError:
                        emit(kind="forget", status="not_found", **base)
                else:
                    hits = await service.asearch(scope, entity, f"what is {slug}?", k=5)
                    leaks = [h.content[:60] for h in hits if not h.content.startswith(marker(scope, entity))]
                    emit(kind="search", hits=len(hits), leaks=leaks, **base)
            except SimulatedCrash as crash:
                emit(kind="crashed", op_kind=kind, point=str(crash), **base)
            except MemoryBackendError as exc:  # not expected here; recorded, never hidden
                emit(kind="backend_error", op_kind=kind, error=str(exc), **base)
    await db.aclose()
    log.close()


def main() -> None:
    url, worker, ops, seed, log_path = sys.argv[1:6]
    asyncio.run(run(url, int(worker), int(ops), int(seed), log_path))


if __name__ == "__main__":
    main()

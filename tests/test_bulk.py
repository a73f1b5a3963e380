"""Bulk saves (`asave_many`, import): batched, yet the save protocol and I1 hold per memory."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from langgraph_brain.brain import MemoryService
from langgraph_brain.brain.reconcile import acheck_invariant

POINTS = ("after_row_commit", "after_index_write", "before_mark")


def _items(prefix: str, entities: int, per_entity: int) -> list[dict[str, Any]]:
    return [
        {
            "scope": "user" if e % 2 else "company",
            "entity_id": f"{prefix}-{e}",
            "slug": f"fact-{j}",
            "content": f"{prefix} entity {e} fact {j}: the delivery van is serviced every {j + 2} weeks.",
            "category": "fact",
        }
        for e in range(entities)
        for j in range(per_entity)
    ]


async def _state(service: MemoryService, prefix: str) -> dict[str, Any]:
    """Rows per key, row states and Mem0 memories for the entities named `prefix-*`."""
    async with service.admin_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT scope, entity_id, slug, sync_state FROM brain_memories WHERE entity_id LIKE %s",
                (f"{prefix}-%",),
            )
        ).fetchall()
        mem0 = await (
            await conn.execute(
                "SELECT count(*) AS n FROM brain_mem0 WHERE payload->>'entity' LIKE %s", (f"{prefix}-%",)
            )
        ).fetchone()
    keys = [(r["scope"], r["entity_id"], r["slug"]) for r in rows]
    return {
        "rows": len(rows),
        "distinct": len(set(keys)),
        "pending": sum(r["sync_state"] != "synced" for r in rows),
        "mem0": mem0["n"] if mem0 else 0,
    }


async def test_batches_keep_order_statuses_and_history(service: MemoryService) -> None:
    items = _items("order", 2, 3)
    items.append({**items[0], "content": "A later line for the same slug wins."})
    items.append({"scope": "user", "entity_id": "order-1", "slug": "Bad Slug", "content": "x"})
    items.append({"scope": "nobody", "entity_id": "order-1", "slug": "ok", "content": "x"})
    first = await service.asave_many(items)
    assert (first.saved_count, first.failed_count) == (7, 2)
    assert [e["index"] for e in first.errors] == [7, 8]
    assert first.statuses == {"created": 6, "updated": 1}
    record = await service.aget("company", "order-0", "fact-0")
    assert (
        record is not None
        and record.content == "A later line for the same slug wins."
        and record.version == 2
    )
    history = await service.ahistory("company", "order-0", slug="fact-0")
    assert [h.action for h in history] == ["update", "create"]
    again = await service.asave_many(items[:7])  # everything as stored: nothing written
    # Lines for one slug are saved in input order: the first undoes the later one, which redoes it.
    assert again.statuses == {"unchanged": 5, "updated": 2}
    hits = await service.asearch("user", "order-1", "when is the delivery van serviced?", k=3)
    assert {h.slug for h in hits} <= {"fact-0", "fact-1", "fact-2"} and hits
    assert (await acheck_invariant(service)).ok


@pytest.mark.parametrize("point", POINTS)
async def test_a_batch_interrupted_at_each_step_is_finished_by_a_rerun(
    service: MemoryService, point: str
) -> None:
    prefix = f"crash-{point}"
    items = _items(prefix, 3, 10)

    class Crash(BaseException):
        pass

    def hook(at: str) -> None:
        if at == point:
            raise Crash(at)

    service.fault_hook = hook
    try:
        with pytest.raises(Crash):
            await service.asave_many(items, concurrency=3, batch_size=4)
    finally:
        service.fault_hook = None
    crashed = await _state(service, prefix)
    # The crash stops every tenant after the batch it is in: each left its rows pending there.
    assert crashed["pending"] == crashed["rows"] == 12
    rerun = await service.asave_many(items)
    assert rerun.saved_count == 30 and rerun.statuses == {"unchanged": 12, "created": 18}
    assert await _state(service, prefix) == {"rows": 30, "distinct": 30, "pending": 0, "mem0": 30}
    assert (await acheck_invariant(service)).ok


_KILLED_IMPORT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    os.environ["MEM0_TELEMETRY"] = "False"
    from langgraph_brain.brain import open_memory_service
    from langgraph_brain.db import Database
    from langgraph_brain.settings import BrainSettings

    async def main() -> None:
        items = json.loads(sys.stdin.read())
        kill_at = int(sys.argv[2])
        passed = 0
        def hook(point: str) -> None:
            nonlocal passed
            passed += 1
            if passed == kill_at:
                os._exit(137)
        db = await Database.aopen(sys.argv[1])
        async with open_memory_service(BrainSettings(), database=db) as svc:
            svc.fault_hook = hook
            await svc.asave_many(items, concurrency=2)
        os._exit(0)

    asyncio.run(main())
    """
)


async def test_import_killed_at_a_random_point_and_rerun_stores_everything_once(
    service: MemoryService, database_url: str
) -> None:
    items = _items("killed", 4, 12)  # 4 tenants x 12 = 48 memories, batches of up to 64 per tenant
    kill_at = random.Random(os.getpid()).randrange(1, 4 * len(POINTS) + 1)  # one of the 12 steps passed
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _KILLED_IMPORT, database_url, str(kill_at)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 137, proc.stderr[-2000:]
    before = await _state(service, "killed")
    assert before["rows"] > 0 and before["distinct"] == before["rows"]
    rerun = await service.asave_many(items)
    assert rerun.failed_count == 0
    assert rerun.statuses.get("unchanged", 0) == before["rows"]  # what the killed run had stored
    assert rerun.statuses.get("created", 0) == 48 - before["rows"]
    assert await _state(service, "killed") == {"rows": 48, "distinct": 48, "pending": 0, "mem0": 48}
    assert (await acheck_invariant(service)).ok

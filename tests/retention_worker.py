"""One retention run in its own process, killed with os._exit at a protocol step of its first batch.

Run by tests/test_retention.py, never collected by pytest:

    python tests/retention_worker.py DATABASE_URL POINT SCOPE ENTITY

POINT is "after_row_commit", "after_index_write" or "before_mark" (the archive batch's fault
points, `brain.archive`); the process dies there with exit code 137, as a killed worker would,
leaving its first batch (2 rows) half-done. The policy archives every memory of the entity with
importance below 0.6 that is older than, and inactive for, 30 days.
"""

from __future__ import annotations

import asyncio
import os
import sys

os.environ.setdefault("MEM0_TELEMETRY", "False")

from langgraph_brain.brain import open_memory_service
from langgraph_brain.brain.archive import arun
from langgraph_brain.brain.retention import RetentionPolicy
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings

KILL_EXIT_CODE = 137
POLICY = RetentionPolicy(policies=("stale",), age_days=30, inactive_days=30, importance_below=0.6)


async def main(url: str, point: str, scope: str, entity: str) -> None:
    def hook(reached: str) -> None:
        if reached == point:
            os._exit(KILL_EXIT_CODE)

    db = await Database.aopen(url, min_size=1, max_size=3, migrate=False)
    async with open_memory_service(BrainSettings(), database=db) as service:
        service.fault_hook = hook
        await arun(service, POLICY, target=(scope, entity), batch=2)
    await db.aclose()
    sys.exit(3)  # the hook never fired: the test fails on this code


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))

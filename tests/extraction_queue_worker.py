"""One extraction worker process that kills itself with os._exit at a chosen step of a job.

Run by tests/test_extraction_queue.py, never collected by pytest:

    python tests/extraction_queue_worker.py DATABASE_URL STEP

It runs the real procrastinate worker on DATABASE_URL until no job is due. STEP is where the
first job dies, like a process killed by the OOM killer or a lost host (no cleanup, no finally):

* after_read, after_apply, before_cursor (the cursor UPDATE sent, not committed), after_cursor:
  the job's own steps (`WorkerResources.fault_hook`, see langgraph_brain/extraction/jobs.py);
* after_model: the extraction model has answered, nothing is applied yet (a fake chat model:
  the scripted model that kills the process once its answer is computed);
* mid_apply: the second memory's save has written its row and Mem0, before marking it synced
  (`MemoryService.fault_hook`), so the first operation is applied and the others are not.

Exit code 137 when killed at STEP; 3 when no job got there.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from langgraph_brain.brain import open_memory_service
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.db import Database
from langgraph_brain.demo.scripted import ScriptedToolCallingModel
from langgraph_brain.extraction.extractor import Extractor
from langgraph_brain.extraction.queue import create_queue_app
from langgraph_brain.extraction.resources import ExtractionOptions, WorkerResources
from langgraph_brain.extraction.worker import arun_worker
from langgraph_brain.settings import BrainSettings

KILLED = 137
NOT_REACHED = 3
JOB_STEPS = ("after_read", "after_apply", "before_cursor", "after_cursor")
STEPS = ("after_read", "after_model", "mid_apply", "after_apply", "before_cursor", "after_cursor")


class KillAfterAnswerScriptedChatModel(ScriptedToolCallingModel):
    """A fake chat model: computes the scripted model's answer, then kills the process before the
    caller receives it (so the answer is never applied)."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        super()._generate(messages, *args, **kwargs)
        os._exit(KILLED)


def die(step: str) -> None:
    print(f"killed at {step}", flush=True)
    os._exit(KILLED)


async def main(url: str, step: str) -> int:
    if step not in STEPS:
        raise SystemExit(f"unknown step {step!r}; one of {', '.join(STEPS)}")
    db = await Database.aopen(url, min_size=1, max_size=4, migrate=False)
    async with open_memory_service(BrainSettings(), database=db) as service:
        model = KillAfterAnswerScriptedChatModel() if step == "after_model" else ScriptedToolCallingModel()
        saves = {"n": 0}

        def service_hook(point: str) -> None:
            if step == "mid_apply" and point == "before_mark":
                saves["n"] += 1
                if saves["n"] == 2:
                    die(step)

        def job_hook(point: str) -> None:
            if point == step:
                die(step)

        service.fault_hook = service_hook
        resources = WorkerResources(
            service=service,
            saver=BrainSaver(service.pool),
            extractor=Extractor(model),
            options=ExtractionOptions(idle_seconds=0),
            fault_hook=job_hook,
        )
        app = create_queue_app(url)
        async with app.open_async():
            await arun_worker(
                app,
                resources,
                wait=False,
                install_signal_handlers=False,
                heartbeat_seconds=0.5,
                stalled_after=2,
            )
    await db.aclose()
    return NOT_REACHED


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))

"""Background extraction end to end: real embedded Postgres, real Mem0 and e5, the real procrastinate
worker and queue, the scripted model (fixed rules, not an LLM). The only fakes are chat models,
named as such: one that can be switched off (an outage), one that kills its process once it has
answered (in tests/extraction_queue_worker.py).

Covered: a turn only enqueues; debounce (idle and max-pending lanes); two workers never run two
jobs of one thread at once; the worker killed at every step of a job then restarted (no message
skipped, none applied twice, I1); a model outage retried with exponential backoff while the
conversation goes on; `brain extraction status` shows the lag.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from procrastinate import App, JobContext, RetryStrategy
from tests.extraction_queue_worker import KILLED, STEPS

from langgraph_brain.brain import MemoryService
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.demo import create_assistant
from langgraph_brain.demo.scripted import ScriptedToolCallingModel
from langgraph_brain.extraction.extractor import Extractor
from langgraph_brain.extraction.middleware import ExtractionMiddleware
from langgraph_brain.extraction.migrations import aensure_queue_schema
from langgraph_brain.extraction.queue import ExtractionQueue, adefer_extraction, create_queue_app
from langgraph_brain.extraction.resources import ExtractionOptions, WorkerResources
from langgraph_brain.extraction.worker import arecover_stalled, arun_worker

pytestmark = pytest.mark.slow

SEED = "Je suis Ahmed, je gère une boulangerie à Oran avec 5 employés."
SEED_SLUGS = {"user_name", "business_sector", "business_location", "business_employees"}
WORKER_SCRIPT = Path(__file__).with_name("extraction_queue_worker.py")
#: Brain rows the killed job had written when it died, per step (of the four SEED yields).
APPLIED_AT_DEATH = {
    "after_read": 0,
    "after_model": 0,
    "mid_apply": 2,  # the first save done; the second's row committed, pending, never marked synced
    "after_apply": 4,
    "before_cursor": 4,
    "after_cursor": 4,
}


class OutageScriptedChatModel(ScriptedToolCallingModel):
    """A fake chat model: the scripted model, except that it fails like a provider outage while
    `down` is set."""

    down: bool = False
    calls: int = 0

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        if self.down:
            raise ConnectionError("the model provider is unreachable (simulated outage)")
        return super()._generate(messages, *args, **kwargs)


@pytest.fixture(scope="module")
async def saver(service: MemoryService) -> BrainSaver:
    saver = BrainSaver(service.pool)
    await saver.setup()
    async with service.pool.connection() as conn:
        await aensure_queue_schema(conn, migrate=True)
    return saver


@pytest.fixture(autouse=True)
async def empty_queue(saver: BrainSaver, service: MemoryService) -> None:
    """Each test starts with no job and no worker row left by another."""
    async with service.pool.connection() as conn:
        await conn.execute("DELETE FROM procrastinate_jobs")
        await conn.execute("DELETE FROM procrastinate_workers")


@asynccontextmanager
async def open_app(database_url: str) -> AsyncIterator[App]:
    app = create_queue_app(database_url)
    async with app.open_async():
        yield app


def resources(
    service: MemoryService, saver: BrainSaver, model: Any = None, **options: Any
) -> WorkerResources:
    extractor = Extractor(model or ScriptedToolCallingModel())
    return WorkerResources(
        service=service, saver=saver, extractor=extractor, options=ExtractionOptions(**options)
    )


def assistant(service: MemoryService, saver: BrainSaver, queue: ExtractionQueue) -> Any:
    return create_assistant(
        service, model=ScriptedToolCallingModel(), checkpointer=saver, extraction=ExtractionMiddleware(queue)
    )


async def turn(graph: Any, thread: str, user: str, text: str) -> str:
    out = await graph.ainvoke(
        {"messages": [("user", text)]},
        {"configurable": {"thread_id": thread}},
        context={"user_id": user, "company_id": f"co-{user}"},
    )
    return str(out["messages"][-1].text)


async def rows(service: MemoryService, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with service.pool.connection() as conn:
        return list(await (await conn.execute(sql, params)).fetchall())


async def jobs_of(service: MemoryService, thread: str) -> list[dict[str, Any]]:
    return await rows(
        service,
        "SELECT j.id, j.status, j.args, j.lock, j.queueing_lock, j.priority, j.scheduled_at,"
        " (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'deferred')"
        " AS deferred_at FROM procrastinate_jobs j WHERE j.args->>'thread_id' = %s ORDER BY j.id",
        thread,
    )


async def slugs(service: MemoryService, user: str) -> set[str]:
    return {m.slug for m in await service.alist("user", user)}


async def cursor_of(service: MemoryService, thread: str) -> dict[str, Any]:
    found = await rows(service, "SELECT * FROM brain_extraction_cursors WHERE thread_id = %s", thread)
    return found[0]


async def last_position(saver: BrainSaver, thread: str) -> int:
    """Position of the thread's newest message (system messages have none)."""
    return len([m for m in await saver.aget_session(thread) if m.type != "system"]) - 1


async def work(app: App, res: WorkerResources, **options: Any) -> None:
    """Run a worker until no job is due."""
    await arun_worker(
        app, res, wait=False, install_signal_handlers=False, heartbeat_seconds=0.5, stalled_after=2, **options
    )


async def test_a_turn_enqueues_and_returns_then_the_worker_forms_memories(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    async with open_app(database_url) as app:
        graph = assistant(service, saver, ExtractionQueue(app, idle_seconds=0))
        reply = await turn(graph, "t-basic", "ahmed", SEED)
        assert reply
        [job] = await jobs_of(service, "t-basic")
        assert job["status"] == "todo"
        assert job["args"] == {"thread_id": "t-basic", "user_id": "ahmed", "company_id": "co-ahmed"}
        assert job["lock"] == "brain-extract:t-basic"
        assert await slugs(service, "ahmed") == set(), "the turn waited for extraction"
        assert (await cursor_of(service, "t-basic"))["pending_since"] is not None

        await work(app, resources(service, saver, idle_seconds=0))

    assert await slugs(service, "ahmed") == SEED_SLUGS
    history = await service.ahistory("user", "ahmed", "user_name")
    assert [h.actor.get("agent") for h in history] == ["extractor"]
    cursor = await cursor_of(service, "t-basic")
    assert cursor["position"] == 1  # the human message (0) and the reply (1)
    assert cursor["pending_since"] is None and cursor["failures"] == 0
    assert await jobs_of(service, "t-basic") == []  # succeeded jobs are deleted


async def test_debounce_waits_for_an_idle_thread(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    # Wide margins: on a loaded 2-core machine one scripted turn can take over a second, and the
    # third turn must land before the first job is due.
    idle = 6.0
    async with open_app(database_url) as app:
        graph = assistant(service, saver, ExtractionQueue(app, idle_seconds=idle, max_pending=50))
        res = resources(service, saver, idle_seconds=idle, max_pending=50)
        await turn(graph, "t-idle", "ana", "My name is Ana.")
        await turn(graph, "t-idle", "ana", "I live in Lyon.")
        [job] = await jobs_of(service, "t-idle")  # the second turn found the first one's job waiting
        assert job["queueing_lock"] == "brain-extract-idle:t-idle"
        assert job["scheduled_at"] - job["deferred_at"] >= timedelta(seconds=idle - 0.1)
        # When the job falls due, on this process's clock (turns may be slow on a loaded machine).
        due = time.monotonic() + (job["scheduled_at"] - datetime.now(UTC)).total_seconds()

        await work(app, res)  # not due yet
        assert await slugs(service, "ana") == set()

        # A turn shortly before the job is due: when it runs, the thread is not idle yet.
        await asyncio.sleep(max(0.0, due - 3.0 - time.monotonic()))
        await turn(graph, "t-idle", "ana", "I work as a baker.")
        last_turn = time.monotonic()
        await asyncio.sleep(max(0.0, due + 0.2 - time.monotonic()))
        await work(app, res)
        assert await slugs(service, "ana") == set(), "extracted while the thread was still active"
        [again] = [j for j in await jobs_of(service, "t-idle") if j["status"] == "todo"]
        assert again["id"] != job["id"]

        await asyncio.sleep(max(0.0, last_turn + idle + 0.3 - time.monotonic()))
        await work(app, res)
    assert await slugs(service, "ana") == {"user_name", "user_location", "user_job"}
    assert (await cursor_of(service, "t-idle"))["position"] == 5


async def test_max_pending_runs_at_once_despite_a_waiting_idle_job(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    async with open_app(database_url) as app:
        graph = assistant(service, saver, ExtractionQueue(app, idle_seconds=600, max_pending=4))
        await turn(graph, "t-burst", "bo", "My name is Bo.")  # 2 messages pending: idle lane
        await turn(graph, "t-burst", "bo", "I live in Oslo.")  # 4 pending: now lane
        lanes = {j["queueing_lock"]: j for j in await jobs_of(service, "t-burst")}
        assert set(lanes) == {"brain-extract-idle:t-burst", "brain-extract-now:t-burst"}
        assert (
            lanes["brain-extract-now:t-burst"]["priority"] > lanes["brain-extract-idle:t-burst"]["priority"]
        )

        await work(app, resources(service, saver, idle_seconds=600, max_pending=4))
        assert await slugs(service, "bo") == {"user_name", "user_location"}
        [waiting] = await jobs_of(service, "t-burst")
        assert waiting["queueing_lock"] == "brain-extract-idle:t-burst" and waiting["status"] == "todo"


async def test_two_workers_never_run_two_jobs_of_one_thread_at_once(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    spans: list[tuple[str, float, float]] = []

    async def record(next_call: Any, context: JobContext, worker: Any) -> Any:
        # procrastinate's worker middleware wraps each job; the sleep makes every job long
        # enough for an overlap to show if the lock let one happen.
        start = time.monotonic()
        await asyncio.sleep(0.15)
        try:
            return await next_call()
        finally:
            spans.append((context.job.task_kwargs["thread_id"], start, time.monotonic()))

    threads = ["t-lock-a", "t-lock-b"]
    async with open_app(database_url) as app_a, open_app(database_url) as app_b:
        graph = assistant(service, saver, ExtractionQueue(app_a, idle_seconds=0))
        for thread in threads:
            await turn(graph, thread, f"u-{thread}", "My name is Lea.")
        res = resources(service, saver, idle_seconds=0)
        options: dict[str, Any] = {
            "install_signal_handlers": False,
            "worker_middleware": [record],
            "fetch_job_polling_interval": 0.05,
            "concurrency": 3,
        }
        workers = [
            asyncio.create_task(arun_worker(app_a, res, name="a", **options)),
            asyncio.create_task(arun_worker(app_b, res, name="b", **options)),
        ]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # keep both lanes of both threads full
            for thread in threads:
                for lane in ("idle", "now"):
                    await adefer_extraction(
                        app_a, thread_id=thread, user_id=f"u-{thread}", company_id=None, lane=lane
                    )
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    for thread in threads:
        mine = sorted((s, e) for t, s, e in spans if t == thread)
        assert len(mine) >= 5, f"too few jobs ran for {thread}: {len(mine)}"
        overlaps = [(a, b) for a, b in itertools.pairwise(mine) if b[0] < a[1]]
        assert overlaps == [], f"{len(overlaps)} overlapping jobs of {thread}"
    # ...while jobs of different threads did run side by side (the lock is per thread).
    a = [(s, e) for t, s, e in spans if t == threads[0]]
    b = [(s, e) for t, s, e in spans if t == threads[1]]
    assert any(sa < eb and sb < ea for sa, ea in a for sb, eb in b)


async def test_model_outage_retries_with_backoff_and_the_conversation_goes_on(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    model = OutageScriptedChatModel(down=True)
    backoff = RetryStrategy(max_attempts=5, exponential_wait=2)  # 2 s, then 4 s, ...
    res = resources(service, saver, model=model, idle_seconds=0)
    res.options = ExtractionOptions(idle_seconds=0, retry=backoff)
    async with open_app(database_url) as app:
        graph = assistant(service, saver, ExtractionQueue(app, idle_seconds=0))
        await turn(graph, "t-outage", "cy", "My name is Cy.")
        worker = asyncio.create_task(
            arun_worker(app, res, install_signal_handlers=False, fetch_job_polling_interval=0.2)
        )
        try:
            await _until(lambda: _failures(service, "t-outage"), 2, within=20)
            # The conversation does not wait for extraction, nor fail with it.
            started = time.monotonic()
            assert await turn(graph, "t-outage", "cy", "What do you know about me?")
            assert time.monotonic() - started < 5
            jobs = await jobs_of(service, "t-outage")
            assert [j["status"] for j in jobs][:2] == ["failed", "failed"]
            delays = [(j["scheduled_at"] - j["deferred_at"]).total_seconds() for j in jobs[1:3]]
            assert 1.5 < delays[0] < 3.5 and 3.5 < delays[1] < 6, delays  # exponential
            assert await slugs(service, "cy") == set()

            model.down = False
            await _until(lambda: _has_slugs(service, "cy"), True, within=20)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert await slugs(service, "cy") == {"user_name"}
    cursor = await cursor_of(service, "t-outage")
    assert cursor["failures"] == 0 and cursor["position"] == await last_position(saver, "t-outage")


@pytest.mark.parametrize("step", STEPS)
async def test_worker_killed_at_each_step_then_restarted_skips_nothing_and_repeats_nothing(
    service: MemoryService, saver: BrainSaver, database_url: str, step: str
) -> None:
    thread, user = f"t-kill-{step}", f"k-{step}"
    async with open_app(database_url) as app:
        await turn(assistant(service, saver, ExtractionQueue(app, idle_seconds=0)), thread, user, SEED)
    last = await last_position(saver, thread)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER_SCRIPT), database_url, step,
        env={**os.environ, "MEM0_TELEMETRY": "False"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == KILLED, output.decode(errors="replace")[-3000:]
    [job] = await jobs_of(service, thread)
    assert job["status"] == "doing"  # died holding the job and the thread's lock
    saved = await rows(service, "SELECT slug, sync_state FROM brain_memories WHERE entity_id = %s", user)
    assert len(saved) == APPLIED_AT_DEATH[step], saved
    advanced = (await cursor_of(service, thread))["position"]
    assert advanced == (last if step == "after_cursor" else -1)

    # Restart: once the dead worker's heartbeat is stale, its job goes back to the queue.
    await asyncio.sleep(2.5)
    async with open_app(database_url) as app:
        assert await arecover_stalled(app, stalled_after=2) == 1
        await work(app, resources(service, saver, idle_seconds=0))

    assert await slugs(service, user) == SEED_SLUGS, "a message was skipped"
    assert (await cursor_of(service, thread))["position"] == last
    for slug in SEED_SLUGS:
        actions = [h.action for h in await service.ahistory("user", user, slug)]
        assert actions == ["create"], f"{slug} applied more than once: {actions}"
    invariant = await acheck_invariant(service)
    assert invariant.ok, invariant.violations
    assert await jobs_of(service, thread) == []


BRAIN = Path(sys.executable).with_name("brain")


async def brain_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(BRAIN), *args, env=cli_env(database_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return int(proc.returncode or 0), out.decode(), err.decode()


def cli_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "MEM0_TELEMETRY": "False", "BRAIN_MODEL": "scripted"}


async def test_extraction_status_shows_unprocessed_messages_and_the_lag(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    async with open_app(database_url) as app:
        graph = assistant(service, saver, ExtractionQueue(app, idle_seconds=600))
        await turn(graph, "t-lag", "di", "My name is Di.")
        await asyncio.sleep(1.2)
        code, out, err = await brain_cli(database_url, "extraction", "status", "--json", "--thread", "t-lag")
        assert code == 0, err
        status = json.loads(out)
        [thread] = status["threads"]
        assert thread["thread_id"] == "t-lag" and thread["unprocessed"] == 2
        assert thread["lag_seconds"] >= 1.0 and thread["jobs_waiting"] == 1
        assert status["jobs_scheduled"] >= 1 and status["lagging_threads"] >= 1
        assert status["max_lag_seconds"] >= thread["lag_seconds"]

        code, out, err = await brain_cli(database_url, "extraction", "status")
        assert code == 0, err
        assert "t-lag" in out and "threads lagging" in out

        # A worker whose debounce is 0 s takes the thread now.
        await adefer_extraction(app, thread_id="t-lag", user_id="di", company_id=None, lane="now")
        await work(app, resources(service, saver, idle_seconds=0))
        code, out, err = await brain_cli(database_url, "extraction", "status", "--json", "--thread", "t-lag")
    [thread] = json.loads(out)["threads"]
    assert thread["unprocessed"] == 0 and thread["lag_seconds"] is None


async def test_brain_worker_processes_jobs_and_stops_cleanly_on_sigterm(
    service: MemoryService, saver: BrainSaver, database_url: str
) -> None:
    async with open_app(database_url) as app:
        await turn(
            assistant(service, saver, ExtractionQueue(app, idle_seconds=0)), "t-cli", "ed", "My name is Ed."
        )
    env = {**cli_env(database_url), "BRAIN_UPKEEP": "false", "BRAIN_EXTRACTION_IDLE_SECONDS": "0"}
    proc = await asyncio.create_subprocess_exec(
        str(BRAIN), "worker", "--concurrency", "1", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _until(lambda: _has_slugs(service, "ed"), True, within=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert time.monotonic() - started < 15
    assert "brain worker: stopped." in err.decode()
    assert await slugs(service, "ed") == {"user_name"}
    assert await rows(service, "SELECT id FROM procrastinate_workers") == []  # unregistered


async def _failures(service: MemoryService, thread: str) -> int:
    return int((await cursor_of(service, thread))["failures"])


async def _has_slugs(service: MemoryService, user: str) -> bool:
    return bool(await slugs(service, user))


async def _until(probe: Any, expected: Any, *, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if (value >= expected) if isinstance(expected, int) and not isinstance(expected, bool) else value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within}s; last value {value!r}, expected {expected!r}")
        await asyncio.sleep(0.2)

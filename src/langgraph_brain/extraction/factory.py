"""The process-wide queue and in-process worker, built from settings (an edge, like `brain.factory`).

The LangGraph server's graphs, its HTTP app's lifespan and the CLI's chat share one queue App
per process (`get_shared_queue`) and at most one in-process worker (`astart_shared_worker`,
when BRAIN_WORKER=inprocess). `aclose_shared_queue` stops the worker (running jobs get a few
seconds, then hand their thread to a fresh job) and closes the App's pool; the server's
lifespan calls it on shutdown, so SIGTERM still ends the process promptly.

The chat model is an argument: choosing one (and the scripted fallback) is the demo's and the
CLI's business, not this package's.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from procrastinate import App, Blueprint
from psycopg import AsyncConnection

from ..db import resolve_database_url
from ..settings import BrainSettings, get_settings
from .migrations import aensure_queue_schema
from .queue import ExtractionQueue, create_queue_app
from .resources import ExtractionOptions, WorkerResources
from .worker import RunningWorker, start_worker

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from ..brain.service import MemoryService
    from .extractor import Extractor

_shared: dict[str, Any] = {}
_lock: asyncio.Lock | None = None


def extraction_options(settings: BrainSettings) -> ExtractionOptions:
    """The debounce options the settings ask for."""
    return ExtractionOptions(
        idle_seconds=settings.extraction_idle_seconds, max_pending=settings.extraction_max_pending
    )


def create_extractor(model: BaseChatModel, settings: BrainSettings) -> Extractor:
    """An Extractor with the settings' limits (company writes follow the default tool policy)."""
    from .extractor import Extractor

    return Extractor(
        model,
        min_confidence=settings.extraction_min_confidence,
        max_forgets=settings.extraction_max_forgets,
    )


def default_blueprints(settings: BrainSettings) -> tuple[Blueprint, ...]:
    """The other tasks every worker of this package runs: conversation summaries and the
    scheduled upkeep (`extraction.upkeep`, as BRAIN_UPKEEP and the *_CRON settings say)."""
    from .upkeep import UpkeepSchedule, upkeep_blueprint

    return (upkeep_blueprint(UpkeepSchedule.from_settings(settings)),)


async def aopen_queue_app(
    settings: BrainSettings, *, blueprints: tuple[Blueprint, ...] | None = None, url: str | None = None
) -> App:
    """Open a queue App on the settings' database, migrating (BRAIN_AUTO_MIGRATE) or checking
    the extraction schema first. Close it with `await app.close_async()`.

    `blueprints` default to `default_blueprints(settings)`.

    Raises:
        DatabaseNotMigratedError: the schema is behind and may not be migrated here.
    """
    if url is None:
        url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    async with await AsyncConnection.connect(url, autocommit=True, prepare_threshold=None) as conn:
        await aensure_queue_schema(conn, migrate=settings.auto_migrate)
    if blueprints is None:
        blueprints = default_blueprints(settings)
    app = create_queue_app(url, blueprints=blueprints, max_pool_size=settings.worker_concurrency + 2)
    await app.open_async()
    return app


async def get_shared_queue(settings: BrainSettings | None = None) -> ExtractionQueue:
    """The process's enqueue side, on its queue App (opened on first call, with the
    `default_blueprints`); `queue.app` is the App, e.g. for other enqueuers."""
    global _lock
    queue: ExtractionQueue | None = _shared.get("queue")
    if queue is not None:
        return queue
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if "queue" not in _shared:
            s = settings or get_settings()
            app = await aopen_queue_app(s)
            _shared["queue"] = ExtractionQueue(
                app, idle_seconds=s.extraction_idle_seconds, max_pending=s.extraction_max_pending
            )
        queue = _shared["queue"]
        assert queue is not None
        return queue


async def astart_shared_worker(
    service: MemoryService,
    model: BaseChatModel | None,
    settings: BrainSettings | None = None,
) -> RunningWorker | None:
    """Start the process's in-process worker once, if BRAIN_WORKER=inprocess (else None).

    Args:
        service: the process's MemoryService (the worker reads threads on its pool).
        model: the extraction and summary model (BRAIN_EXTRACTION_MODEL or BRAIN_MODEL, chosen by
            the caller); None runs no extraction.
        settings: defaults to the environment's.
    """
    from ..checkpointers.saver import BrainSaver

    s = settings or get_settings()
    if s.worker != "inprocess":
        return None
    queue = await get_shared_queue(s)
    if "worker" in _shared:
        worker: RunningWorker = _shared["worker"]
        return worker
    resources = WorkerResources(
        service=service,
        saver=BrainSaver(service.pool),
        extractor=create_extractor(model, s) if model is not None and s.extraction else None,
        summary_model=model if s.summaries else None,
        options=extraction_options(s),
    )
    worker = _shared["worker"] = start_worker(
        queue.app, resources, concurrency=s.worker_concurrency, name="brain-inprocess"
    )
    return worker


async def aclose_shared_queue() -> None:
    """Stop the in-process worker and close the shared App (server shutdown, tests)."""
    worker: RunningWorker | None = _shared.pop("worker", None)
    queue: ExtractionQueue | None = _shared.pop("queue", None)
    if worker is not None:
        await worker.astop()
    if queue is not None:
        await queue.app.close_async()


__all__ = [
    "aclose_shared_queue",
    "aopen_queue_app",
    "astart_shared_worker",
    "create_extractor",
    "default_blueprints",
    "extraction_options",
    "get_shared_queue",
]

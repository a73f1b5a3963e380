"""Running the queue's jobs: inside the application's process (default) or as `brain worker`.

Both run procrastinate's own worker with this process's `WorkerResources` in every job's context
(`resources.resources_of`). In process (`start_worker`), it is an asyncio task next to the
server's; it installs no signal handlers (the host process owns them) and `RunningWorker.astop`
ends it: no new job starts, running ones get `shutdown_seconds` to finish and are then cancelled
(an extraction job cancelled this way hands its thread to a fresh job, see `jobs`). `brain worker`
(`arun_worker` with signal handlers) stops the same way on Ctrl-C or SIGTERM.

**Stalled jobs.** A worker that dies mid-job (kill -9, a crashed host) leaves its job "doing",
and procrastinate hands a "doing" job to nobody: its thread lock would block the thread for
good. Every worker therefore runs `arecover_stalled` at start and every `stalled_after / 2`
seconds: jobs of workers whose heartbeat is older than `stalled_after` go back to the queue, due
at once. A stalled job whose thread already has another job waiting is closed as failed instead
of re-queued, because re-queueing it would break procrastinate's one-waiting-job rule
(procrastinate#1446); the waiting job covers the same messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from procrastinate import App
from procrastinate.exceptions import ConnectorException, UniqueViolation
from procrastinate.jobs import Status

from .resources import RESOURCES_KEY, WorkerResources

logger = logging.getLogger(__name__)

#: Seconds running jobs get to finish when the worker stops, before they are cancelled.
DEFAULT_SHUTDOWN_SECONDS = 5.0
#: A worker silent for this long is presumed dead (procrastinate's default).
DEFAULT_STALLED_AFTER = 30.0
DEFAULT_HEARTBEAT_SECONDS = 10.0


async def arecover_stalled(app: App, *, stalled_after: float = DEFAULT_STALLED_AFTER) -> int:
    """Hand the jobs of dead workers back to the queue (see the module docstring); returns how many."""
    recovered = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            try:
                await app.job_manager.retry_job(job)
            except UniqueViolation:  # another job of the same thread waits: it covers this one
                await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            recovered += 1
            logger.warning("re-queued job %s (%s) of a worker that stopped responding", job.id, job.task_name)
        except ConnectorException:  # finished by its worker meanwhile, or the database is away
            logger.info("could not recover stalled job %s", job.id, exc_info=True)
    return recovered


async def _recover_forever(app: App, stalled_after: float) -> None:
    while True:
        try:
            await arecover_stalled(app, stalled_after=stalled_after)
        except Exception:  # a database hiccup: try again next round
            logger.warning("stalled-job recovery failed", exc_info=True)
        await asyncio.sleep(max(stalled_after / 2, 0.2))


async def arun_worker(
    app: App,
    resources: WorkerResources,
    *,
    concurrency: int = 2,
    name: str = "brain-worker",
    install_signal_handlers: bool = True,
    shutdown_seconds: float = DEFAULT_SHUTDOWN_SECONDS,
    stalled_after: float = DEFAULT_STALLED_AFTER,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    wait: bool = True,
    **worker_options: Any,
) -> None:
    """Run a worker on an open `app` until it is stopped (signal, cancellation) or, with
    `wait=False`, until no job is due.

    Args:
        app: an open App from `queue.create_queue_app`.
        resources: what the jobs use (service, saver, extractor, options).
        concurrency: jobs run at once (BRAIN_WORKER_CONCURRENCY); one per thread in any case.
        name: shown in logs.
        install_signal_handlers: stop on SIGINT/SIGTERM (a separate worker process); False when
            a host process owns its signals.
        shutdown_seconds: how long running jobs may finish when stopping.
        stalled_after: heartbeat age after which another worker's jobs are recovered.
        heartbeat_seconds: how often this worker proves it is alive (well below `stalled_after`).
        wait: False: return once no job is due (tests, one-shot runs).
        worker_options: other `App.run_worker_async` options (e.g. `fetch_job_polling_interval`).
    """
    if heartbeat_seconds >= stalled_after:
        raise ValueError("heartbeat_seconds must be below stalled_after")
    recovery = asyncio.create_task(_recover_forever(app, stalled_after), name="brain-stalled-jobs")
    try:
        await app.run_worker_async(
            concurrency=concurrency,
            name=name,
            wait=wait,
            install_signal_handlers=install_signal_handlers,
            shutdown_graceful_timeout=shutdown_seconds,
            stalled_worker_timeout=stalled_after,
            update_heartbeat_interval=heartbeat_seconds,
            additional_context={RESOURCES_KEY: resources},
            # Finished jobs are deleted; failed ones stay for `brain extraction status`.
            delete_jobs="successful",
            **worker_options,
        )
    finally:
        recovery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recovery


@dataclass
class RunningWorker:
    """An in-process worker (`start_worker`)."""

    task: asyncio.Task[None]

    async def astop(self) -> None:
        """Stop taking jobs, let running ones finish (bounded), and wait until it has stopped."""
        if self.task.done():
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start_worker(app: App, resources: WorkerResources, **options: Any) -> RunningWorker:
    """Start a worker as a task of the running event loop (BRAIN_WORKER=inprocess).

    Takes `arun_worker`'s options; signal handlers are never installed (the host owns them).
    """
    options["install_signal_handlers"] = False
    task = asyncio.create_task(arun_worker(app, resources, **options), name="brain-inprocess-worker")
    return RunningWorker(task)


__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEFAULT_SHUTDOWN_SECONDS",
    "DEFAULT_STALLED_AFTER",
    "RunningWorker",
    "arecover_stalled",
    "arun_worker",
    "start_worker",
]

"""The job queue: a procrastinate App on the brain's Postgres, and how a turn enqueues extraction.

**Locks.** Every extraction job of a thread carries the procrastinate `lock` "brain-extract:<thread>",
so no two of them run at once across all workers (procrastinate fetches a job only when no job
with its lock is running, and never one queued after another of its lock). Waiting jobs are
limited by `queueing_lock`: at most one per thread and lane, and a second enqueue raises
`AlreadyEnqueued`, which means "already covered".

**Debounce, in two lanes.** After each turn `ExtractionQueue.aenqueue` counts the thread's
unprocessed messages:

* fewer than `max_pending`: the *idle* lane, a job scheduled `idle_seconds` later; if one is
  waiting already, nothing more. When it runs and the thread had a turn less than `idle_seconds`
  ago (its newest checkpoint), it re-schedules itself for `idle_seconds` after that turn and
  ends: extraction runs once a thread has been quiet for `idle_seconds`;
* `max_pending` or more: the *now* lane, a job due at once with a higher priority, so a waiting
  idle job (queued earlier, due later) does not hold it back.

The turn waits only for these two statements (one cursor upsert, one INSERT); never for a job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from procrastinate import App, Blueprint, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from psycopg_pool import AsyncConnectionPool

from .messages import MARK_ENQUEUED_SQL, pending_in_state
from .migrations import check_procrastinate_schema
from .resources import DEFAULT_IDLE_SECONDS, DEFAULT_MAX_PENDING

#: procrastinate queue of extraction jobs (`brain worker --queue` could single it out).
QUEUE = "brain_extraction"
#: Task name, stable across code moves (procrastinate stores it with each job).
EXTRACT_TASK = "langgraph_brain.extract_thread"
#: Namespace under which `create_queue_app` adds other blueprints' tasks.
BLUEPRINT_NAMESPACE = "brain"

Lane = Literal["idle", "now"]
_PRIORITY: dict[str, int] = {"idle": 0, "now": 1}


def thread_lock(thread_id: str) -> str:
    """The procrastinate `lock` every extraction job of `thread_id` holds while it runs."""
    return f"brain-extract:{thread_id}"


def queueing_lock(thread_id: str, lane: Lane) -> str:
    """The `queueing_lock` allowing one waiting job per thread and lane."""
    return f"brain-extract-{lane}:{thread_id}"


class _SharedPoolConnector(PsycopgConnector):
    """procrastinate on a pool the application opened and will close itself."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        super().__init__()
        self._shared_pool = pool

    async def open_async(self, pool: AsyncConnectionPool[Any] | None = None) -> None:
        await super().open_async(pool or self._shared_pool)


def create_queue_app(
    pool_or_conninfo: AsyncConnectionPool[Any] | str,
    *,
    blueprints: Iterable[Blueprint] = (),
    max_pool_size: int = 4,
) -> App:
    """A procrastinate App with the extract_thread task (and `blueprints`' tasks) registered.

    Open it before use (`async with app.open_async(): ...`). The schema comes from
    `brain migrate` or `extraction.migrations.aensure_queue_schema`, never from procrastinate's
    own `schema --apply`.

    Args:
        pool_or_conninfo: a connection string (the app then owns a small pool, and workers get
            notified of new jobs by LISTEN/NOTIFY), or an open pool of the application's (the
            app neither opens nor closes it; workers poll every second, because procrastinate's
            listener cannot open its extra connection from a pool whose connections set
            `autocommit` themselves).
        blueprints: other tasks to run on the same workers (scheduled upkeep), added under the
            namespace "brain".
        max_pool_size: size of the app's own pool (connection string only).

    Raises:
        ProcrastinateSchemaMismatchError: the installed procrastinate expects a newer schema.
    """
    check_procrastinate_schema()
    connector: PsycopgConnector
    defaults: dict[str, Any] = {}
    if isinstance(pool_or_conninfo, str):
        connector = PsycopgConnector(
            conninfo=pool_or_conninfo,
            min_size=1,
            max_size=max_pool_size,
            name="brain-queue",
            # like every pool of ours: safe behind transaction-mode poolers
            kwargs={"prepare_threshold": None},
        )
    else:
        connector = _SharedPoolConnector(pool_or_conninfo)
        defaults = {"listen_notify": False, "fetch_job_polling_interval": 1.0}
    app = App(connector=connector, worker_defaults=defaults)  # type: ignore[arg-type]
    from .jobs import extract_thread

    app.task(name=EXTRACT_TASK, queue=QUEUE, pass_context=True)(extract_thread)
    for blueprint in blueprints:
        app.add_tasks_from(blueprint, namespace=BLUEPRINT_NAMESPACE)
    return app


async def adefer_extraction(
    app: App,
    *,
    thread_id: str,
    user_id: str,
    company_id: str | None,
    lane: Lane,
    at: datetime | None = None,
) -> int | None:
    """Queue an extraction job for the thread; None when one is already waiting in that lane.

    Identity travels as job arguments, resolved by the run that enqueued (the server's
    authentication vouched for it); the model never supplies it.
    """
    deferrer = app.configure_task(
        EXTRACT_TASK,
        lock=thread_lock(thread_id),
        queueing_lock=queueing_lock(thread_id, lane),
        priority=_PRIORITY[lane],
        queue=QUEUE,
        schedule_at=at,
    )
    try:
        return await deferrer.defer_async(thread_id=thread_id, user_id=user_id, company_id=company_id)
    except AlreadyEnqueued:
        return None


@dataclass(frozen=True)
class Enqueued:
    """What one enqueue did: the job id (None: a waiting job already covers the thread), the lane,
    and the unprocessed messages counted (a lower bound)."""

    job_id: int | None
    lane: Lane
    pending: int


class ExtractionQueue:
    """The enqueue side, used after each turn (`ExtractionMiddleware`).

    Args:
        app: an open App from `create_queue_app`.
        idle_seconds: see the module docstring (BRAIN_EXTRACTION_IDLE_SECONDS).
        max_pending: see the module docstring (BRAIN_EXTRACTION_MAX_PENDING).
    """

    def __init__(
        self, app: App, *, idle_seconds: float = DEFAULT_IDLE_SECONDS, max_pending: int = DEFAULT_MAX_PENDING
    ) -> None:
        if idle_seconds < 0 or max_pending < 1:
            raise ValueError("idle_seconds must be >= 0 and max_pending >= 1")
        self.app = app
        self.idle_seconds = idle_seconds
        self.max_pending = max_pending

    async def aenqueue(
        self, thread_id: str, *, user_id: str, company_id: str | None, state_messages: Sequence[BaseMessage]
    ) -> Enqueued:
        """Note the turn on the thread's cursor and queue a job in the lane the backlog calls for."""
        tid = str(thread_id)
        row = await self.app.connector.execute_query_one_async(query=MARK_ENQUEUED_SQL, thread_id=tid)
        pending = pending_in_state(row["message_id"], state_messages)
        lane: Lane = "now" if pending >= self.max_pending else "idle"
        at = None
        if lane == "idle":
            at = datetime.now(UTC) + timedelta(seconds=self.idle_seconds)
        job_id = await adefer_extraction(
            self.app, thread_id=tid, user_id=user_id, company_id=company_id, lane=lane, at=at
        )
        return Enqueued(job_id, lane, pending)


__all__ = [
    "BLUEPRINT_NAMESPACE",
    "EXTRACT_TASK",
    "QUEUE",
    "Enqueued",
    "ExtractionQueue",
    "Lane",
    "adefer_extraction",
    "create_queue_app",
    "queueing_lock",
    "thread_lock",
]

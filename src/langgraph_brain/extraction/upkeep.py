"""Scheduled upkeep and conversation summaries as procrastinate tasks on the brain's queue.

`upkeep_blueprint(schedule)` returns a `Blueprint` for `queue.create_queue_app(...,
blueprints=(...))`. It always holds the `summarize_segment` task (`extraction.summaries`) and,
unless `schedule.enabled` is False (BRAIN_UPKEEP=false, for deployments that run the same
commands from cron), these periodic tasks:

- `upkeep.reconcile`, `*/10 * * * *` (BRAIN_RECONCILE_CRON): `brain reconcile` (pending rows,
  orphans, drift);
- `upkeep.sweep_threads`, `*/5 * * * *` (BRAIN_SWEEP_CRON): deletes threads idle longer than the
  thread TTL; registered only when a TTL is set (BRAIN_THREAD_TTL_DAYS);
- `upkeep.vector_index`, `17 * * * *` (BRAIN_VECTOR_INDEX_CRON): `brain vector-index`;
- `upkeep.consolidate`, `43 3 * * *` (BRAIN_CONSOLIDATE_CRON): `brain consolidate`;
- `upkeep.retention`, `29 4 * * *` (BRAIN_RETENTION_CRON): `brain retention run`; registered only
  when BRAIN_RETENTION_POLICIES names a policy (off by default: archiving takes memories out of
  what agents can find, so a deployment opts in, `extraction.retention`).

**Two workers.** Every worker runs procrastinate's periodic deferrer, but a tick is deferred once:
`procrastinate_periodic_defers` is unique on (task, periodic id, scheduled time), so the second
worker's insert for the same tick does nothing. Each periodic task also carries a `lock` (a run
never overlaps the previous one, e.g. a slow consolidation) and a `queueing_lock` (at most one
run waits; a tick that finds one waiting is skipped). Every task is idempotent, so a run that
repeats one (a recovered stalled job) changes nothing more. They act across tenants, so the
worker's MemoryService must see every tenant (`admin_pool`, the owner role), like the commands;
on a role that row-level security restricts, reconcile, vector_index and consolidate log a warning
and skip (run `brain worker` as the owner, or the commands from cron) rather than fail every tick.
Periodic tasks do not retry: the next tick is the retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter
from procrastinate import Blueprint, JobContext, RetryStrategy

from ..brain.retention import RetentionPolicy
from ..errors import BrainConfigurationError, MemoryBackendError
from .consolidate import DEFAULT_THRESHOLD
from .extractor import ExtractionModelError
from .resources import WorkerResources, resources_of
from .summaries import SUMMARY_TASK, asummarize_segment

if TYPE_CHECKING:
    from ..settings import BrainSettings

logger = logging.getLogger(__name__)

#: procrastinate queue of upkeep and summary jobs.
QUEUE = "brain_upkeep"
#: Periodic task names (under the app's blueprint namespace, e.g. "brain:upkeep.reconcile").
PERIODIC_TASKS = (
    "upkeep.reconcile",
    "upkeep.sweep_threads",
    "upkeep.vector_index",
    "upkeep.consolidate",
    "upkeep.retention",
)

#: A summary whose model or storage failed is retried: 2, 4, ... 64 s.
SUMMARY_RETRY = RetryStrategy(
    max_attempts=6, exponential_wait=2, retry_exceptions=[ExtractionModelError, MemoryBackendError]
)


@dataclass(frozen=True)
class UpkeepSchedule:
    """When the periodic tasks run (cron strings, 5 fields, or 6 with seconds).

    Attributes:
        enabled: False registers no periodic task (BRAIN_UPKEEP=false).
        thread_ttl: threads idle longer are swept; None: no sweep task (BRAIN_THREAD_TTL_DAYS).
        consolidate_threshold: BRAIN_CONSOLIDATE_THRESHOLD.
        vector_index_threshold: BRAIN_VECTOR_INDEX_THRESHOLD.
        retention: the retention policy (BRAIN_RETENTION_*); None, or one with no policy: no task.
    """

    enabled: bool = True
    reconcile_cron: str = "*/10 * * * *"
    sweep_cron: str = "*/5 * * * *"
    vector_index_cron: str = "17 * * * *"
    consolidate_cron: str = "43 3 * * *"
    thread_ttl: timedelta | None = None
    consolidate_threshold: float = DEFAULT_THRESHOLD
    vector_index_threshold: int = 5_000
    retention_cron: str = "29 4 * * *"
    retention: RetentionPolicy | None = None

    def __post_init__(self) -> None:
        for name in (
            "reconcile_cron",
            "sweep_cron",
            "vector_index_cron",
            "consolidate_cron",
            "retention_cron",
        ):
            if not croniter.is_valid(getattr(self, name)):
                raise ValueError(f"{name} is not a valid cron expression: {getattr(self, name)!r}")

    @classmethod
    def from_settings(cls, settings: BrainSettings) -> UpkeepSchedule:
        """The schedule the settings ask for (for the edges that build the queue app)."""
        from .retention import retention_policy

        days = settings.thread_ttl_days
        return cls(
            enabled=settings.upkeep,
            reconcile_cron=settings.reconcile_cron,
            sweep_cron=settings.sweep_cron,
            vector_index_cron=settings.vector_index_cron,
            consolidate_cron=settings.consolidate_cron,
            thread_ttl=timedelta(days=days) if days else None,
            consolidate_threshold=settings.consolidate_threshold,
            vector_index_threshold=settings.vector_index_threshold,
            retention_cron=settings.retention_cron,
            retention=retention_policy(settings) if settings.retention_policies.strip() else None,
        )

    def crons(self) -> dict[str, str]:
        """Periodic task name -> cron, for the tasks this schedule registers."""
        if not self.enabled:
            return {}
        crons = {"upkeep.reconcile": self.reconcile_cron, "upkeep.vector_index": self.vector_index_cron}
        if self.thread_ttl is not None:
            crons["upkeep.sweep_threads"] = self.sweep_cron
        crons["upkeep.consolidate"] = self.consolidate_cron
        if self.retention is not None and self.retention.policies:
            crons["upkeep.retention"] = self.retention_cron
        return crons


async def _askip_unless_owner(resources: WorkerResources, task: str) -> dict[str, Any] | None:
    """None when the worker's service sees every tenant; else a warning and why the task skips."""
    from ..brain.reconcile import aensure_sees_every_tenant

    try:
        await aensure_sees_every_tenant(resources.service)
    except BrainConfigurationError as exc:
        logger.warning("upkeep task %s skipped: %s", task, exc)
        return {"skipped": str(exc)}
    return None


async def arun_reconcile(resources: WorkerResources) -> dict[str, Any]:
    """One reconcile run (the `brain reconcile` body); returns its report."""
    from ..brain.reconcile import areconcile

    if skipped := await _askip_unless_owner(resources, "reconcile"):
        return skipped
    report = await areconcile(resources.service)
    return report.as_dict() | {"changes": report.changes}


async def arun_sweep(resources: WorkerResources, ttl: timedelta) -> dict[str, Any]:
    """Delete threads idle longer than `ttl`; returns their ids."""
    return {"deleted_threads": await resources.saver.asweep_expired(ttl)}


async def arun_vector_index(resources: WorkerResources, threshold: int) -> dict[str, Any]:
    """Build or drop tenants' approximate indexes (the `brain vector-index` body)."""
    from ..brain.vector_indexes import aensure_vector_indexes

    if skipped := await _askip_unless_owner(resources, "vector_index"):
        return skipped
    plan = await aensure_vector_indexes(resources.service.admin_pool, threshold=threshold)
    return dict(plan.__dict__)


async def arun_consolidate(resources: WorkerResources, threshold: float) -> dict[str, Any]:
    """Merge near-duplicate memories of every entity (the `brain consolidate` body)."""
    from .consolidate import aconsolidate

    if skipped := await _askip_unless_owner(resources, "consolidate"):
        return skipped
    report = await aconsolidate(resources.service, threshold=threshold)
    return {"entities_checked": report.entities_checked, "memories_merged": report.memories_merged}


async def arun_retention(
    resources: WorkerResources, policy: RetentionPolicy, consolidate_threshold: float = DEFAULT_THRESHOLD
) -> dict[str, Any]:
    """Merge, archive and purge by `policy` across tenants (the `brain retention run` body)."""
    from .retention import aretain

    if skipped := await _askip_unless_owner(resources, "retention"):
        return skipped
    report = await aretain(resources.service, policy, consolidate_threshold=consolidate_threshold)
    return {k: v for k, v in report.as_dict().items() if k != "examples"}


def upkeep_blueprint(schedule: UpkeepSchedule | None = None) -> Blueprint:
    """The summary task and, as `schedule` asks, the periodic upkeep tasks (module docstring)."""
    schedule = schedule or UpkeepSchedule()
    bp = Blueprint()

    @bp.task(name=SUMMARY_TASK, queue=QUEUE, pass_context=True, retry=SUMMARY_RETRY)
    async def summarize_segment(
        context: JobContext, *, thread_id: str, user_id: str, first_message_id: str, last_message_id: str
    ) -> str | None:
        resources = resources_of(context)
        if resources.summary_model is None:
            logger.info("summaries are off in this worker; segment of %s left unsummarised", thread_id)
            return None
        result = await asummarize_segment(
            resources.service, resources.saver.transcript, resources.summary_model,
            thread_id=thread_id, user_id=user_id,
            first_message_id=first_message_id, last_message_id=last_message_id,
        )  # fmt: skip
        return None if result is None else f"{result.slug}: {result.status}"

    async def reconcile(context: JobContext, timestamp: int) -> dict[str, Any]:
        return await arun_reconcile(resources_of(context))

    async def sweep_threads(context: JobContext, timestamp: int) -> dict[str, Any]:
        assert schedule.thread_ttl is not None  # registered only with a TTL
        return await arun_sweep(resources_of(context), schedule.thread_ttl)

    async def vector_index(context: JobContext, timestamp: int) -> dict[str, Any]:
        return await arun_vector_index(resources_of(context), schedule.vector_index_threshold)

    async def consolidate(context: JobContext, timestamp: int) -> dict[str, Any]:
        return await arun_consolidate(resources_of(context), schedule.consolidate_threshold)

    async def retention(context: JobContext, timestamp: int) -> dict[str, Any]:
        assert schedule.retention is not None  # registered only with a policy
        return await arun_retention(resources_of(context), schedule.retention, schedule.consolidate_threshold)

    bodies = {
        "upkeep.reconcile": reconcile,
        "upkeep.sweep_threads": sweep_threads,
        "upkeep.vector_index": vector_index,
        "upkeep.consolidate": consolidate,
        "upkeep.retention": retention,
    }
    for name, cron in schedule.crons().items():
        lock = f"brain-{name}"
        task = bp.task(name=name, queue=QUEUE, pass_context=True, lock=lock, queueing_lock=lock)(bodies[name])
        bp.periodic(cron=cron)(task)
    return bp


__all__ = [
    "PERIODIC_TASKS",
    "QUEUE",
    "UpkeepSchedule",
    "arun_consolidate",
    "arun_reconcile",
    "arun_retention",
    "arun_sweep",
    "arun_vector_index",
    "upkeep_blueprint",
]

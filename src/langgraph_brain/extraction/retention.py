"""A retention run with merging: consolidate over-budget entities first, then archive and purge.

The brain's retention (`langgraph_brain.brain.archive.arun`) archives by policy; for the
"budget" policy an entity over its budget first gets its near-duplicates merged by consolidation
(`consolidate.aconsolidate`, its guard and threshold), so a merge rather than an archive is what
brings it down where it can. The brain may not import extraction, so the two meet here; the CLI
(`brain retention run`) and the scheduled task (`upkeep.retention`) both call `aretain`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..brain.archive import DEFAULT_BATCH, arun
from ..brain.retention import OVER_BUDGET_SQL, RetentionPolicy, RetentionReport
from ..brain.service import MemoryService
from .consolidate import DEFAULT_THRESHOLD, aconsolidate

if TYPE_CHECKING:
    from ..settings import BrainSettings


def retention_policy(settings: BrainSettings, policies: str | None = None) -> RetentionPolicy:
    """The policy BRAIN_RETENTION_* describe (`policies` overrides BRAIN_RETENTION_POLICIES).

    Raises:
        MemoryValidationError: an unknown policy name, or "budget" without BRAIN_RETENTION_BUDGET.
    """
    return RetentionPolicy(
        policies=settings.retention_policies if policies is None else policies,  # type: ignore[arg-type]
        age_days=settings.retention_age_days,
        inactive_days=settings.retention_inactive_days,
        importance_below=settings.retention_importance,
        protect_importance=settings.retention_protect_importance,
        budget=settings.retention_budget,
        half_life_days=settings.retention_half_life_days,
        purge_days=settings.retention_purge_days,
        merge=settings.retention_merge,
    )


async def aretain(
    service: MemoryService,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    target: tuple[str, str] | None = None,
    consolidate_threshold: float = DEFAULT_THRESHOLD,
    batch: int = DEFAULT_BATCH,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Merge (budget policy, `policy.merge`), then archive and purge; see `brain.archive.arun`.

    Args:
        target: one (scope, entity id) pair; None: every tenant.
        consolidate_threshold: similarity at or above which near-duplicates merge
            (BRAIN_CONSOLIDATE_THRESHOLD).
        on_total / on_progress: told the number of archive candidates, then each batch done.

    Raises:
        BrainConfigurationError: the service cannot see every tenant (run as the owner role).
        MemoryValidationError: bad target.
    """
    report = RetentionReport(dry_run, list(policy.policies))
    if target is not None:
        target = service.normalize(*target)
    if "budget" in policy.policies and policy.merge and service.index.name == "mem0-oss":
        scope, entity = target if target is not None else (None, None)
        async with service.admin_pool.connection() as conn:
            params = {"scope": scope, "entity": entity, "budget": policy.budget}
            over = [
                (r["scope"], r["entity_id"])
                for r in await (await conn.execute(OVER_BUDGET_SQL, params)).fetchall()
            ]
        report.entities_over_budget = len(over)
        if over:
            merged = await aconsolidate(
                service, threshold=consolidate_threshold, dry_run=dry_run, entities=over
            )
            planned = sum(len(p.merged) for p in merged.groups)
            report.merged = planned if dry_run else merged.memories_merged
    return await arun(
        service, policy, dry_run=dry_run, target=target, batch=batch, report=report,
        on_total=on_total, on_progress=on_progress,
    )  # fmt: skip


__all__ = ["aretain", "retention_policy"]

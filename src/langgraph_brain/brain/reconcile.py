"""Restore and check invariant I1 between the brain table and Mem0.

I1: a row with sync_state='synced' exists exactly when one Mem0 memory exists with that
memory_id, the same entity and the same content hash; no Mem0 memory carrying brain metadata
lacks a row. `areconcile` repairs any state a crash can leave; `acheck_invariant` only reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any

from ..db.rls import asees_every_row
from .errors import BrainConfigurationError, MemoryBackendError
from .index import IndexHit, content_hash, entity_key
from .protocol import purge_index, push
from .rows import (
    DELETE_ROW_SQL,
    MARK_REPAIRED_SQL,
    SELECT_ALL_KEYS_SQL,
    SELECT_ALL_ROWS_SQL,
    SELECT_ID_SQL,
    SELECT_ROW_BY_ID_SQL,
    fetchone,
    key_lock,
)
from .service import MemoryService


@dataclass
class ReconcileReport:
    """What reconcile found and did (in dry-run mode: what it would do)."""

    rows_checked: int = 0
    index_memories_checked: int = 0
    already_synced: int = 0
    pushed_pending: int = 0
    recreated_missing: int = 0
    repaired_drift: int = 0
    adopted_orphans: int = 0
    deleted_duplicates: int = 0
    deleted_orphans: int = 0
    finished_forgets: int = 0
    #: Rows or orphan groups that could not be repaired this run (see `errors`); they stay as they
    #: were and the next run retries them.
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changes(self) -> int:
        return (
            self.pushed_pending
            + self.recreated_missing
            + self.repaired_drift
            + self.adopted_orphans
            + self.deleted_duplicates
            + self.deleted_orphans
            + self.finished_forgets
        )


@dataclass
class InvariantReport:
    violations: list[str] = field(default_factory=list)
    rows: int = 0
    index_memories: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


async def aensure_sees_every_tenant(service: MemoryService) -> None:
    """Refuse cross-tenant maintenance on a role that row-level security restricts.

    Without this, reconcile run as the application role would list no brain rows (no tenant is
    set), take every Mem0 memory for an orphan and delete them all, and erase would delete an
    entity's Mem0 memories while its rows stayed behind.

    Raises:
        BrainConfigurationError: `service.admin_pool` cannot see every tenant's rows.
    """
    async with service.admin_pool.connection() as conn:
        for table in ("brain_memories", "brain_history"):
            if not await asees_every_row(conn, table):
                raise BrainConfigurationError(
                    f"this database role cannot see every tenant's rows of {table} (row-level security),"
                    " so cross-tenant maintenance (reconcile, erase, invariant check) would act on a"
                    " partial view. Run it as the owner role that ran the migrations (DATABASE_URL of"
                    " the owner), or pass MemoryService(admin_pool=<owner pool>)."
                )
    # The Mem0 index is under row-level security too (migration v6): an index on the application
    # role would refuse halfway, after erase had already removed the brain rows.
    sees = getattr(service.index, "asees_every_tenant", None)
    if sees is not None and not await sees():
        raise BrainConfigurationError(
            "the Mem0 index connects as a role that row-level security limits to one tenant, so"
            " cross-tenant maintenance (reconcile, erase, invariant check) must run as the owner role"
            " that ran the migrations (DATABASE_URL of the owner)."
        )


def _drifted(row: dict[str, Any], hit: IndexHit) -> bool:
    meta = hit.metadata
    return (
        content_hash(hit.content) != row["content_hash"]
        or meta.get("user_id") != entity_key(row["scope"], row["entity_id"])
        or meta.get("brain_id") != str(row["id"])
        or meta.get("category") != row["category"]
    )


async def acheck_invariant(service: MemoryService) -> InvariantReport:
    """Report every I1 violation. Read-only; run it when no saves are in flight."""
    await aensure_sees_every_tenant(service)
    hits = await service.index.alist()
    by_id = {h.memory_id: h for h in hits}
    by_brain: dict[int | None, list[IndexHit]] = defaultdict(list)
    for h in hits:
        by_brain[h.brain_id].append(h)
    report = InvariantReport(index_memories=len(hits))
    async with service.admin_pool.connection() as conn:
        rows = await (await conn.execute(SELECT_ALL_ROWS_SQL)).fetchall()
    report.rows = len(rows)
    row_ids = set()
    for row in rows:
        row_ids.add(row["id"])
        tagged = by_brain.get(row["id"], [])
        where = f"{row['scope']}:{row['entity_id']}/{row['slug']}"
        if row["sync_state"] != "synced":
            report.violations.append(f"{where}: row is {row['sync_state']}")
            continue
        hit = by_id.get(row["memory_id"])
        if hit is None:
            report.violations.append(f"{where}: synced row points at missing Mem0 memory {row['memory_id']}")
        elif _drifted(row, hit):
            report.violations.append(f"{where}: Mem0 memory {hit.memory_id} differs from the row")
        extras = [h.memory_id for h in tagged if h.memory_id != row["memory_id"]]
        if extras:
            report.violations.append(f"{where}: duplicate Mem0 memories {extras}")
    for h in hits:
        if h.brain_id not in row_ids:
            report.violations.append(f"Mem0 memory {h.memory_id} (brain_id {h.brain_id}) has no brain row")
    return report


async def areconcile(
    service: MemoryService,
    *,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Bring Mem0 back to a 1:1 copy of the brain. Safe to run while agents are saving.

    Each repair re-reads its row, and Mem0's copies of it, under the same per-key advisory lock
    that saves and forgets take, so a save in flight is either finished before the repair looks
    or starts after it. Run it after a crash, an outage or a restore; running it twice in a row
    changes nothing the second time.

    Args:
        service: the service whose brain and index to reconcile; cross-tenant reads use its
            `admin_pool` (the owner role when row-level security is on).
        dry_run: only count what would be repaired; nothing is written anywhere.
        on_progress: called with 1 after each brain row and each orphan group is handled.
        on_total: called once, before any progress, with the number of progress steps.

    Returns:
        The counts of what was checked and repaired (or would be, in dry-run mode).
    """
    await aensure_sees_every_tenant(service)
    report = ReconcileReport(dry_run=dry_run)
    hits = await service.index.alist()
    report.index_memories_checked = len(hits)
    by_brain: dict[int | None, list[IndexHit]] = defaultdict(list)
    for h in hits:
        by_brain[h.brain_id].append(h)
    async with service.admin_pool.connection() as conn:
        keys = await (await conn.execute(SELECT_ALL_KEYS_SQL)).fetchall()
    row_ids = {k["id"] for k in keys}
    # Memories whose brain_id names a listed row are re-read under that row's lock below; only the
    # rest are orphan candidates. Counting them up front keeps the progress total exact.
    orphan_groups = {b: group for b, group in by_brain.items() if b not in row_ids}
    if on_total is not None:
        on_total(len(keys) + len(orphan_groups))
    streak = 0  # consecutive failures: a handful in a row means a service is down, not bad data
    for key in keys:
        where = f"{key['scope']}:{key['entity_id']}/{key['slug']}"
        streak = _tally(report, where, streak, await _attempt(_reconcile_row(service, key, report, dry_run)))
        if on_progress is not None:
            on_progress(1)
    for brain_id, orphans in orphan_groups.items():
        where = f"Mem0 orphans of brain_id {brain_id}"
        job = _reconcile_orphans(service, brain_id, orphans, report, dry_run)
        streak = _tally(report, where, streak, await _attempt(job))
        if on_progress is not None:
            on_progress(1)
    return report


_MAX_FAILURE_STREAK = 3


async def _attempt(job: Coroutine[Any, Any, None]) -> Exception | None:
    """Run one repair; return its error instead of raising, so one bad row (e.g. content Mem0
    refuses) cannot stop the repair of every row after it."""
    try:
        await job
    except BrainConfigurationError:
        raise
    except Exception as exc:
        return exc
    return None


def _tally(report: ReconcileReport, where: str, streak: int, error: Exception | None) -> int:
    if error is None:
        return 0
    report.failed += 1
    report.errors.append(f"{where}: {type(error).__name__}: {error}"[:500])
    if streak + 1 >= _MAX_FAILURE_STREAK:
        raise MemoryBackendError(
            f"reconcile stopped after {streak + 1} failures in a row (last: {report.errors[-1]});"
            " Postgres or Mem0 is probably unavailable. Nothing was left half-done; run it again later."
        ) from error
    return streak + 1


def _belongs_to(row: dict[str, Any], hit: IndexHit) -> bool:
    """Whether a Mem0 memory sits under the row's entity. Mem0's update keeps the `user_id` it
    was added with, so a memory filed under another entity can never be repaired in place: it
    is deleted and the row's content re-added under the right entity."""
    return hit.metadata.get("user_id") == entity_key(row["scope"], row["entity_id"])


async def _reconcile_row(
    service: MemoryService,
    key: dict[str, Any],
    report: ReconcileReport,
    dry_run: bool,
) -> None:
    report.rows_checked += 1
    async with key_lock(service.admin_pool, key["scope"], key["entity_id"], key["slug"]) as conn:
        row = await fetchone(conn, SELECT_ROW_BY_ID_SQL, (key["id"],))
        if row is None:
            return  # forgotten since the listing; its Mem0 copies are handled as orphans next run
        if row["sync_state"] == "deleting":
            # A forget that crashed after marking the row: finish it (Mem0 first, row last, so a
            # crash here leaves a row that the next run finishes again).
            report.finished_forgets += 1
            if not dry_run:
                await purge_index(service, row)
                await conn.execute(DELETE_ROW_SQL, (row["id"],))
            return
        # Re-read Mem0 for this row now that we hold the lock: the listing may be stale.
        tagged = await service.index.alist(brain_id=int(row["id"]))
        current = await service.index.aget(row["memory_id"]) if row["memory_id"] else None
        foreign = [h for h in tagged if not _belongs_to(row, h)]
        if current is not None and not _belongs_to(row, current):
            foreign.append(current)
            current = None
        own = [h for h in tagged if _belongs_to(row, h)]
        keeper = current or (own[0] if own else None)
        duplicates = [h for h in own if keeper is None or h.memory_id != keeper.memory_id]
        seen_foreign = {h.memory_id for h in foreign}
        report.deleted_duplicates += len(duplicates)
        report.deleted_orphans += len(seen_foreign)
        if not dry_run:
            for extra in [*duplicates, *foreign]:
                await service.index.adelete(extra.memory_id)
        if keeper is None:
            action = "recreated_missing"
        elif current is None:
            action = "adopted_orphans"
        elif _drifted(row, keeper):
            action = "repaired_drift"
        elif row["sync_state"] == "pending":
            action = "pushed_pending"
        else:
            report.already_synced += 1
            return
        if dry_run:
            setattr(report, action, getattr(report, action) + 1)
            return
        # Point the row at the memory we keep (or at none, so that `push` adds a fresh one) before
        # pushing; a stale memory_id of a deleted foreign memory would otherwise be "updated".
        row["memory_id"] = keeper.memory_id if keeper is not None else None
        memory_id = await push(service, row)
        await conn.execute(MARK_REPAIRED_SQL, (memory_id, row["id"], row["version"]))
        # Counted only once done, so that a failed repair shows in `failed` and nowhere else.
        setattr(report, action, getattr(report, action) + 1)


async def _reconcile_orphans(
    service: MemoryService,
    brain_id: int | None,
    orphans: list[IndexHit],
    report: ReconcileReport,
    dry_run: bool,
) -> None:
    """Mem0 memories tagged with a brain_id that has no row: delete them, unless a save created
    that row after our listing (checked under the row's key lock)."""
    for orphan in orphans:
        meta = orphan.metadata
        scope, entity, slug = str(meta.get("scope")), str(meta.get("entity")), str(meta.get("slug"))
        async with key_lock(service.admin_pool, scope, entity, slug) as conn:
            row = None
            if brain_id is not None:
                row = await fetchone(conn, SELECT_ID_SQL, (brain_id,))
            if row is not None:
                continue  # its row appeared after the listing; the next run checks it as a row
            if dry_run or await service.index.adelete(orphan.memory_id):
                report.deleted_orphans += 1

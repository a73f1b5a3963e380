"""Archiving and purging, in batches across tenants, with invariant I1 held at every step.

Per batch of candidates (`retention.CANDIDATES_SQL`), on one admin connection:

1. take each key's advisory lock (the one saves and forgets take, `rows.key_lock`) with
   `pg_try_advisory_lock`: a key that is busy is skipped, left for the next run;
2. in one transaction: copy each row into `brain_archive`, mark it `deleting` (version+1) and
   append a brain_history `archive` entry (no new content: as-of reads treat the slug as absent
   from then on), re-checking under the row lock that the row is still synced, unchanged since
   selection and not protected;
3. remove the rows' Mem0 memories (and any orphan tagged with their brain ids): one DELETE on
   Mem0 OSS's collection, which lives in this database; memory by memory on another index;
4. delete the rows, then release the locks.

A crash after step 2 leaves rows `deleting` with their archive copy: hidden from search and
reads, as after a crashed forget. The next retention run finishes them first (`afinish`), and
`reconcile` finishes them like any interrupted forget; nothing is archived twice (only synced
rows are candidates) and nothing is lost (the copy committed with the mark). The fault hook
(`MemoryService.fault_hook`) is called at "after_row_commit", "after_index_write" and
"before_mark" of each batch, like the save protocol's.

Purge deletes archive rows older than the purge period, in batches, each with a brain_history
`purge` entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .mem0_payload import COLLECTION
from .models import Actor
from .protocol import fault, purge_index
from .reconcile import aensure_sees_every_tenant
from .retention import CANDIDATES_SQL, PROTECTED_SQL, RetentionPolicy, RetentionReport
from .service import MemoryService

#: Rows archived per batch: the advisory locks of one batch are held together (Postgres' shared
#: lock table has max_locks_per_transaction x max_connections slots, 6,400 by default).
DEFAULT_BATCH = 500
ACTOR: Actor = {"agent": "retention"}

_KEY_TEXT = "c.scope || chr(31) || c.entity_id || chr(31) || c.slug"
# Step 1. In the select list of a bare unnest, every key is tried exactly once (a lock function in
# a WHERE clause may run for rows a later filter drops, and those locks would leak).
TRY_LOCK_SQL = (
    f"SELECT c.id, pg_try_advisory_lock(hashtextextended({_KEY_TEXT}, 0)) AS locked"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS c(id, scope, entity_id, slug)"
)
UNLOCK_SQL = (
    f"SELECT count(*) FILTER (WHERE pg_advisory_unlock(hashtextextended({_KEY_TEXT}, 0))) AS unlocked"
    " FROM unnest(%s::text[], %s::text[], %s::text[]) AS c(scope, entity_id, slug)"
)

# Step 2, one statement: the rows as they are (locked), their mark, their copy and their history.
# A key archived before (re-created since) gets its archive copy replaced; the old text stays in
# brain_history.
MARK_ARCHIVED_SQL = f"""
WITH c AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(versions)s::int[], %(policies)s::text[], %(reasons)s::text[])
        AS c(id, version, policy, reason)
), old AS (
    SELECT m.id, m.scope, m.entity_id, m.slug, m.content, m.category, m.metadata, m.version,
           m.importance, m.created_at, m.updated_at, c.policy, c.reason,
           coalesce(a.access_count, 0) AS access_count, a.last_accessed_at
    FROM brain_memories AS m JOIN c ON c.id = m.id AND c.version = m.version
    LEFT JOIN brain_memory_access AS a ON a.brain_id = m.id
    WHERE m.sync_state = 'synced' AND NOT {PROTECTED_SQL}
    FOR UPDATE OF m
), marked AS (
    UPDATE brain_memories AS m SET sync_state = 'deleting', version = m.version + 1
    FROM old WHERE m.id = old.id
    RETURNING m.id, m.scope, m.entity_id, m.slug, m.version, m.memory_id::text AS memory_id, old.policy
), copied AS (
    INSERT INTO brain_archive (brain_id, scope, entity_id, slug, content, category, metadata, version,
        importance, access_count, last_accessed_at, created_at, updated_at, policy, reason)
    SELECT id, scope, entity_id, slug, content, category, metadata, version, importance, access_count,
        last_accessed_at, created_at, updated_at, policy, reason FROM old
    ON CONFLICT (scope, entity_id, slug) DO UPDATE SET brain_id = EXCLUDED.brain_id,
        content = EXCLUDED.content, category = EXCLUDED.category, metadata = EXCLUDED.metadata,
        version = EXCLUDED.version, importance = EXCLUDED.importance,
        access_count = EXCLUDED.access_count, last_accessed_at = EXCLUDED.last_accessed_at,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, archived_at = now(),
        policy = EXCLUDED.policy, reason = EXCLUDED.reason
), logged AS (
    INSERT INTO brain_history (brain_id, scope, entity_id, slug, action, old_content, new_content,
        category, version, actor, reason)
    SELECT id, scope, entity_id, slug, 'archive', content, NULL, category, version + 1, %(actor)s, reason
    FROM old
)
SELECT * FROM marked
"""
# Archives a crashed run left half-done: rows still 'deleting' whose archive copy names them.
LEFTOVERS_SQL = """
SELECT m.id, m.scope, m.entity_id, m.slug, m.version, m.memory_id::text AS memory_id
FROM brain_memories AS m JOIN brain_archive AS a
  ON a.scope = m.scope AND a.entity_id = m.entity_id AND a.slug = m.slug AND a.brain_id = m.id
WHERE m.sync_state = 'deleting' ORDER BY m.id
"""
# Step 3 on Mem0 OSS: by Mem0 id (primary key) or by brain_id tag (its expression index).
DELETE_INDEX_SQL = (
    f"DELETE FROM {COLLECTION} WHERE id = ANY(%s::uuid[]) OR payload->>'brain_id' = ANY(%s::text[])"
).encode()
# Step 4: only the version that was marked (a save that revived the row since has moved it on).
DELETE_MARKED_MANY_SQL = (
    "DELETE FROM brain_memories AS m USING unnest(%s::bigint[], %s::int[]) AS d(id, version)"
    " WHERE m.id = d.id AND m.version = d.version AND m.sync_state = 'deleting'"
)

# Purge: archive copies past the period, with a `purge` history entry each. When the key is live
# again (re-created after the archive), the entry carries the live text, so that as-of reads
# after the purge still see the live memory; otherwise none (absent, as after a forget).
DUE_SQL = (
    "SELECT id FROM brain_archive WHERE archived_at < now() - make_interval(secs => %s)"
    " AND (%s::text IS NULL OR (scope = %s AND entity_id = %s)) ORDER BY id"
)
PURGE_SQL = """
WITH gone AS (
    DELETE FROM brain_archive WHERE id = ANY(%(ids)s::bigint[])
        AND archived_at < now() - make_interval(secs => %(after)s)
    RETURNING brain_id, scope, entity_id, slug, category, version, archived_at
)
INSERT INTO brain_history (brain_id, scope, entity_id, slug, action, old_content, new_content, category,
    version, actor, reason)
SELECT g.brain_id, g.scope, g.entity_id, g.slug, 'purge', NULL, live.content, g.category, g.version,
       %(actor)s, 'retention purge: archived ' || to_char(g.archived_at, 'YYYY-MM-DD')
FROM gone AS g LEFT JOIN brain_memories AS live
  ON live.scope = g.scope AND live.entity_id = g.entity_id AND live.slug = g.slug
 AND live.sync_state <> 'deleting'
"""


def _keys(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    return [r["scope"] for r in rows], [r["entity_id"] for r in rows], [r["slug"] for r in rows]


async def _alock(conn: AsyncConnection[Any], rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Step 1: the rows whose key lock this session now holds (the others are busy)."""
    cur = await conn.execute(TRY_LOCK_SQL, ([r["id"] for r in rows], *_keys(rows)))
    locked = {r["id"] for r in await cur.fetchall() if r["locked"]}
    return [r for r in rows if r["id"] in locked]


async def _aunlock(conn: AsyncConnection[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await conn.execute(UNLOCK_SQL, _keys(rows))


async def _aremove(service: MemoryService, conn: AsyncConnection[Any], marked: list[dict[str, Any]]) -> None:
    """Steps 3 and 4 for rows marked `deleting` whose locks `conn` holds."""
    await fault(service, "after_row_commit")
    if service.index.name == "mem0-oss":
        memory_ids = [r["memory_id"] for r in marked if r["memory_id"]]
        await conn.execute(DELETE_INDEX_SQL, (memory_ids, [str(r["id"]) for r in marked]))
    else:
        for row in marked:
            await purge_index(service, row)
    await fault(service, "after_index_write")
    await fault(service, "before_mark")
    await conn.execute(DELETE_MARKED_MANY_SQL, ([r["id"] for r in marked], [r["version"] for r in marked]))


async def aarchive_batch(
    service: MemoryService,
    conn: AsyncConnection[Any],
    rows: Sequence[Mapping[str, Any]],
    policy: RetentionPolicy,
) -> list[dict[str, Any]]:
    """Archive one batch of candidates (steps 1-4) on `conn`, an admin connection in autocommit.

    Returns the rows archived (each with its policy); the others were busy or changed.
    """
    locked = await _alock(conn, rows)
    try:
        if not locked:
            return []
        params = {
            "ids": [r["id"] for r in locked],
            "versions": [r["version"] for r in locked],
            "policies": [r["policy"] for r in locked],
            "reasons": [policy.reason(r["policy"]) for r in locked],
            "protect": policy.protect_importance,
            "actor": Jsonb(dict(ACTOR)),
        }
        async with conn.transaction():
            marked: list[dict[str, Any]] = await (await conn.execute(MARK_ARCHIVED_SQL, params)).fetchall()
        if marked:
            await _aremove(service, conn, marked)
        return marked
    finally:
        await _aunlock(conn, locked)


async def afinish(service: MemoryService, conn: AsyncConnection[Any], batch: int = DEFAULT_BATCH) -> int:
    """Finish the archives a crashed run left half-done (steps 3-4); returns how many."""
    rows = await (await conn.execute(LEFTOVERS_SQL)).fetchall()
    done = 0
    for start in range(0, len(rows), batch):
        locked = await _alock(conn, rows[start : start + batch])
        try:
            if locked:
                await _aremove(service, conn, [dict(r) for r in locked])
                done += len(locked)
        finally:
            await _aunlock(conn, locked)
    return done


async def apurge(
    conn: AsyncConnection[Any],
    purge_days: float,
    *,
    target: tuple[str, str] | None = None,
    dry_run: bool = False,
    batch: int = 5_000,
) -> int:
    """Delete archive copies older than `purge_days` (0: never); returns how many (or are due)."""
    if purge_days <= 0:
        return 0
    scope, entity = target if target is not None else (None, None)
    after = purge_days * 86_400
    ids = [r["id"] for r in await (await conn.execute(DUE_SQL, (after, scope, scope, entity))).fetchall()]
    if dry_run:
        return len(ids)
    purged = 0
    for start in range(0, len(ids), batch):
        params = {"ids": ids[start : start + batch], "after": after, "actor": Jsonb(dict(ACTOR))}
        async with conn.transaction():
            purged += max((await conn.execute(PURGE_SQL, params)).rowcount, 0)
    return purged


async def aarchive_all(
    service: MemoryService,
    conn: AsyncConnection[Any],
    candidates: Sequence[Mapping[str, Any]],
    policy: RetentionPolicy,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Archive `candidates` batch by batch; returns the count archived per policy."""
    archived: dict[str, int] = {}
    for start in range(0, len(candidates), batch):
        chunk = candidates[start : start + batch]
        for row in await aarchive_batch(service, conn, chunk, policy):
            archived[row["policy"]] = archived.get(row["policy"], 0) + 1
        if on_progress is not None:
            on_progress(len(chunk))
    return archived


async def arun(
    service: MemoryService,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    target: tuple[str, str] | None = None,
    batch: int = DEFAULT_BATCH,
    report: RetentionReport | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """One retention run over every tenant (or `target`, a (scope, entity id) pair): finish what a
    crashed run left, archive the policies' candidates in batches, purge expired archive copies.

    Runs on `service.admin_pool` (the owner role). Idempotent: a second run right after archives
    nothing more. With `dry_run`, counts only; nothing is written anywhere.

    Raises:
        BrainConfigurationError: the admin pool or the index cannot see every tenant.
        MemoryValidationError: bad scope or entity id in `target`.
    """
    started = time.perf_counter()
    if target is not None:
        target = service.normalize(*target)
    await aensure_sees_every_tenant(service)
    report = report or RetentionReport(dry_run, list(policy.policies))
    async with service.admin_pool.connection() as conn:
        if dry_run:
            report.finished = len(await (await conn.execute(LEFTOVERS_SQL)).fetchall())
        else:
            report.finished = await afinish(service, conn, batch)
        candidates: list[dict[str, Any]] = []
        if policy.policies:
            candidates = await (await conn.execute(CANDIDATES_SQL, policy.params(target))).fetchall()
        report.count_candidates(candidates)
        if on_total is not None:
            on_total(len(candidates))
        if not dry_run:
            done = await aarchive_all(service, conn, candidates, policy, batch=batch, on_progress=on_progress)
            report.archived = done
            report.skipped = len(candidates) - sum(done.values())
        report.purged = await apurge(conn, policy.purge_days, target=target, dry_run=dry_run)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


__all__ = [
    "ACTOR",
    "DEFAULT_BATCH",
    "MARK_ARCHIVED_SQL",
    "aarchive_all",
    "aarchive_batch",
    "afinish",
    "apurge",
    "arun",
]

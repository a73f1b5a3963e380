"""Saving many memories at once: the save protocol per memory, the round trips per batch.

`asave_many` validates every item first (a bad one is reported by its index and never stops
the others), groups the rest by tenant, and saves each tenant's items in batches. A batch runs
the save protocol's steps for all of its memories together:

  1. the key locks of every slug in the batch, taken in sorted order (two batches can never
     wait on each other in a cycle), on one connection in pipeline mode;
  2. one transaction: the rows read FOR UPDATE, each decided by `protocol.plan_save`, every
     write and its history entry sent together, one COMMIT (rows are `pending` from here);
  3. new memories embedded in one engine call and added to Mem0 in one statement; updated ones
     pushed one by one (`protocol.push`, which also adopts orphans of an interrupted run);
  4. one transaction marking every pushed version `synced`; then the locks are released.

So I1 holds per memory exactly as for `MemoryService.asave`: a crash anywhere leaves pending rows
(and perhaps Mem0 orphans tagged with their brain_id) that a re-run or `reconcile` finishes, and
a re-run reports memories already stored as "unchanged". Items for the same slug are saved in
input order (a later one is deferred to a later batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.store.base import NOT_PROVIDED, NotProvided

from ..db.pool import ASYNC_COMMIT_SQL
from ..db.rls import apipelined
from .errors import BrainError
from .index import entity_key
from .models import Actor, SaveManyResult
from .protocol import SAVE_FAILED_TEMPLATE, SavePlan, fault, index_metadata, plan_save, push, storage_errors
from .rows import KEY_LOCK_SQL, KEY_UNLOCK_SQL, MARK_SYNCED_SQL, ROW_COLUMNS
from .validation import Scope, validate_category, validate_content, validate_metadata, validate_slug

if TYPE_CHECKING:
    from .service import MemoryService

DEFAULT_BATCH_SIZE = 64
SELECT_ROWS_FOR_UPDATE_SQL = (
    f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s AND slug = ANY(%s)"
    " ORDER BY slug FOR UPDATE"
).encode()


@dataclass(frozen=True)
class _Item:
    index: int
    scope: Scope
    entity: str
    slug: str
    content: str
    category: str | NotProvided
    metadata: dict[str, Any] | NotProvided


def _prepare(service: MemoryService, index: int, raw: Mapping[str, Any]) -> _Item:
    """Validate one item exactly as `MemoryService.asave` validates its arguments."""
    scope, entity = service.normalize(str(raw.get("scope", "")), raw.get("entity_id"))
    category = raw.get("category", NOT_PROVIDED)
    metadata = raw.get("metadata", NOT_PROVIDED)
    return _Item(
        index,
        scope,
        entity,
        validate_slug(raw.get("slug")),
        validate_content(raw.get("content"), max_chars=service.max_content_chars),
        category if isinstance(category, NotProvided) else validate_category(category, scope),
        metadata if isinstance(metadata, NotProvided) else validate_metadata(metadata),
    )


def _batches(items: list[_Item], size: int) -> list[list[_Item]]:
    """Consecutive batches of at most `size`, never two items for one slug in the same batch."""
    out: list[list[_Item]] = []
    current: list[_Item] = []
    slugs: set[str] = set()
    for item in items:
        if len(current) >= size or item.slug in slugs:
            out.append(current)
            current, slugs = [], set()
        current.append(item)
        slugs.add(item.slug)
    if current:
        out.append(current)
    return out


async def asave_many(
    service: MemoryService,
    items: Iterable[Mapping[str, Any]],
    *,
    actor: Actor | None = None,
    reason: str | None = None,
    concurrency: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> SaveManyResult:
    """Save many memories (the export format) in batches; one bad item does not stop the others.

    An item without a `category` or `metadata` key keeps what the memory has (as `asave` with
    the argument omitted). `concurrency` tenants are saved at once; each tenant's batches run in
    order. Errors are reported as `{"index", "slug", "error"}`, sorted by index.
    """
    result = SaveManyResult()
    tenants: dict[tuple[Scope, str], list[_Item]] = {}
    for i, raw in enumerate(items):
        try:
            item = _prepare(service, i, raw)
        except BrainError as exc:
            result.failed_count += 1
            result.errors.append({"index": i, "slug": raw.get("slug"), "error": str(exc)})
            if on_progress is not None:
                on_progress(1)
            continue
        tenants.setdefault((item.scope, item.entity), []).append(item)
    semaphore = asyncio.Semaphore(max(1, concurrency))
    # Something other than a storage or validation error (a crash, a cancellation) stops every
    # tenant before its next batch; batches already under way finish their protocol steps.
    stop = asyncio.Event()

    async def tenant(scope: Scope, entity: str, mine: list[_Item]) -> None:
        async with semaphore:
            for batch in _batches(mine, max(1, batch_size)):
                if stop.is_set():
                    return
                try:
                    with storage_errors(SAVE_FAILED_TEMPLATE, slug=f"{len(batch)} memories of {entity}"):
                        statuses = await _save_batch(service, scope, entity, batch, actor, reason)
                except BrainError as exc:
                    result.failed_count += len(batch)
                    result.errors += [{"index": it.index, "slug": it.slug, "error": str(exc)} for it in batch]
                except BaseException:
                    stop.set()
                    raise
                else:
                    result.saved_count += len(batch)
                    for status in statuses:
                        result.statuses[status] = result.statuses.get(status, 0) + 1
                if on_progress is not None:
                    on_progress(len(batch))

    outcomes = await asyncio.gather(
        *(tenant(scope, entity, mine) for (scope, entity), mine in tenants.items()), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    result.errors.sort(key=lambda e: e["index"])
    return result


async def _save_batch(
    service: MemoryService,
    scope: Scope,
    entity: str,
    batch: list[_Item],
    actor: Actor | None,
    reason: str | None,
) -> list[str]:
    """Steps 1-4 of the module docstring for one tenant's batch; the statuses in batch order."""
    names = sorted(f"{scope}\x1f{entity}\x1f{item.slug}" for item in batch)
    tenancy = service.tenancy
    async with service.pool.connection() as conn, apipelined(conn):
        for name in names:
            await conn.execute(KEY_LOCK_SQL, (name,))
        try:
            async with tenancy.transaction(conn, scope, entity):
                cur = await conn.execute(SELECT_ROWS_FOR_UPDATE_SQL, (scope, entity, [i.slug for i in batch]))
                found = {r["slug"]: r for r in await cur.fetchall()}
                plans: list[SavePlan] = []
                writes = []
                for item in batch:
                    plan = plan_save(scope, found.get(item.slug), item.content, item.category, item.metadata)
                    plans.append(plan)
                    if plan.write is not None:
                        sql, params = plan.statement(scope, entity, item.slug, item.content, actor, reason)
                        writes.append(await conn.execute(sql, params))
            rows: list[dict[str, Any]] = []
            for w in writes:  # the pending rows, committed
                row = await w.fetchone()
                assert row is not None  # the write statements return their row
                rows.append(row)
            await fault(service, "after_row_commit")
            written = [p for p in plans if p.write is not None]
            memory_ids = await _push_all(service, scope, entity, written, rows)
            await fault(service, "after_index_write")
            await fault(service, "before_mark")
            async with tenancy.transaction(conn, scope, entity):
                await conn.execute(ASYNC_COMMIT_SQL)  # as in protocol.save
                cursor = conn.cursor()
                await cursor.executemany(
                    MARK_SYNCED_SQL,
                    [(mid, r["id"], r["version"]) for mid, r in zip(memory_ids, rows, strict=True)],
                )
        finally:
            for name in reversed(names):
                await conn.execute(KEY_UNLOCK_SQL, (name,))
    return [p.status for p in plans]


async def _push_all(
    service: MemoryService, scope: Scope, entity: str, plans: list[SavePlan], rows: list[dict[str, Any]]
) -> list[str]:
    """Make Mem0 hold every written row; new rows in one batch. Mem0 ids in `rows` order."""
    ids: list[str | None] = [None] * len(rows)
    fresh = [i for i, plan in enumerate(plans) if plan.write == "insert"]
    key = entity_key(scope, entity)
    with service.tenancy.bind_index(scope, entity):
        if fresh:
            added = await service.index.aadd_many(
                [(rows[i]["content"], key, index_metadata(rows[i]), None) for i in fresh]
            )
            for i, memory_id in zip(fresh, added, strict=True):
                ids[i] = memory_id
    out: list[str] = []
    for known, row in zip(ids, rows, strict=True):
        out.append(known if known is not None else await push(service, row))
    return out

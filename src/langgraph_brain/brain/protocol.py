"""The save/forget protocol between the brain table and its Mem0 index, step by step.

Save, per (scope, entity, slug) (the README's "Save protocol"):
  1. take a session advisory lock on the key, held until the index is updated (`rows.key_lock`);
  2. unchanged content, category and metadata -> "unchanged", nothing written;
  3. commit the row as `pending` with version+1 (and a brain_history entry);
  4. push to Mem0 (update, or add with brain metadata; a "not found" update re-adds);
  5. mark `synced` only if the version has not moved on.
Forget marks the row `deleting` (committed), removes it from Mem0, then deletes the row.

A crash between steps leaves a pending or deleting row (or a Mem0 orphan tagged with brain_id)
that the next save of that slug or `reconcile` finishes; both use the steps below. The fault
hook is called at "after_row_commit", "after_index_write" and "before_mark", so that tests can
crash the protocol exactly there.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langgraph.store.base import NOT_PROVIDED, NotProvided
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from ..db.pool import ASYNC_COMMIT_SQL
from .errors import BrainError, MemoryBackendError, MemoryNotFoundError
from .index import IndexMemoryMissing, MemoryIndex, content_hash, entity_key
from .models import Actor, SaveResult, SaveStatus
from .rows import (
    DELETE_MARKED_SQL,
    INSERT_ROW_LOGGED_SQL,
    MARK_DELETING_SQL,
    MARK_SYNCED_SQL,
    SELECT_ROW_FOR_UPDATE_SQL,
    UPDATE_ROW_LOGGED_SQL,
    Pool,
    Tenancy,
    add_history,
    fetchone,
    key_lock,
)
from .validation import DEFAULT_CATEGORY, Scope

#: Called with the name of each save/forget protocol step as it is passed, for fault injection:
#: "after_row_commit", "after_index_write", "before_mark". Raising from it aborts the operation
#: exactly there, as a crash would.
FaultHook = Callable[[str], Awaitable[None] | None]


class Steps(Protocol):
    """What the protocol needs from its caller (a `MemoryService` provides all three)."""

    index: MemoryIndex
    tenancy: Tenancy
    fault_hook: FaultHook | None


async def fault(steps: Steps, point: str) -> None:
    """Pass the protocol step `point` (calls the fault hook, if any)."""
    if steps.fault_hook is not None:
        result = steps.fault_hook(point)
        if inspect.isawaitable(result):
            await result


#: What a caller (often a model) reads when Postgres or Mem0 fails mid-operation; `{error}` is the
#: exception's type name. Each names what has become of the memory and what to do next.
SAVE_FAILED_TEMPLATE = (
    "saving {slug!r} failed because a storage service is unavailable ({error});"
    " nothing partial is visible. Try again later."
)
FORGET_FAILED_TEMPLATE = (
    "forgetting {slug!r} failed because a storage service is unavailable ({error});"
    " it is hidden from search and will be finished later."
)
SEARCH_FAILED_TEMPLATE = (
    "memory search is unavailable right now ({error}); answer without it or try again later."
)


@contextmanager
def storage_errors(template: str, **fields: object) -> Iterator[None]:
    """Turn any non-brain exception inside into a `MemoryBackendError` from `template`.

    Brain errors (validation, not found, configuration) pass through unchanged.
    """
    try:
        yield
    except BrainError:
        raise
    except Exception as exc:
        raise MemoryBackendError(template.format(error=type(exc).__name__, **fields)) from exc


def index_metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """What Mem0 stores next to the text. `brain_id` is the join key reconcile relies on."""
    return {
        **row["metadata"],
        "brain_id": str(row["id"]),
        "slug": row["slug"],
        "scope": row["scope"],
        "entity": row["entity_id"],
        "category": row["category"],
        "version": row["version"],
        "content_hash": row["content_hash"],
    }


@dataclass(frozen=True)
class SavePlan:
    """What a save does to the row it found (`plan_save`).

    Attributes:
        status: what the caller is told: "created", "updated" or "unchanged".
        write: "insert", "update", or None when the row is already synced as asked.
        category / metadata: the values the row will have.
        digest: the content hash.
        log: whether the write gets a brain_history entry (a retried push of the same
            content does not).
        row: the row as found (None: no row).
    """

    status: SaveStatus
    write: Literal["insert", "update"] | None
    category: str
    metadata: dict[str, Any]
    digest: str
    log: bool
    row: Mapping[str, Any] | None

    def statement(
        self, scope: str, entity: str, slug: str, content: str, actor: Actor | None, reason: str | None
    ) -> tuple[bytes, tuple[Any, ...]]:
        """The row write with its history entry, as (SQL, params) (`rows.*_LOGGED_SQL`)."""
        who = Jsonb(dict(actor or {}))
        if self.write == "insert":
            return INSERT_ROW_LOGGED_SQL.encode(), (
                scope, entity, slug, content, self.category, Jsonb(self.metadata), self.digest,
                "create", None, who, reason, True,
            )  # fmt: skip
        assert self.row is not None
        return UPDATE_ROW_LOGGED_SQL.encode(), (
            content, self.category, Jsonb(self.metadata), self.digest, self.row["id"],
            "update", self.row["content"], who, reason, self.log,
        )  # fmt: skip


def plan_save(
    scope: Scope,
    row: Mapping[str, Any] | None,
    content: str,
    category: str | NotProvided,
    metadata: dict[str, Any] | NotProvided,
) -> SavePlan:
    """Decide step 2 of a save from the locked row (None: no row), without writing anything.

    `category` and `metadata` left NOT_PROVIDED keep what the live row has; a new row (or one
    being forgotten, which a save brings back as new) gets the scope's default category and `{}`.
    A row that is not synced (a push that never finished) is pushed again even when unchanged.
    """
    digest = content_hash(content)
    live = row is not None and row["sync_state"] != "deleting"
    if isinstance(category, NotProvided):
        category = row["category"] if live and row is not None else DEFAULT_CATEGORY[scope]
    if isinstance(metadata, NotProvided):
        metadata = row["metadata"] if live and row is not None else {}
    if row is None:
        return SavePlan("created", "insert", category, metadata, digest, True, None)
    same = row["content_hash"] == digest and row["category"] == category and row["metadata"] == metadata
    if same and row["sync_state"] == "synced":
        return SavePlan("unchanged", None, category, metadata, digest, False, row)
    # A row left 'deleting' by an interrupted forget is brought back by a save.
    status: SaveStatus = "created" if not live else ("unchanged" if same else "updated")
    return SavePlan(status, "update", category, metadata, digest, not same or status == "created", row)


async def save(
    steps: Steps,
    pool: Pool,
    scope: Scope,
    entity: str,
    slug: str,
    content: str,
    *,
    category: str | NotProvided = NOT_PROVIDED,
    metadata: dict[str, Any] | NotProvided = NOT_PROVIDED,
    actor: Actor | None = None,
    reason: str | None = None,
) -> SaveResult:
    """Steps 1-5 of a save (arguments validated); see `plan_save`.

    The document embedding starts before the key lock and runs on the engine's thread while the
    lock and the row's commit travel; a save that turns out unchanged spends it for nothing.
    """
    embedding = asyncio.ensure_future(steps.index.aembed_document(content))
    try:
        async with key_lock(pool, scope, entity, slug) as conn:
            return await _save_locked(
                steps, conn, scope, entity, slug, content, embedding,
                category=category, metadata=metadata, actor=actor, reason=reason,
            )  # fmt: skip
    finally:
        if not embedding.done():
            embedding.cancel()
        elif not embedding.cancelled():
            embedding.exception()  # an unchanged save never needed it, nor its failure


async def _save_locked(
    steps: Steps,
    conn: AsyncConnection[Any],
    scope: Scope,
    entity: str,
    slug: str,
    content: str,
    embedding: Awaitable[list[float] | None],
    *,
    category: str | NotProvided,
    metadata: dict[str, Any] | NotProvided,
    actor: Actor | None,
    reason: str | None,
) -> SaveResult:
    """Steps 2-5 on `conn`, which holds the key lock (step 1)."""
    async with steps.tenancy.transaction(conn, scope, entity):
        row = await fetchone(conn, SELECT_ROW_FOR_UPDATE_SQL, (scope, entity, slug))
        plan = plan_save(scope, row, content, category, metadata)
        if plan.status == "unchanged" and plan.write is None:
            assert row is not None
            return SaveResult("unchanged", scope, entity, slug, row["version"], row["memory_id"])
        write = await conn.execute(*plan.statement(scope, entity, slug, content, actor, reason))
    # Read after the commit: in pipeline mode the write and COMMIT travel in one round trip.
    row = await write.fetchone()
    assert row is not None
    memory_id = await finish_save(steps, conn, row, inserted=plan.write == "insert", embedding=embedding)
    return SaveResult(plan.status, scope, entity, slug, row["version"], memory_id)


async def finish_save(
    steps: Steps,
    conn: AsyncConnection[Any],
    row: Mapping[str, Any],
    *,
    inserted: bool,
    embedding: Awaitable[list[float] | None] | None = None,
) -> str:
    """Steps 3-5 once the pending `row` is committed (on `conn`, which holds the key lock): push
    it to Mem0, then mark it synced. Returns the Mem0 id. Used by save and by restore."""
    # The pending row is committed: from here on a crash loses nothing.
    await fault(steps, "after_row_commit")
    vector = None if embedding is None else await embedding
    memory_id = await push(steps, row, inserted=inserted, vector=vector)
    await fault(steps, "after_index_write")
    await fault(steps, "before_mark")
    async with steps.tenancy.transaction(conn, row["scope"], row["entity_id"]):
        # Not waiting for this commit to reach disk is safe: losing it in a crash leaves the row
        # pending, which the next save or reconcile finishes (adopting the memory just written).
        await conn.execute(ASYNC_COMMIT_SQL)
        await conn.execute(MARK_SYNCED_SQL, (memory_id, row["id"], row["version"]))
    return memory_id


async def forget_locked(
    steps: Steps,
    conn: AsyncConnection[Any],
    scope: Scope,
    entity: str,
    slug: str,
    *,
    actor: Actor | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A forget on `conn`, which holds the key lock: mark deleting, purge Mem0, delete the row.

    Returns the row as it was marked.

    Raises:
        MemoryNotFoundError: no such slug for this entity.
    """
    async with steps.tenancy.transaction(conn, scope, entity):
        row = await fetchone(conn, MARK_DELETING_SQL, (scope, entity, slug))
        if row is None:
            raise MemoryNotFoundError(
                f"there is no {scope} memory with slug {slug!r}; search first to find the exact slug."
            )
        await add_history(conn, row, "forget", row["content"], None, actor, reason)
    await fault(steps, "after_row_commit")
    await purge_index(steps, row)
    await fault(steps, "after_index_write")
    await fault(steps, "before_mark")
    async with steps.tenancy.transaction(conn, scope, entity):
        await conn.execute(DELETE_MARKED_SQL, (row["id"], row["version"]))
    return row


async def push(
    steps: Steps, row: Mapping[str, Any], *, inserted: bool = False, vector: list[float] | None = None
) -> str:
    """Make Mem0 hold exactly this row's content; return the Mem0 id.

    `inserted`: the row was created by this very save, so no Mem0 memory can carry its
    brain_id yet (ids are never reused and the key lock is held); skip the orphan lookup.
    `vector`: the content's document embedding, if the caller computed it already.
    Every index call runs with the row's tenant bound (RLS on Mem0's collection).
    """
    index = steps.index
    metadata = index_metadata(row)
    key = entity_key(row["scope"], row["entity_id"])
    with steps.tenancy.bind_index(row["scope"], row["entity_id"]):
        if row["memory_id"] is not None:
            try:
                await index.aupdate(row["memory_id"], row["content"], metadata=metadata, vector=vector)
                return str(row["memory_id"])
            except IndexMemoryMissing:
                pass  # deleted in Mem0 (behind our back, or by a forget that crashed): see below
        # No live memory. A push that crashed after its add but before the row was marked left an
        # orphan tagged with this row's brain_id, also when the row still names a deleted memory (a
        # crashed forget, then a crashed revive): adopt it rather than add a duplicate. Only one
        # filed under this row's entity: Mem0's update cannot move a memory to another entity.
        orphans = [] if inserted else await index.alist(entity_key=key, brain_id=int(row["id"]))
        if orphans:
            for extra in orphans[1:]:
                await index.adelete(extra.memory_id)
            try:
                await index.aupdate(orphans[0].memory_id, row["content"], metadata=metadata, vector=vector)
                return orphans[0].memory_id
            except IndexMemoryMissing:
                pass
        return await index.aadd(row["content"], entity_key=key, metadata=metadata, vector=vector)


async def purge_index(steps: Steps, row: Mapping[str, Any]) -> None:
    """Remove the row's Mem0 memory and every orphan tagged with its brain_id."""
    with steps.tenancy.bind_index(row["scope"], row["entity_id"]):
        if row["memory_id"] is not None:
            await steps.index.adelete(row["memory_id"])
        for orphan in await steps.index.alist(brain_id=int(row["id"])):
            await steps.index.adelete(orphan.memory_id)

"""MemoryService: the brain table as source of truth, Mem0 as its 1:1 search index.

Save protocol (DESIGN.md §3), per (scope, entity, slug):
  1. take a session advisory lock on the key, held until the index is updated;
  2. unchanged content -> "unchanged", nothing written;
  3. commit the row as `pending` with version+1 (and a brain_history entry);
  4. push to Mem0 (update, or add with brain metadata; a "not found" update re-adds);
  5. mark `synced` only if the version has not moved on.
A crash between steps leaves a pending row (or an orphan tagged with brain_id) that the next
save of that slug or `reconcile` finishes. Search only returns synced rows of the caller.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ..db.rls import TENANT_SQL, Tenant, acheck_tenant_key, asees_every_row, bind_tenant
from .entities import EntityNormalizer, normalize_entity_id
from .errors import (
    BrainConfigurationError,
    BrainError,
    MemoryBackendError,
    MemoryNotFoundError,
    MemoryValidationError,
)
from .index import IndexHit, IndexMemoryMissing, MemoryIndex, content_hash, entity_key
from .models import Actor, HistoryEntry, MemoryRecord, SaveManyResult, SaveResult, SearchHit
from .retrieval import (
    DEFAULT_SEARCH_MODE,
    RankedHit,
    RetrievalOptions,
    SearchMode,
    akeyword_search,
    neighbour_slugs,
    relative_fuse,
    rrf_fuse,
    validate_mode,
)
from .validation import (
    Scope,
    validate_category,
    validate_content,
    validate_k,
    validate_query,
    validate_scope,
    validate_slug,
)

T = TypeVar("T")
Pool = AsyncConnectionPool[AsyncConnection[dict[str, Any]]]
#: Called with the name of each save/forget protocol step as it is passed, for fault injection:
#: "after_row_commit", "after_index_write", "before_mark". Raising from it aborts the operation
#: exactly there, as a crash would.
FaultHook = Callable[[str], Awaitable[None] | None]

MAX_METADATA_BYTES = 16_384
_ROW_COLUMNS = (
    "id, scope, entity_id, slug, content, category, metadata, content_hash, memory_id::text AS memory_id,"
    " sync_state, version, created_at, updated_at"
)


class MemoryService:
    """Save, search, list, forget, export and import memories for users and companies.

    Async methods carry an ``a`` prefix; the unprefixed twins block and may be called from any
    thread other than the event loop the service was created on (e.g. sync tools).

    Args:
        pool: async pool on a migrated database (see `langgraph_brain.db.Database`). Every
            tenant-scoped statement runs in a transaction that first sets the tenant locally
            (`brain.scope`, `brain.entity_id`, `brain.index_key` and its signature
            `brain.tenant_sig`), which is what the row-level-security policies check.
        index: the Mem0 backend. Its calls for one tenant run with that tenant bound
            (`db.rls.bind_tenant`), so Mem0 OSS's own SQL passes the same policies.
        max_content_chars: longest accepted content (longer is rejected, never truncated).
        normalizers: per-scope entity-id normalisers; default trims, NFKC-folds and lowercases.
        admin_pool: pool for cross-tenant maintenance (defaults to `pool`).
        search_mode: default `asearch` mode: "hybrid" (default), "vector" or "keyword".
        retrieval: fusion and BM25 parameters for hybrid/keyword search.
        tenant_key: the database's tenant key (BRAIN_TENANT_KEY, `db.rls.parse_tenant_key`), which
            signs every tenant. Required when `pool` is the restricted application role: without
            it that role sees no rows (`acheck_tenant_access` says so up front). The owner's
            policies admit every row, so a service running as the owner works without it.
    """

    def __init__(
        self,
        pool: Pool,
        index: MemoryIndex,
        *,
        max_content_chars: int = 8000,
        normalizers: Mapping[Scope, EntityNormalizer] | None = None,
        admin_pool: Pool | None = None,
        search_mode: str = DEFAULT_SEARCH_MODE,
        retrieval: RetrievalOptions | None = None,
        tenant_key: bytes | None = None,
    ) -> None:
        if tenant_key is not None and (not isinstance(tenant_key, bytes) or not tenant_key):
            raise BrainConfigurationError(
                "tenant_key must be the non-empty key bytes (db.rls.parse_tenant_key)"
            )
        self._tenant_key = tenant_key
        self.pool = pool
        self.search_mode: SearchMode = validate_mode(search_mode)
        self.retrieval = retrieval or RetrievalOptions()
        # Cross-tenant work (reconcile, export of everything, erase) needs a role that row-level
        # security lets see every tenant; with RLS on, `pool` is the restricted application role.
        self.admin_pool = admin_pool or pool
        self.fault_hook: FaultHook | None = None
        self.index = index
        self.max_content_chars = max_content_chars
        self._normalizers: dict[Scope, EntityNormalizer] = {
            "user": normalize_entity_id,
            "company": normalize_entity_id,
            **(normalizers or {}),
        }
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # ------------------------------------------------------------------ identity helpers

    def normalize(self, scope: str, entity_id: object) -> tuple[Scope, str]:
        """Validate the scope and normalise the entity id with that scope's normaliser."""
        checked = validate_scope(scope)
        return checked, self._normalizers[checked](entity_id)  # type: ignore[arg-type]

    async def _fault(self, point: str) -> None:
        if self.fault_hook is not None:
            result = self.fault_hook(point)
            if inspect.isawaitable(result):
                await result

    def _claim(self, scope: str, entity: str) -> Tenant:
        """The tenant as RLS checks it: scope, entity, Mem0 key, signed with the tenant key."""
        return Tenant.signed(self._tenant_key, scope, entity, entity_key(scope, entity))

    @asynccontextmanager
    async def _tenant(self, conn: AsyncConnection[Any], scope: str, entity: str) -> AsyncIterator[None]:
        """A transaction in which row-level security sees exactly one tenant.

        set_config(..., is_local => true) is SET LOCAL with parameters: it ends with the
        transaction, so a pooled connection never carries a tenant into its next use, and the
        signature is a bind parameter, never part of a statement other sessions can read.
        """
        async with conn.transaction():
            await conn.execute(TENANT_SQL, self._claim(scope, entity).params())
            yield

    @contextmanager
    def _index_tenant(self, scope: str, entity: str) -> Iterator[None]:
        """Bind the tenant for the index calls made inside (Mem0 OSS applies it to its SQL)."""
        with bind_tenant(self._claim(scope, entity)):
            yield

    async def acheck_tenant_access(self) -> None:
        """Fail fast on a configuration under which row-level security would hide every row.

        Checks `pool`'s role: with a tenant key, that Postgres accepts its signatures; without one,
        that the role is not restricted by RLS (the owner, or RLS off). Call it once at start-up.

        Raises:
            BrainConfigurationError: the key does not match this database's (rotated, or another
                database's), or the role needs a key and none was given.
        """
        async with self.pool.connection() as conn:
            if self._tenant_key is not None:
                if not await acheck_tenant_key(conn, self._tenant_key):
                    raise BrainConfigurationError(
                        "BRAIN_TENANT_KEY does not match this database's tenant key (was it rotated, or"
                        " taken from another database?): row-level security would hide every memory."
                        " `brain migrate --tenant-key`, run as the owner, prints the current key."
                    )
                return
            if not await asees_every_row(conn, "brain_memories"):
                raise BrainConfigurationError(
                    "this database role is limited by row-level security and no tenant key was given:"
                    " it would see no memories. Set BRAIN_TENANT_KEY to what `brain migrate --tenant-key`"
                    " prints (run as the owner), or connect as the owner."
                )

    @asynccontextmanager
    async def _tenant_conn(self, scope: str, entity: str) -> AsyncIterator[AsyncConnection[Any]]:
        async with self.pool.connection() as conn, self._tenant(conn, scope, entity):
            yield conn

    @asynccontextmanager
    async def _key_lock(
        self, scope: str, entity: str, slug: str, *, pool: Pool | None = None
    ) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection holding the advisory lock for one key until the block exits.

        Session-level, not transaction-level: the lock must outlive the commit of the pending
        row and cover the Mem0 call, or two saves could reach Mem0 in the opposite order to
        their commits. If the process dies, Postgres drops the lock with the connection.
        """
        async with (pool or self.pool).connection() as conn:
            await conn.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"{scope}\x1f{entity}\x1f{slug}",)
            )
            try:
                yield conn
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"{scope}\x1f{entity}\x1f{slug}",)
                )

    # ------------------------------------------------------------------ save

    async def asave(
        self,
        scope: str,
        entity_id: str,
        slug: str,
        content: str,
        *,
        category: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> SaveResult:
        """Create or update the memory `slug` of one user or company. Idempotent.

        Returns a SaveResult whose status is "created", "updated" or "unchanged".

        Raises:
            MemoryValidationError: bad slug, content, category or metadata; nothing was stored.
            MemoryBackendError: Mem0 or Postgres failed; a committed pending row is retried by
                the next save of this slug or by reconcile.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        slug = validate_slug(slug)
        content = validate_content(content, max_chars=self.max_content_chars)
        category = validate_category(category, checked_scope)
        meta = _validate_metadata(metadata)
        digest = content_hash(content)
        try:
            async with self._key_lock(checked_scope, entity, slug) as conn:
                return await self._save_locked(
                    conn, checked_scope, entity, slug, content, category, meta, digest, actor, reason
                )
        except BrainError:
            raise
        except Exception as exc:
            raise MemoryBackendError(
                f"saving {slug!r} failed because a storage service is unavailable ({type(exc).__name__});"
                " nothing partial is visible. Try again later."
            ) from exc

    async def _save_locked(
        self,
        conn: AsyncConnection[Any],
        scope: Scope,
        entity: str,
        slug: str,
        content: str,
        category: str,
        meta: dict[str, Any],
        digest: str,
        actor: Actor | None,
        reason: str | None,
    ) -> SaveResult:
        async with self._tenant(conn, scope, entity):
            row = await _fetchone(
                conn,
                f"SELECT {_ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s AND slug = %s"
                " FOR UPDATE",
                (scope, entity, slug),
            )
            same = (
                row is not None
                and row["content_hash"] == digest
                and row["category"] == category
                and row["metadata"] == meta
            )
            if row is not None and same and row["sync_state"] == "synced":
                return SaveResult("unchanged", scope, entity, slug, row["version"], row["memory_id"])
            inserted = row is None
            if row is None:
                status = "created"
                row = await _fetchone(
                    conn,
                    "INSERT INTO brain_memories (scope, entity_id, slug, content, category, metadata,"
                    f" content_hash) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_ROW_COLUMNS}",
                    (scope, entity, slug, content, category, Jsonb(meta), digest),
                )
                assert row is not None
                await _add_history(conn, row, "create", None, content, actor, reason)
            else:
                # A row left 'deleting' by an interrupted forget is brought back by a save.
                status = (
                    "created" if row["sync_state"] == "deleting" else ("unchanged" if same else "updated")
                )
                old_content = row["content"]
                row = await _fetchone(
                    conn,
                    "UPDATE brain_memories SET content = %s, category = %s, metadata = %s, content_hash = %s,"
                    " sync_state = 'pending', version = version + 1, updated_at = now()"
                    f" WHERE id = %s RETURNING {_ROW_COLUMNS}",
                    (content, category, Jsonb(meta), digest, row["id"]),
                )
                assert row is not None
                if not same or status == "created":
                    await _add_history(conn, row, "update", old_content, content, actor, reason)
        # The pending row is committed: from here on a crash loses nothing.
        await self._fault("after_row_commit")
        memory_id = await self._push(row, inserted=inserted)
        await self._fault("after_index_write")
        await self._fault("before_mark")
        async with self._tenant(conn, scope, entity):
            await conn.execute(
                "UPDATE brain_memories SET sync_state = 'synced', memory_id = %s"
                " WHERE id = %s AND version = %s AND sync_state = 'pending'",
                (memory_id, row["id"], row["version"]),
            )
        return SaveResult(status, scope, entity, slug, row["version"], memory_id)  # type: ignore[arg-type]

    async def _push(self, row: Mapping[str, Any], *, inserted: bool = False) -> str:
        """Make Mem0 hold exactly this row's content; return the Mem0 id.

        `inserted`: the row was created by this very save, so no Mem0 memory can carry its
        brain_id yet (ids are never reused and the key lock is held); skip the orphan lookup.
        Every index call runs with the row's tenant bound (RLS on Mem0's collection).
        """
        with self._index_tenant(row["scope"], row["entity_id"]):
            return await self._push_bound(row, inserted=inserted)

    async def _push_bound(self, row: Mapping[str, Any], *, inserted: bool) -> str:
        metadata = _index_metadata(row)
        key = entity_key(row["scope"], row["entity_id"])
        if row["memory_id"] is not None:
            try:
                await self.index.aupdate(row["memory_id"], row["content"], metadata=metadata)
                return str(row["memory_id"])
            except IndexMemoryMissing:
                pass  # deleted in Mem0 (behind our back, or by a forget that crashed): see below
        # No live memory. A push that crashed after its add but before the row was marked left an
        # orphan tagged with this row's brain_id, also when the row still names a deleted memory (a
        # crashed forget, then a crashed revive): adopt it rather than add a duplicate. Only one
        # filed under this row's entity: Mem0's update cannot move a memory to another entity.
        orphans = [] if inserted else await self.index.alist(entity_key=key, brain_id=int(row["id"]))
        if orphans:
            for extra in orphans[1:]:
                await self.index.adelete(extra.memory_id)
            try:
                await self.index.aupdate(orphans[0].memory_id, row["content"], metadata=metadata)
                return orphans[0].memory_id
            except IndexMemoryMissing:
                pass
        return await self.index.aadd(row["content"], entity_key=key, metadata=metadata)

    async def asave_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        actor: Actor | None = None,
        reason: str | None = None,
        concurrency: int = 4,
        on_progress: Callable[[int], None] | None = None,
    ) -> SaveManyResult:
        """Save many memories; one bad item does not stop the others.

        Each item is a mapping with scope, entity_id, slug, content and optional category and
        metadata (the export format). Returns counts and per-item errors.
        """
        result = SaveManyResult()
        semaphore = asyncio.Semaphore(max(1, concurrency))

        async def one(i: int, item: Mapping[str, Any]) -> None:
            async with semaphore:
                try:
                    saved = await self.asave(
                        str(item.get("scope", "")),
                        item.get("entity_id"),  # type: ignore[arg-type]
                        item.get("slug"),  # type: ignore[arg-type]
                        item.get("content"),  # type: ignore[arg-type]
                        category=item.get("category"),
                        metadata=item.get("metadata"),
                        actor=actor,
                        reason=reason,
                    )
                except BrainError as exc:
                    result.failed_count += 1
                    result.errors.append({"index": i, "slug": item.get("slug"), "error": str(exc)})
                else:
                    result.saved_count += 1
                    result.statuses[saved.status] = result.statuses.get(saved.status, 0) + 1
                if on_progress is not None:
                    on_progress(1)

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        result.errors.sort(key=lambda e: e["index"])
        return result

    # ------------------------------------------------------------------ search

    async def asearch(
        self,
        scope: str,
        entity_id: str,
        query: str,
        *,
        k: int = 5,
        category: str | None = None,
        mode: str | None = None,
    ) -> list[SearchHit]:
        """Search one user's or one company's memories, best first.

        Args:
            scope: "user" or "company".
            entity_id: the user or company id (normalised like on save).
            query: what to look for, in any language.
            k: how many hits to return (1..100).
            category: only memories of this category, if given.
            mode: "hybrid" (Mem0 vector hits fused with Postgres full-text BM25, by relative
                score fusion unless `RetrievalOptions.fusion="rrf"`, plus sequence neighbours),
                "vector" (Mem0 only) or "keyword" (full-text only, no embedding). None uses the
                service's default (`BRAIN_SEARCH_MODE`, "hybrid"). The hit score is the cosine
                similarity, the BM25 score or the fused 0..1 score respectively; compare scores
                only within one mode. See `langgraph_brain.brain.retrieval`.

        Raises:
            MemoryValidationError: empty/oversized query, k outside 1..100, bad category or mode.
            MemoryBackendError: Mem0 or Postgres is unavailable.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        query = validate_query(query)
        k = validate_k(k)
        search_mode = validate_mode(self.search_mode if mode is None else mode)
        if category is not None:
            category = validate_category(category, checked_scope)
        try:
            hits, neighbours = await self._rank(checked_scope, entity, query, k, category, search_mode)
            return await self._join_hits(checked_scope, entity, hits, k, neighbours, category)
        except BrainError:
            raise
        except Exception as exc:
            raise MemoryBackendError(
                f"memory search is unavailable right now ({type(exc).__name__}); answer without it"
                " or try again later."
            ) from exc

    async def _join_hits(
        self,
        scope: Scope,
        entity: str,
        hits: Sequence[IndexHit | RankedHit],
        k: int,
        neighbours: Mapping[str, float] | None = None,
        category: str | None = None,
    ) -> list[SearchHit]:
        """Keep only hits that are synced rows of this very entity (defence in depth), best first.

        `neighbours` maps slugs to a score (hybrid sequence expansion); those rows are read in the
        same statement, under the same tenant, sync and category filters, and a row found both
        ways keeps the higher score.
        """
        if not hits and not neighbours:
            return []
        ids = [h.memory_id for h in hits]
        slugs = list(neighbours or {})
        async with self._tenant_conn(scope, entity) as conn:
            rows = await (
                await conn.execute(
                    "SELECT memory_id::text AS memory_id, slug, content, category, updated_at"
                    " FROM brain_memories WHERE (memory_id = ANY(%s::uuid[]) OR (slug = ANY(%s::text[])"
                    " AND (%s::text IS NULL OR category = %s))) AND scope = %s AND entity_id = %s"
                    " AND sync_state = 'synced'",
                    (ids, slugs, category, category, scope, entity),
                )
            ).fetchall()
        by_id = {r["memory_id"]: r for r in rows}
        scored: dict[str, float] = {}
        for hit in hits:
            if hit.memory_id in by_id and hit.memory_id not in scored:
                scored[hit.memory_id] = hit.score
        for row in rows:
            extra = (neighbours or {}).get(row["slug"])
            if extra is not None and extra > scored.get(row["memory_id"], float("-inf")):
                scored[row["memory_id"]] = extra
        # sorted() is stable: equal scores keep the candidates' order, then neighbours'.
        best = sorted(scored, key=lambda mid: -scored[mid])[:k]
        return [
            SearchHit(
                by_id[mid]["slug"],
                by_id[mid]["content"],
                by_id[mid]["category"],
                scored[mid],
                by_id[mid]["updated_at"],
            )
            for mid in best
        ]

    async def _rank(
        self, scope: Scope, entity: str, query: str, k: int, category: str | None, mode: SearchMode
    ) -> tuple[Sequence[IndexHit | RankedHit], dict[str, float]]:
        """Candidates best first for `mode`, and neighbour slugs with their scores (hybrid only).

        Nothing here is trusted yet: `_join_hits` re-reads every row under the tenant filter.
        """
        key = entity_key(scope, entity)
        if mode == "vector":
            with self._index_tenant(scope, entity):
                return await self.index.asearch(query, entity_key=key, k=k, category=category), {}
        opts = self.retrieval
        if mode == "keyword":
            return await self._keyword(scope, entity, query, k, category), {}
        # Hybrid: the embedding (on the embedder's own thread) and the full-text query overlap. Each list
        # brings more than k candidates so that fusion can promote an item ranked low in one list
        # but high in the other.
        depth = max(k, opts.candidates)
        with self._index_tenant(scope, entity):  # gather's tasks copy the bound tenant
            vector_hits, keyword = await asyncio.gather(
                self.index.asearch(query, entity_key=key, k=depth, category=category),
                self._keyword(scope, entity, query, depth, category),
            )
        vector = [RankedHit(h.memory_id, h.score, h.metadata.get("slug")) for h in vector_hits]
        weights = [opts.vector_weight, opts.keyword_weight]
        if opts.fusion == "rrf":
            fused = rrf_fuse([vector, keyword], weights, rrf_k=opts.rrf_k)
        else:
            fused = relative_fuse([vector, keyword], weights)
        neighbours: dict[str, float] = {}
        if opts.neighbour_weight > 0:
            for seed in fused[: opts.neighbour_seeds]:
                for slug in neighbour_slugs(seed.slug or ""):
                    neighbours[slug] = max(neighbours.get(slug, 0.0), opts.neighbour_weight * seed.score)
        return fused, neighbours

    async def _keyword(
        self, scope: Scope, entity: str, query: str, limit: int, category: str | None
    ) -> list[RankedHit]:
        async with self._tenant_conn(scope, entity) as conn:
            return await akeyword_search(
                conn, scope, entity, query, limit=limit, category=category, options=self.retrieval
            )

    # ------------------------------------------------------------------ read

    async def aget(self, scope: str, entity_id: str, slug: str) -> MemoryRecord | None:
        checked_scope, entity = self.normalize(scope, entity_id)
        slug = validate_slug(slug)
        async with self._tenant_conn(checked_scope, entity) as conn:
            row = await _fetchone(
                conn,
                f"SELECT {_ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s AND slug = %s"
                " AND sync_state <> 'deleting'",
                (checked_scope, entity, slug),
            )
        return None if row is None else _record(row)

    async def alist(
        self,
        scope: str,
        entity_id: str,
        *,
        category: str | None = None,
        after_slug: str | None = None,
        limit: int = 100,
    ) -> list[MemoryRecord]:
        """Memories of one entity ordered by slug; page with `after_slug` (keyset, no OFFSET)."""
        checked_scope, entity = self.normalize(scope, entity_id)
        if category is not None:
            category = validate_category(category, checked_scope)
        limit = max(1, min(int(limit), 1000))
        async with self._tenant_conn(checked_scope, entity) as conn:
            rows = await (
                await conn.execute(
                    f"SELECT {_ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
                    " AND sync_state <> 'deleting' AND (%s::text IS NULL OR category = %s)"
                    " AND (%s::text IS NULL OR slug > %s) ORDER BY slug LIMIT %s",
                    (checked_scope, entity, category, category, after_slug, after_slug, limit),
                )
            ).fetchall()
        return [_record(r) for r in rows]

    async def alist_core(
        self, scope: str, entity_id: str, *, categories: Sequence[str], limit: int = 200
    ) -> list[MemoryRecord]:
        """Core memories of one entity: in `categories` or pinned (`metadata.pinned` true).

        Pinned first, then newest first. One indexed query, for building a prompt each turn.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        limit = max(1, min(int(limit), 1000))
        async with self._tenant_conn(checked_scope, entity) as conn:
            rows = await (
                await conn.execute(
                    f"SELECT {_ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
                    " AND sync_state <> 'deleting'"
                    " AND (category = ANY(%s) OR metadata @> '{\"pinned\": true}')"
                    " ORDER BY (metadata @> '{\"pinned\": true}') DESC, updated_at DESC LIMIT %s",
                    (checked_scope, entity, list(categories), limit),
                )
            ).fetchall()
        return [_record(r) for r in rows]

    async def ahistory(
        self, scope: str, entity_id: str, slug: str | None = None, *, limit: int = 100
    ) -> list[HistoryEntry]:
        """The audit trail of one entity (or one slug), newest first."""
        checked_scope, entity = self.normalize(scope, entity_id)
        if slug is not None:
            slug = validate_slug(slug)
        async with self._tenant_conn(checked_scope, entity) as conn:
            rows = await (
                await conn.execute(
                    "SELECT brain_id, scope, entity_id, slug, action, old_content, new_content, category,"
                    " version, actor, reason, created_at FROM brain_history"
                    " WHERE scope = %s AND entity_id = %s AND (%s::text IS NULL OR slug = %s)"
                    " ORDER BY id DESC LIMIT %s",
                    (checked_scope, entity, slug, slug, max(1, min(int(limit), 10_000))),
                )
            ).fetchall()
        return [HistoryEntry(**r) for r in rows]

    # ------------------------------------------------------------------ forget

    async def aforget(
        self,
        scope: str,
        entity_id: str,
        slug: str,
        *,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> MemoryRecord:
        """Delete one memory from both stores. Returns the forgotten record.

        The row is first marked `deleting` (committed), then removed from Mem0, then deleted;
        a crash in between is finished by reconcile, and search never shows a deleting row.

        Raises:
            MemoryNotFoundError: no such slug for this entity.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        slug = validate_slug(slug)
        try:
            async with self._key_lock(checked_scope, entity, slug) as conn:
                async with self._tenant(conn, checked_scope, entity):
                    row = await _fetchone(
                        conn,
                        "UPDATE brain_memories SET sync_state = 'deleting', version = version + 1,"
                        " updated_at = now() WHERE scope = %s AND entity_id = %s AND slug = %s"
                        f" AND sync_state <> 'deleting' RETURNING {_ROW_COLUMNS}",
                        (checked_scope, entity, slug),
                    )
                    if row is None:
                        raise MemoryNotFoundError(
                            f"there is no {checked_scope} memory with slug {slug!r}; search first to find"
                            " the exact slug."
                        )
                    await _add_history(conn, row, "forget", row["content"], None, actor, reason)
                await self._fault("after_row_commit")
                await self._purge_index(row)
                await self._fault("after_index_write")
                await self._fault("before_mark")
                async with self._tenant(conn, checked_scope, entity):
                    await conn.execute(
                        "DELETE FROM brain_memories"
                        " WHERE id = %s AND version = %s AND sync_state = 'deleting'",
                        (row["id"], row["version"]),
                    )
        except BrainError:
            raise
        except Exception as exc:
            raise MemoryBackendError(
                f"forgetting {slug!r} failed because a storage service is unavailable"
                f" ({type(exc).__name__}); it is hidden from search and will be finished later."
            ) from exc
        return _record(row)

    async def _purge_index(self, row: Mapping[str, Any]) -> None:
        with self._index_tenant(row["scope"], row["entity_id"]):
            if row["memory_id"] is not None:
                await self.index.adelete(row["memory_id"])
            for orphan in await self.index.alist(brain_id=int(row["id"])):
                await self.index.adelete(orphan.memory_id)

    # ------------------------------------------------------------------ export / import

    async def aexport(
        self, *, scope: str | None = None, entity_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield memories as JSON-serialisable dicts (the JSON-lines format `aimport` reads)."""
        checked_scope: Scope | None = None
        entity: str | None = None
        if scope is not None:
            checked_scope = validate_scope(scope)
            if entity_id is not None:
                entity = self._normalizers[checked_scope](entity_id)
        after = 0
        while True:
            async with self.admin_pool.connection() as conn:
                rows = await (
                    await conn.execute(
                        f"SELECT {_ROW_COLUMNS} FROM brain_memories WHERE id > %s"
                        " AND sync_state <> 'deleting' AND (%s::text IS NULL OR scope = %s)"
                        " AND (%s::text IS NULL OR entity_id = %s) ORDER BY id LIMIT 500",
                        (after, checked_scope, checked_scope, entity, entity),
                    )
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield _record(r).as_json()
            after = rows[-1]["id"]

    async def aimport_jsonl(
        self,
        lines: Iterable[str],
        *,
        actor: Actor | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> SaveManyResult:
        """Import JSON lines (as written by `aexport`); bad lines are reported, not fatal."""
        items: list[Mapping[str, Any]] = []
        line_of: list[int] = []  # 0-based line number of each parsed item
        bad: list[dict[str, Any]] = []
        for n, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
                if not isinstance(parsed, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                bad.append({"index": n, "slug": None, "error": f"line {n + 1} is not a JSON object: {exc}"})
                if on_progress is not None:
                    on_progress(1)
                continue
            items.append(parsed)
            line_of.append(n)
        result = await self.asave_many(items, actor=actor, reason="import", on_progress=on_progress)
        # Report every error by its line in the input, whether it failed to parse or to save.
        for error in result.errors:
            error["index"] = line_of[error["index"]]
            error["error"] = f"line {error['index'] + 1}: {error['error']}"
        result.failed_count += len(bad)
        result.errors = sorted(bad + result.errors, key=lambda e: e["index"])
        return result

    # ------------------------------------------------------------------ sync twins

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise RuntimeError(
                "the sync MemoryService methods need the service's event loop running in another thread;"
                " use the async (a-prefixed) methods from async code."
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError(
                "called a sync MemoryService method on its own event loop; await the a-method."
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def save(self, scope: str, entity_id: str, slug: str, content: str, **kwargs: Any) -> SaveResult:
        """Blocking twin of `asave`."""
        return self._run(self.asave(scope, entity_id, slug, content, **kwargs))

    def search(self, scope: str, entity_id: str, query: str, **kwargs: Any) -> list[SearchHit]:
        """Blocking twin of `asearch`."""
        return self._run(self.asearch(scope, entity_id, query, **kwargs))

    def get(self, scope: str, entity_id: str, slug: str) -> MemoryRecord | None:
        """Blocking twin of `aget`."""
        return self._run(self.aget(scope, entity_id, slug))

    def forget(self, scope: str, entity_id: str, slug: str, **kwargs: Any) -> MemoryRecord:
        """Blocking twin of `aforget`."""
        return self._run(self.aforget(scope, entity_id, slug, **kwargs))

    def list_core(self, scope: str, entity_id: str, **kwargs: Any) -> list[MemoryRecord]:
        """Blocking twin of `alist_core`."""
        return self._run(self.alist_core(scope, entity_id, **kwargs))

    def list(self, scope: str, entity_id: str, **kwargs: Any) -> list[MemoryRecord]:
        """Blocking twin of `alist`."""
        return self._run(self.alist(scope, entity_id, **kwargs))

    async def aclose(self) -> None:
        """Close the index (the pool belongs to whoever opened it)."""
        await self.index.aclose()


# ---------------------------------------------------------------------- helpers


def _validate_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise MemoryValidationError("metadata must be a JSON object (a mapping of names to values).")
    try:
        text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MemoryValidationError(f"metadata is not JSON-serialisable: {exc}") from exc
    if "\\u0000" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise MemoryValidationError("metadata contains NUL characters or lone surrogates.")
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise MemoryValidationError(f"metadata is larger than {MAX_METADATA_BYTES} bytes.")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _index_metadata(row: Mapping[str, Any]) -> dict[str, Any]:
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


async def _fetchone(conn: AsyncConnection[Any], query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    cur = await conn.execute(query.encode(), params)
    row: dict[str, Any] | None = await cur.fetchone()
    return row


async def _add_history(
    conn: AsyncConnection[Any],
    row: Mapping[str, Any],
    action: str,
    old: str | None,
    new: str | None,
    actor: Actor | None,
    reason: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO brain_history (brain_id, scope, entity_id, slug, action, old_content, new_content,"
        " category, version, actor, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            row["id"],
            row["scope"],
            row["entity_id"],
            row["slug"],
            action,
            old,
            new,
            row["category"],
            row["version"],
            Jsonb(dict(actor or {})),
            reason,
        ),
    )


def _record(row: Mapping[str, Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row["id"],
        scope=row["scope"],
        entity_id=row["entity_id"],
        slug=row["slug"],
        content=row["content"],
        category=row["category"],
        metadata=row["metadata"],
        memory_id=row["memory_id"],
        sync_state=row["sync_state"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )

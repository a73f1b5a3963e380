"""MemoryService: the brain table as source of truth, Mem0 as its 1:1 search index.

The service validates every argument and then delegates: the save/forget protocol and its crash
cases are in `protocol.py`, the rows' SQL and tenant transactions in `rows.py`, search in
`search.py` (scoring in `retrieval.py`), bulk save, export and import in `transfer.py`. Search
only returns synced rows of the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from langgraph.store.base import NOT_PROVIDED, NotProvided

from . import bulk, protocol, transfer
from .access import DEFAULT_FLUSH_SECONDS, AccessRecorder
from .as_of import alist_at, asearch_at, with_validity
from .blocking import BlockingTwins
from .entities import EntityNormalizer, normalize_entity_id
from .errors import BrainConfigurationError, MemoryValidationError
from .index import MemoryIndex
from .models import Actor, HistoryEntry, MemoryRecord, SaveManyResult, SaveResult, SearchHit
from .observe import OperationObserver, observed
from .protocol import (
    FORGET_FAILED_TEMPLATE,
    SAVE_FAILED_TEMPLATE,
    SEARCH_FAILED_TEMPLATE,
    FaultHook,
    storage_errors,
)
from .retrieval import DEFAULT_SEARCH_MODE, RetrievalOptions, SearchMode, validate_mode
from .rows import (
    LIST_CORE_SQL,
    LIST_ROWS_SQL,
    SELECT_HISTORY_SQL,
    SELECT_ROW_SQL,
    Pool,
    Tenancy,
    key_lock,
    to_record,
)
from .search import asearch_entity
from .validation import (
    Scope,
    validate_category,
    validate_content,
    validate_k,
    validate_metadata,
    validate_query,
    validate_scope,
    validate_slug,
)

T = TypeVar("T")

__all__ = ["NOT_PROVIDED", "FaultHook", "MemoryService", "NotProvided", "Pool"]


class MemoryService(BlockingTwins):
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
        access_tracking: count the searches and gets that return each memory (`access.py`;
            BRAIN_ACCESS_TRACKING), written in batches every `access_flush_seconds`.
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
        access_tracking: bool = True,
        access_flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> None:
        if tenant_key is not None and (not isinstance(tenant_key, bytes) or not tenant_key):
            raise BrainConfigurationError(
                "tenant_key must be the non-empty key bytes (db.rls.parse_tenant_key)"
            )
        self.pool = pool
        #: Tenant transactions and index bindings on `pool` (see `rows.Tenancy`).
        self.tenancy = Tenancy(pool, tenant_key)
        #: Access counters, noted in memory by search and get and flushed in batches.
        self.access = AccessRecorder(
            self.tenancy, enabled=access_tracking, flush_seconds=access_flush_seconds
        )
        self.search_mode: SearchMode = validate_mode(search_mode)
        self.retrieval = retrieval or RetrievalOptions()
        # Cross-tenant work (reconcile, export of everything, erase) needs a role that row-level
        # security lets see every tenant; with RLS on, `pool` is the restricted application role.
        self.admin_pool = admin_pool or pool
        #: Called at each protocol step, for fault injection (see `protocol.FaultHook`).
        self.fault_hook: FaultHook | None = None
        #: Told the duration and outcome of every save, search and forget (see `observe`).
        self.observer: OperationObserver | None = None
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

    def normalize(self, scope: str, entity_id: object) -> tuple[Scope, str]:
        """Validate the scope and normalise the entity id with that scope's normaliser."""
        checked = validate_scope(scope)
        return checked, self._normalizers[checked](entity_id)  # type: ignore[arg-type]

    async def acheck_tenant_access(self) -> None:
        """Fail fast on a configuration under which row-level security would hide every row.

        Checks `pool`'s role: with a tenant key, that Postgres accepts its signatures; without one,
        that the role is not restricted by RLS (the owner, or RLS off). Call it once at start-up.

        Raises:
            BrainConfigurationError: the key does not match this database's (rotated, or another
                database's), or the role needs a key and none was given.
        """
        await self.tenancy.acheck_access()

    async def asave(
        self,
        scope: str,
        entity_id: str,
        slug: str,
        content: str,
        *,
        category: str | NotProvided | None = NOT_PROVIDED,
        metadata: Mapping[str, Any] | NotProvided | None = NOT_PROVIDED,
        actor: Actor | None = None,
        reason: str | None = None,
    ) -> SaveResult:
        """Create or update the memory `slug` of one user or company. Idempotent.

        Args:
            category: omitted keeps the memory's category (a new memory gets the scope's
                default, "fact"); None or "" sets the default explicitly.
            metadata: omitted keeps the memory's metadata (a new memory gets `{}`); None sets `{}`.

        Returns a SaveResult whose status is "created", "updated" or "unchanged".

        Raises:
            MemoryValidationError: bad slug, content, category or metadata; nothing was stored.
            MemoryBackendError: Mem0 or Postgres failed; a committed pending row is retried by
                the next save of this slug or by reconcile.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        slug = validate_slug(slug)
        content = validate_content(content, max_chars=self.max_content_chars)
        cat = category if isinstance(category, NotProvided) else validate_category(category, checked_scope)
        meta = metadata if isinstance(metadata, NotProvided) else validate_metadata(metadata)
        with observed(self.observer, "save"), storage_errors(SAVE_FAILED_TEMPLATE, slug=slug):
            return await protocol.save(
                self, self.pool, checked_scope, entity, slug, content,
                category=cat, metadata=meta, actor=actor, reason=reason,
            )  # fmt: skip

    async def asave_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        actor: Actor | None = None,
        reason: str | None = None,
        concurrency: int = 2,
        batch_size: int = bulk.DEFAULT_BATCH_SIZE,
        on_progress: Callable[[int], None] | None = None,
    ) -> SaveManyResult:
        """Save many memories (the export format) in batches, the save protocol per memory; one bad
        item does not stop the others (see `bulk.asave_many`)."""
        return await bulk.asave_many(
            self, items, actor=actor, reason=reason, concurrency=concurrency, batch_size=batch_size,
            on_progress=on_progress,
        )  # fmt: skip

    async def asearch(
        self,
        scope: str,
        entity_id: str,
        query: str,
        *,
        k: int = 5,
        category: str | None = None,
        mode: str | None = None,
        as_of: object = None,
        retrieval: RetrievalOptions | None = None,
    ) -> list[SearchHit]:
        """Search one user's or one company's memories, best first.

        Args:
            scope: "user" or "company".
            entity_id: the user or company id (normalised like on save).
            query: what to look for, in any language.
            k: how many hits to return (1..100).
            category: only memories of this category, if given.
            mode: "hybrid", "vector" or "keyword" (see `langgraph_brain.brain.retrieval`); None
                uses the service's default (`BRAIN_SEARCH_MODE`, "hybrid"). Scores are comparable
                only within one mode.
            as_of: search the versions valid at this instant instead (`as_of.validate_as_of`: an
                aware datetime, a date or an ISO string); see `langgraph_brain.brain.as_of`. Ranked
                by relevance only (importance and recency weights do not apply to past versions).
            retrieval: this call's `RetrievalOptions` (fusion, importance and recency weights,
                half-life) instead of the service's; see `langgraph_brain.brain.ranking`.

        Raises:
            MemoryValidationError: empty/oversized query, k outside 1..100, bad category or mode,
                bad `as_of` (future, no timezone, before the entity's first memory).
            MemoryBackendError: Mem0 or Postgres is unavailable.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        query = validate_query(query)
        k = validate_k(k)
        search_mode = validate_mode(self.search_mode if mode is None else mode)
        if category is not None:
            category = validate_category(category, checked_scope)
        if retrieval is not None and not isinstance(retrieval, RetrievalOptions):
            raise MemoryValidationError(
                f"retrieval must be a RetrievalOptions, not {type(retrieval).__name__}."
            )
        if as_of is not None:  # answered from brain_history, never from the index
            # Not counted as an access: a past version is an audit, not a use of today's memory.
            with storage_errors(SEARCH_FAILED_TEMPLATE):
                return await asearch_at(self, checked_scope, entity, query, as_of, k, category, search_mode)
        with observed(self.observer, "search", search_mode), storage_errors(SEARCH_FAILED_TEMPLATE):
            hits = await asearch_entity(
                self, checked_scope, entity, query, k, category, search_mode, retrieval
            )
        self.access.note(checked_scope, entity, [h.slug for h in hits])
        return hits

    async def aget(
        self, scope: str, entity_id: str, slug: str, *, as_of: object = None, track: bool = True
    ) -> MemoryRecord | None:
        """The memory `slug` of one entity, or None; with `as_of`, its version valid then (see `alist`).

        `track=False`: not counted as an access (a read before a write, not a use of the memory)."""
        checked_scope, entity = self.normalize(scope, entity_id)
        slug = validate_slug(slug)
        if as_of is not None:
            past = await alist_at(self, checked_scope, entity, as_of, slug=slug, limit=1)
            return past[0] if past else None
        rows = await self.tenancy.afetchall(
            checked_scope, entity, SELECT_ROW_SQL, (checked_scope, entity, slug)
        )
        if not rows:
            return None
        if track:
            self.access.note(checked_scope, entity, [slug])
        return to_record(rows[0])

    async def alist(
        self,
        scope: str,
        entity_id: str,
        *,
        category: str | None = None,
        after_slug: str | None = None,
        limit: int = 100,
        as_of: object = None,
    ) -> list[MemoryRecord]:
        """Memories of one entity ordered by slug; page with `after_slug` (keyset, no OFFSET). With
        `as_of`, the versions valid then, from the history (`as_of.alist_at` says what it accepts)."""
        checked_scope, entity = self.normalize(scope, entity_id)
        if category is not None:
            category = validate_category(category, checked_scope)
        limit = max(1, min(int(limit), 1000))
        if as_of is not None:
            return await alist_at(
                self, checked_scope, entity, as_of, category=category, after_slug=after_slug, limit=limit
            )
        params = (checked_scope, entity, category, category, after_slug, after_slug, limit)
        rows = await self.tenancy.afetchall(checked_scope, entity, LIST_ROWS_SQL, params)
        return [to_record(r) for r in rows]

    async def alist_core(
        self, scope: str, entity_id: str, *, categories: Sequence[str], limit: int = 200
    ) -> list[MemoryRecord]:
        """Core memories of one entity: in `categories` or pinned (`metadata.pinned` true).

        Pinned first, then newest first. One indexed query, for building a prompt each turn.
        """
        checked_scope, entity = self.normalize(scope, entity_id)
        limit = max(1, min(int(limit), 1000))
        params = (checked_scope, entity, list(categories), limit)
        rows = await self.tenancy.afetchall(checked_scope, entity, LIST_CORE_SQL, params)
        return [to_record(r) for r in rows]

    async def ahistory(
        self, scope: str, entity_id: str, slug: str | None = None, *, limit: int = 100
    ) -> list[HistoryEntry]:
        """The audit trail of one entity (or one slug), newest first, each entry with the interval in
        which its new content was the value (`valid_from`/`valid_to`, see `HistoryEntry`)."""
        checked_scope, entity = self.normalize(scope, entity_id)
        if slug is not None:
            slug = validate_slug(slug)
        params = (checked_scope, entity, slug, slug, max(1, min(int(limit), 10_000)))
        rows = await self.tenancy.afetchall(checked_scope, entity, SELECT_HISTORY_SQL, params)
        return with_validity(rows)

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
        with observed(self.observer, "forget"), storage_errors(FORGET_FAILED_TEMPLATE, slug=slug):
            async with key_lock(self.pool, checked_scope, entity, slug) as conn:
                row = await protocol.forget_locked(
                    self, conn, checked_scope, entity, slug, actor=actor, reason=reason
                )
        return to_record(row)

    def aexport(
        self, *, scope: str | None = None, entity_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Iterate memories as JSON-serialisable dicts (the JSON-lines format `aimport_jsonl` reads)."""
        return transfer.aexport(self, scope=scope, entity_id=entity_id)

    async def aimport_jsonl(
        self,
        lines: Iterable[str],
        *,
        actor: Actor | None = None,
        on_progress: Callable[[int], None] | None = None,
        prepare: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
        reason: str = "import",
    ) -> SaveManyResult:
        """Import JSON lines (as written by `aexport`); bad lines are reported, not fatal (see
        `transfer.aimport_jsonl` for `prepare`, a per-line check and transform)."""
        return await transfer.aimport_jsonl(
            self, lines, actor=actor, on_progress=on_progress, prepare=prepare, reason=reason
        )

    async def aclose(self) -> None:
        """Flush the access counters and close the index (the pool belongs to whoever opened it)."""
        try:
            await self.access.aclose()
        finally:
            await self.index.aclose()

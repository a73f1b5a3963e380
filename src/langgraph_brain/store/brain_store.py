"""`BrainStore`: LangGraph's `BaseStore` interface over the brain.

Every store call becomes a brain call, so the brain's guarantees hold for store users too: a
put is a save (idempotent per slug, synced 1:1 with Mem0, recorded in ``brain_history`` with
actor ``{"agent": "langgraph-store"}``), a delete or a put of ``None`` is a forget, a search with
a query is the brain's hybrid search, and every tenant-scoped statement runs under row-level
security. Namespaces and values are described in `namespaces` and `values`.

Differences from LangGraph's own stores, each forced by what the brain is:

* **Indexing.** Every memory is indexed (invariant I1 keeps each synced row in Mem0); the
  ``index`` argument of put is accepted and ignored, and only ``content`` is embedded.
* **TTL.** ``supports_ttl`` is False: a put with a ttl raises NotImplementedError, as
  `BaseStore` specifies. Expiry is the brain's retention, not a per-item timer.
* **Search depth.** A search with a query ranks at most the best 100 memories (the brain's
  ``k`` limit), so ``offset + limit`` beyond 100 returns fewer items. Filters other than a
  category are applied to a deeper candidate list (4x) after ranking.
* **Batches.** Ops run in order, and every op of a batch is validated before the first one
  runs: a bad op fails the batch with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any, Literal

from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from ..brain.errors import BrainError, MemoryNotFoundError
from ..brain.models import Actor, MemoryRecord
from ..brain.rows import to_record
from ..brain.service import MemoryService
from ..brain.validation import (
    MAX_K,
    validate_category,
    validate_content,
    validate_metadata,
    validate_query,
    validate_slug,
)
from .namespaces import EntityPath, entity_path, require_entity, scope_prefix, select_namespaces
from .statements import (
    ALL_NAMESPACES_SQL,
    ENTITY_CATEGORIES_SQL,
    LIST_ALL_SQL,
    LIST_ENTITY_SQL,
    ROWS_BY_SLUG_SQL,
)
from .values import MemoryValue, category_of, check_filter, matches, to_memory, to_value

#: Who the history says made a change through the store.
STORE_ACTOR: Actor = {"agent": "langgraph-store"}
#: Rows read per page when a filter has to be applied in Python.
SCAN_PAGE = 500
#: How much deeper a filtered search looks before filtering.
FILTER_DEPTH = 4


class TTLNotSupportedError(BrainError, NotImplementedError, ValueError):
    """A put asked for a TTL. A NotImplementedError as `BaseStore` specifies, and a ValueError so
    that the LangGraph server answers 400 with this message rather than 500."""

    def __init__(self) -> None:
        super().__init__(
            "BrainStore does not expire items: put without ttl (or ttl=None). Memories are kept until"
            " forgotten; expiry is the brain's retention policy."
        )


class BrainStore(BaseStore):
    """A LangGraph store whose items are brain memories (see the module docstring).

    Args:
        service: an open MemoryService (`open_memory_service`, `get_shared_service`).
        actor: recorded in ``brain_history`` for every put and delete.

    Example:
        >>> async with open_memory_service() as service:
        ...     store = BrainStore(service)
        ...     await store.aput(("user", "ana"), "favourite_food", {"content": "Ana loves ramen"})
        ...     items = await store.asearch(("user", "ana"), query="what does Ana eat?")
    """

    supports_ttl = False

    def __init__(self, service: MemoryService, *, actor: Actor | None = None) -> None:
        self.service = service
        self.actor: Actor = actor or STORE_ACTOR

    # ------------------------------------------------------------------ puts with a TTL

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """`BaseStore.put`; a ttl raises `TTLNotSupportedError` (see the module docstring)."""
        _refuse_ttl(ttl)
        super().put(namespace, key, value, index)

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """`BaseStore.aput`; a ttl raises `TTLNotSupportedError` (see the module docstring)."""
        _refuse_ttl(ttl)
        await super().aput(namespace, key, value, index)

    # ------------------------------------------------------------------ batch

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Blocking twin of `abatch`; call it from a thread other than the service's loop."""
        return self.service.run_blocking(self.abatch(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops` in order and return their results, aligned with the ops.

        Raises:
            InvalidNamespaceError: a namespace is not ('user'|'company', id[, category]).
            MemoryValidationError: a value, key, query or filter is invalid (nothing was written).
            MemoryBackendError: Postgres or Mem0 failed.
        """
        checked = [self._check(op) for op in ops]
        results: list[Result] = []
        for op, prepared in checked:
            results.append(await self._run(op, prepared))
        return results

    # ------------------------------------------------------------------ validation

    def _check(self, op: Op) -> tuple[Op, Any]:
        if isinstance(op, GetOp):
            validate_slug(str(op.key))
            return op, _checked(require_entity(op.namespace, "get"))
        if isinstance(op, PutOp):
            path = _checked(require_entity(op.namespace, "put"))
            validate_slug(str(op.key))
            if op.value is None:
                return op, (path, None)
            memory = to_memory(op.value, path.category)
            validate_content(memory.content, max_chars=self.service.max_content_chars)
            validate_category(memory.category, path.scope)
            validate_metadata(memory.metadata)
            return op, (path, memory)
        if isinstance(op, SearchOp):
            check_filter(op.filter)
            path = _checked(entity_path(op.namespace_prefix))
            query = op.query.strip() if isinstance(op.query, str) else None
            if query:
                validate_query(query)
                if path is None:
                    require_entity(op.namespace_prefix, "search with a query")
            return op, (path, query or None)
        if isinstance(op, ListNamespacesOp):
            for condition in op.match_conditions or ():
                prefix = tuple(condition.path)
                if condition.match_type == "prefix" and prefix and "*" not in prefix[:1]:
                    entity_path(prefix)  # an unknown scope is an error, not an empty list
            return op, None
        raise TypeError(f"unknown store operation {type(op).__name__}")

    # ------------------------------------------------------------------ operations

    async def _run(self, op: Op, prepared: Any) -> Result:
        if isinstance(op, GetOp):
            return await self._aget(prepared, str(op.key))
        if isinstance(op, PutOp):
            path, memory = prepared
            await self._aput(path, str(op.key), memory)
            return None
        if isinstance(op, SearchOp):
            path, query = prepared
            if query is None:
                return await self._alist(op, path)
            return await self._asearch(op, path, query)
        assert isinstance(op, ListNamespacesOp)
        return await self._alist_namespaces(op)

    async def _aget(self, path: EntityPath, key: str) -> Item | None:
        record = await self.service.aget(path.scope, path.entity_label, key)
        if record is None or (path.category is not None and record.category != path.category):
            return None
        return _item(record)

    async def _aput(self, path: EntityPath, key: str, memory: MemoryValue | None) -> None:
        if memory is None:
            if path.category is not None and await self._aget(path, key) is None:
                return  # the slug lives under another category: not this namespace's to delete
            # Deleting a missing item is a no-op in every BaseStore.
            with suppress(MemoryNotFoundError):
                await self.service.aforget(path.scope, path.entity_label, key, actor=self.actor)
            return
        await self.service.asave(
            path.scope, path.entity_label, key, memory.content,
            category=memory.category, metadata=memory.metadata, actor=self.actor,
        )  # fmt: skip

    async def _asearch(self, op: SearchOp, path: EntityPath, query: str) -> list[SearchItem]:
        category = path.category or category_of(op.filter)
        wanted = op.offset + op.limit
        depth = min(MAX_K, wanted * (FILTER_DEPTH if op.filter else 1))
        if wanted <= 0:
            return []
        hits = await self.service.asearch(path.scope, path.entity_label, query, k=depth, category=category)
        scope, entity = self.service.normalize(path.scope, path.entity_label)
        rows = await self.service.tenancy.afetchall(
            scope, entity, ROWS_BY_SLUG_SQL, (scope, entity, [hit.slug for hit in hits])
        )
        by_slug = {row["slug"]: to_record(row) for row in rows}
        items: list[SearchItem] = []
        for hit in hits:
            record = by_slug.get(hit.slug)
            if record is None:
                continue  # forgotten between the search and the read
            value = to_value(record)
            if matches(value, op.filter):
                items.append(_search_item(record, value, hit.score))
        return items[op.offset : wanted]

    async def _alist(self, op: SearchOp, path: EntityPath | None) -> list[SearchItem]:
        """A search without a query: newest first, filtered, paged with limit and offset."""
        if path is None:
            scope = scope_prefix(op.namespace_prefix)
            category = category_of(op.filter)

            async def page(limit: int, offset: int) -> list[dict[str, Any]]:
                params = (scope, scope, category, category, limit, offset)
                async with self.service.admin_pool.connection() as conn:
                    return await (await conn.execute(LIST_ALL_SQL, params)).fetchall()
        else:
            scope, entity = self.service.normalize(path.scope, path.entity_label)
            category = path.category or category_of(op.filter)

            async def page(limit: int, offset: int) -> list[dict[str, Any]]:
                params = (scope, entity, category, category, limit, offset)
                return await self.service.tenancy.afetchall(scope, entity, LIST_ENTITY_SQL, params)

        if not op.filter or (set(op.filter) == {"category"} and category_of(op.filter) == category):
            rows = await page(op.limit, op.offset)  # the whole filter ran in SQL
            return [_search_item(r, to_value(r), None) for r in map(to_record, rows)]
        found: list[SearchItem] = []
        start = 0
        while len(found) < op.offset + op.limit:
            rows = await page(SCAN_PAGE, start)
            for record in map(to_record, rows):
                value = to_value(record)
                if matches(value, op.filter):
                    found.append(_search_item(record, value, None))
            if len(rows) < SCAN_PAGE:
                break
            start += SCAN_PAGE
        return found[op.offset : op.offset + op.limit]

    async def _alist_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        path = _entity_of_conditions(op)
        if path is not None:
            scope, entity = self.service.normalize(path.scope, path.entity_label)
            rows = await self.service.tenancy.afetchall(scope, entity, ENTITY_CATEGORIES_SQL, (scope, entity))
            namespaces = [(scope, entity, row["category"]) for row in rows]
        else:
            scope_only = _scope_of_conditions(op)
            async with self.service.admin_pool.connection() as conn:
                cursor = await conn.execute(ALL_NAMESPACES_SQL, (scope_only, scope_only))
                rows = await cursor.fetchall()
            namespaces = [(r["scope"], r["entity_id"], r["category"]) for r in rows]
        return select_namespaces(namespaces, op.match_conditions, op.max_depth, op.limit, op.offset)


def _refuse_ttl(ttl: float | NotProvided | None) -> None:
    if ttl is not NOT_PROVIDED and ttl is not None:
        raise TTLNotSupportedError()


def _checked(path: EntityPath | None) -> Any:
    if path is not None and path.category is not None:
        validate_category(path.category, path.scope)
    return path


def _prefix(op: ListNamespacesOp) -> tuple[str, ...]:
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            return tuple(condition.path)
    return ()


def _entity_of_conditions(op: ListNamespacesOp) -> EntityPath | None:
    prefix = _prefix(op)
    if len(prefix) >= 2 and "*" not in prefix[:2]:
        return entity_path(prefix[:2])
    return None


def _scope_of_conditions(op: ListNamespacesOp) -> str | None:
    prefix = _prefix(op)
    return prefix[0] if prefix and prefix[0] != "*" else None


def _namespace(record: MemoryRecord) -> tuple[str, ...]:
    return (record.scope, record.entity_id, record.category)


def _item(record: MemoryRecord) -> Item:
    return Item(
        value=to_value(record),
        key=record.slug,
        namespace=_namespace(record),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _search_item(record: MemoryRecord, value: Mapping[str, Any], score: float | None) -> SearchItem:
    return SearchItem(
        namespace=_namespace(record),
        key=record.slug,
        value=dict(value),
        created_at=record.created_at,
        updated_at=record.updated_at,
        score=score,
    )


__all__ = ["FILTER_DEPTH", "SCAN_PAGE", "STORE_ACTOR", "BrainStore", "TTLNotSupportedError"]

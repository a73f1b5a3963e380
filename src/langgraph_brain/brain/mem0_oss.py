"""Open-source Mem0 (`AsyncMemory`) on pgvector, in the same Postgres as the brain."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from ..db.pool import ASYNC_COMMIT_SQL, DEFAULT_POOL_TIMEOUT
from ..db.rls import TENANT_SQL, apipelined, apply_bound_tenant, bound_tenant, pipelined, sees_every_row
from ..settings import disable_mem0_telemetry
from .errors import BrainConfigurationError
from .index import IndexHit, IndexItem, IndexMemoryMissing
from .mem0_payload import COLLECTION, INSERT_SQL, UPDATE_SQL, PrefixAwareEmbedder, new_payload, payload_patch
from .vector_indexes import (
    APPROXIMATE_SETTINGS_SQL,
    EF_SEARCH,
    REGISTRY_SQL,
    REGISTRY_TTL,
    rows_to_hits,
    search_statement,
)


class Mem0OSSIndex:
    """`MemoryIndex` on Mem0 OSS. Mem0's pgvector collection holds the vectors, in the payload
    shape Mem0's own `add(infer=False)` and `update` write (`mem0_payload`), so Mem0's `search`,
    `get`, `get_all` and `delete` work on it unchanged. Deletes and listings go through Mem0;
    adds and updates are one statement each (Mem0's `update` re-reads the memory first and both
    keep a SQLite history and entity links the brain does not use: three extra round trips and
    thread hops that stretched the save tail on a busy machine), and bulk adds are batched.

    `AsyncMemory.search` would embed the query again and add work we do not use (BM25
    lemmatisation, entity boosts through a second collection, a 60-row over-fetch); the brain
    does its own keyword side in Postgres, so only the vector step is taken from Mem0.

    Row-level security (migration v6) covers `brain_mem0` too. Mem0 issues its own SQL on our sync
    pool, whose check callback (`db.rls.apply_bound_tenant`) gives each checked-out connection the
    tenant that `MemoryService` bound around the call (`db.rls.bind_tenant`): the application
    role then reads and writes that entity's memories only, even through Mem0's id-only
    `get`/`update`/`delete`. A call with no tenant bound is cross-tenant maintenance (reconcile,
    erase, the invariant check); on a role that RLS restricts it would silently see nothing, so
    it raises `BrainConfigurationError` instead.
    """

    name = "mem0-oss"

    def __init__(self, memory: Any, embeddings: Embeddings, sync_pool: Any) -> None:
        self.memory = memory
        self.embeddings = embeddings
        self._sync_pool = sync_pool
        self._sees_every_tenant: bool | None = None  # probed on the first unbound call
        self._registry: dict[str, int] = {}  # Mem0 key -> dims of its approximate index
        self._registry_read_at = float("-inf")
        #: The application's async pool (same role): searches run there when set (the factory sets it).
        self.async_pool: Any | None = None
        #: Seconds between reads of the approximate-index registry (`vector_indexes`).
        self.registry_ttl = REGISTRY_TTL

    @property
    def sync_pool(self) -> Any:
        """The psycopg pool Mem0's vector store runs its SQL on (one tenant bound per call)."""
        return self._sync_pool

    @classmethod
    def create(
        cls,
        database_url: str,
        embeddings: Embeddings,
        *,
        dims: int,
        pool_max_size: int = 5,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> Mem0OSSIndex:
        """Build AsyncMemory on `database_url` with a health-checked sync pool of our own."""
        disable_mem0_telemetry()
        from mem0 import AsyncMemory

        from ..db import open_sync_pool

        sync_pool = open_sync_pool(
            database_url,
            min_size=1,
            max_size=pool_max_size,
            name="brain-mem0",
            connect_timeout=pool_timeout,
            check=apply_bound_tenant,
            autocommit=False,
        )
        config = {
            "vector_store": {
                "provider": "pgvector",
                "config": {
                    "connection_pool": sync_pool,
                    "collection_name": COLLECTION,
                    "embedding_model_dims": dims,
                    "hnsw": False,
                },
            },
            "embedder": {"provider": "langchain", "config": {"model": embeddings}},
            # infer=False never calls the LLM; Mem0 still builds a client at start-up.
            "llm": {"provider": "openai", "config": {"api_key": "unused-because-infer-is-false"}},
            # brain_history is our audit log; Mem0's own SQLite copy would be a second, partial one.
            "history_db_path": ":memory:",
        }
        memory = AsyncMemory.from_config(config)
        memory.embedding_model = PrefixAwareEmbedder(embeddings)
        return cls(memory, embeddings, sync_pool)

    async def _scoped(self, entity_key: str | None = None) -> None:
        """Refuse a call that RLS would answer with a partial view (see the class docstring)."""
        tenant = bound_tenant()
        if tenant is not None:
            if entity_key is not None and entity_key != tenant.index_key:
                raise BrainConfigurationError(
                    f"Mem0 call for entity key {entity_key!r} while tenant {tenant.index_key!r} is bound"
                )
            return
        if not await self.asees_every_tenant():
            raise BrainConfigurationError(
                f"this database role cannot see every tenant's rows of {COLLECTION} (row-level security),"
                " so a Mem0 call without a tenant (reconcile, erase, invariant check) would act on a"
                " partial view. Run it as the owner role that ran the migrations (DATABASE_URL of the"
                " owner); tenant-scoped calls go through MemoryService, which binds the tenant."
            )

    async def asees_every_tenant(self) -> bool:
        """Whether this index's database role sees every tenant's memories with no tenant bound
        (the owner, a superuser, or RLS off): what cross-tenant maintenance needs. Cached."""
        if self._sees_every_tenant is None:
            self._sees_every_tenant = await asyncio.to_thread(self._probe_sees_every_tenant)
        return self._sees_every_tenant

    def _probe_sees_every_tenant(self) -> bool:
        with self._sync_pool.connection() as conn:
            return sees_every_row(conn, COLLECTION)

    async def aadd(
        self, content: str, *, entity_key: str, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> str:
        await self._scoped(entity_key)
        return (await self.aadd_many([(content, entity_key, metadata, vector)]))[0]

    def approximate(self, entity_key: str) -> bool:
        """Whether the registry (as last read, see `registry_ttl`) gives this tenant an HNSW index."""
        return entity_key in self._registry

    async def aembed_document(self, content: str) -> list[float] | None:
        return (await self.embeddings.aembed_documents([content]))[0]

    async def aadd_many(self, items: Sequence[IndexItem]) -> list[str]:
        """Insert many memories in one transaction and one round trip; return their ids in order.

        Vectors left None are embedded here in one batch (the engine splits a batch across
        threads, so this is several times faster per text than one call each).
        """
        for _, key, _, _ in items:
            await self._scoped(key)
        missing = [i for i, item in enumerate(items) if item[3] is None]
        computed = await self.embeddings.aembed_documents([items[i][0] for i in missing]) if missing else []
        vectors = [item[3] for item in items]
        for i, vec in zip(missing, computed, strict=True):
            vectors[i] = vec
        ids = [str(uuid.uuid4()) for _ in items]
        rows = [
            (mid, vec, Jsonb(new_payload(content, key, metadata)))
            for mid, vec, (content, key, metadata, _) in zip(ids, vectors, items, strict=True)
        ]
        await asyncio.to_thread(self._write_many_sync, rows)
        return ids

    def _write_many_sync(self, rows: list[tuple[Any, ...]]) -> None:
        with self._sync_pool.connection() as conn, pipelined(conn):
            conn.execute(ASYNC_COMMIT_SQL)  # the brain rows are durable; see protocol.save
            conn.cursor().executemany(INSERT_SQL, rows)
            conn.commit()

    async def aupdate(
        self, memory_id: str, content: str, *, metadata: dict[str, Any], vector: list[float] | None = None
    ) -> None:
        await self._scoped()
        if vector is None:
            vector = (await self.embeddings.aembed_documents([content]))[0]
        params = (vector, Jsonb(payload_patch(content, metadata)), memory_id)
        if await asyncio.to_thread(self._update_sync, params) is None:
            raise IndexMemoryMissing(memory_id)

    def _update_sync(self, params: tuple[Any, ...]) -> Any:
        with self._sync_pool.connection() as conn:
            with pipelined(conn):
                conn.execute(ASYNC_COMMIT_SQL)
                cur = conn.execute(UPDATE_SQL, params)
                conn.commit()
            return cur.fetchone()

    async def adelete(self, memory_id: str) -> bool:
        await self._scoped()
        try:
            await self.memory.delete(memory_id)
        except ValueError as exc:
            if "not found" in str(exc).lower():
                return False
            raise
        return True

    async def aget(self, memory_id: str) -> IndexHit | None:
        await self._scoped()
        out = await asyncio.to_thread(self.memory.vector_store.get, vector_id=memory_id)
        return None if out is None else _hit(out)

    async def asearch(
        self, query: str, *, entity_key: str, k: int, category: str | None = None
    ) -> list[IndexHit]:
        await self._scoped(entity_key)
        vector = await self.embeddings.aembed_query(query)
        return await self.asearch_vector(vector, entity_key=entity_key, k=k, category=category)

    async def asearch_vector(
        self, vector: list[float], *, entity_key: str, k: int, category: str | None = None
    ) -> list[IndexHit]:
        await self._scoped(entity_key)
        if self.async_pool is None:
            return await asyncio.to_thread(self._search_sync, vector, entity_key, k, category)
        # On the event loop's pool: no thread hop, and BEGIN, the tenant, the search and COMMIT
        # travel in one round trip (the sync pool's check costs one more).
        tenant = bound_tenant()
        async with self.async_pool.connection() as conn, apipelined(conn):
            if self._registry_stale():
                await self._aread_registry(conn)
            dims = self._registry.get(entity_key)
            query, params = search_statement(vector, entity_key, k, category, dims)
            async with conn.transaction():
                if tenant is not None:
                    await conn.execute(TENANT_SQL, tenant.params())
                if dims:
                    await conn.execute(APPROXIMATE_SETTINGS_SQL, (str(max(EF_SEARCH, 4 * k)),))
                cur = conn.cursor(row_factory=tuple_row)
                await cur.execute(query, params)
            rows = await cur.fetchall()
        return rows_to_hits(rows, approximate=bool(dims))

    def _search_sync(
        self, vector: list[float], entity_key: str, k: int, category: str | None
    ) -> list[IndexHit]:
        """`asearch_vector` on the sync pool (an index built without an async pool), whose check
        callback begins the tenant's transaction."""
        with self._sync_pool.connection() as conn:
            if self._registry_stale():
                self._registry = dict(conn.execute(REGISTRY_SQL).fetchall())
                self._registry_read_at = time.monotonic()
            dims = self._registry.get(entity_key)
            query, params = search_statement(vector, entity_key, k, category, dims)
            with pipelined(conn):
                if dims:
                    conn.execute(APPROXIMATE_SETTINGS_SQL, (str(max(EF_SEARCH, 4 * k)),))
                cur = conn.execute(query, params)
                conn.commit()
            rows = cur.fetchall()
        return rows_to_hits(rows, approximate=bool(dims))

    def _registry_stale(self) -> bool:
        return time.monotonic() - self._registry_read_at >= self.registry_ttl

    async def _aread_registry(self, conn: Any) -> None:
        """Re-read which tenants have an approximate index (`vector_indexes`), in autocommit."""
        cur = conn.cursor(row_factory=tuple_row)
        await cur.execute(REGISTRY_SQL)
        self._registry = {key: int(dims) for key, dims in await cur.fetchall()}
        self._registry_read_at = time.monotonic()

    async def alist(self, *, entity_key: str | None = None, brain_id: int | None = None) -> list[IndexHit]:
        await self._scoped(entity_key)
        filters: dict[str, Any] = {"brain_id": "*"}
        if entity_key is not None:
            filters["user_id"] = entity_key
        if brain_id is not None:
            filters["brain_id"] = str(brain_id)
        listed = await asyncio.to_thread(self.memory.vector_store.list, filters=filters, top_k=2**62)
        rows = listed[0] if listed and isinstance(listed[0], list) else listed
        return [_hit(r) for r in rows]

    async def aclose(self) -> None:
        await asyncio.to_thread(self._sync_pool.close)


def _hit(out: Any) -> IndexHit:
    payload = dict(out.payload or {})
    return IndexHit(
        memory_id=str(out.id),
        score=float(out.score) if out.score is not None else 0.0,
        content=str(payload.get("data", "")),
        metadata=payload,
    )

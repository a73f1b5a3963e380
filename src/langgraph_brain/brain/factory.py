"""Build a ready MemoryService from settings: database, embedder, Mem0 backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from functools import lru_cache
from typing import Any

from langchain_core.embeddings import Embeddings

from ..db import Database, resolve_database_url
from ..db.rls import parse_tenant_key
from ..settings import BrainSettings, get_settings
from .embeddings import WaitPolicy, embedding_dimensions, make_embeddings
from .entities import EntityNormalizer
from .errors import BrainConfigurationError, MemoryValidationError
from .index import MemoryIndex
from .retrieval import RetrievalOptions
from .service import MemoryService
from .validation import Scope


@lru_cache(maxsize=4)
def shared_embeddings(
    kind: str,
    openai_model: str,
    threads: int | None = None,
    wait_policy: WaitPolicy = "passive",
    query_cache_size: int = 1024,
) -> Embeddings:
    """One embedder per process: loading the e5 weights is the slow part, not embedding."""
    return make_embeddings(
        kind,
        openai_model=openai_model,
        threads=threads,
        wait_policy=wait_policy,
        query_cache_size=query_cache_size,
    )


def settings_embeddings(settings: BrainSettings) -> Embeddings:
    """The process's shared embedder as `settings` configure it."""
    return shared_embeddings(
        settings.embedder,
        settings.openai_embedding_model,
        settings.embed_threads,
        settings.embed_wait_policy,
        settings.query_cache_size,
    )


class _UnusedLemmatizerFilter(logging.Filter):
    """Drops Mem0's "Failed to load spaCy lemma model" warning, printed on every first save.

    Mem0 lemmatises text for its own BM25 keyword search; the brain never uses that (its keyword
    side is Postgres full-text search over the brain table), and without spaCy Mem0 falls back
    to the plain lowercased text. The warning would only send users to install `mem0ai[nlp]`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to load spaCy")


def _silence_unused_spacy_warning() -> None:
    logger = logging.getLogger("mem0.utils.spacy_models")
    if not any(isinstance(f, _UnusedLemmatizerFilter) for f in logger.filters):
        logger.addFilter(_UnusedLemmatizerFilter())


async def acreate_index(settings: BrainSettings, database_url: str, embeddings: Embeddings) -> MemoryIndex:
    """The hosted platform when MEM0_API_KEY is set, else open-source Mem0 on our Postgres."""
    if settings.mem0_api_key is not None:
        from .mem0_platform import Mem0PlatformIndex

        return Mem0PlatformIndex(settings.mem0_api_key.get_secret_value())
    from .mem0_oss import Mem0OSSIndex

    _silence_unused_spacy_warning()

    dims = await asyncio.to_thread(embedding_dimensions, embeddings)
    # Importing and configuring Mem0 takes ~2 s of blocking work; keep it off the event loop.
    return await asyncio.to_thread(
        Mem0OSSIndex.create, database_url, embeddings, dims=dims, pool_timeout=settings.pool_timeout
    )


@asynccontextmanager
async def open_memory_service(
    settings: BrainSettings | None = None,
    *,
    database: Database | None = None,
    embeddings: Embeddings | None = None,
    normalizers: Mapping[Scope, EntityNormalizer] | None = None,
) -> AsyncIterator[MemoryService]:
    """Open everything a MemoryService needs and close it afterwards.

    Without arguments this uses the environment (`BrainSettings`): DATABASE_URL or the embedded
    Postgres, the bundled e5 embedder and open-source Mem0. Pending migrations are applied
    unless `BRAIN_AUTO_MIGRATE=false`; then an un-migrated database raises
    `DatabaseNotMigratedError` (run `brain migrate`).
    """
    settings = settings or get_settings()
    async with AsyncExitStack() as stack:
        if database is None:
            url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
            database = await Database.aopen(
                url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                connect_timeout=settings.pool_timeout,
                migrate=settings.auto_migrate,
            )
            stack.push_async_callback(database.aclose)
        embeddings = embeddings or settings_embeddings(settings)
        index = await acreate_index(settings, database.url, embeddings)
        if hasattr(index, "async_pool"):  # Mem0 OSS: search on the application's pool (same role)
            index.async_pool = database.pool
        service = MemoryService(
            database.pool,
            index,
            max_content_chars=settings.max_content_chars,
            normalizers=normalizers,
            search_mode=settings.search_mode,
            access_tracking=settings.access_tracking,
            access_flush_seconds=settings.access_flush_seconds,
            retrieval=ranking_options(settings),
            tenant_key=None
            if settings.tenant_key is None
            else parse_tenant_key(settings.tenant_key.get_secret_value()),
        )
        stack.push_async_callback(service.aclose)
        # Fail at start-up, not with empty results: a restricted role needs the right tenant key.
        await service.acheck_tenant_access()
        yield service


def ranking_options(settings: BrainSettings) -> RetrievalOptions:
    """The service's `RetrievalOptions` from BRAIN_RANK_* (a clear error if they cannot be used)."""
    try:
        return RetrievalOptions(
            importance_weight=settings.rank_importance_weight,
            recency_weight=settings.rank_recency_weight,
            recency_half_life_days=settings.rank_half_life_days,
        )
    except MemoryValidationError as exc:
        raise BrainConfigurationError(
            f"BRAIN_RANK_IMPORTANCE_WEIGHT / BRAIN_RANK_RECENCY_WEIGHT / BRAIN_RANK_HALF_LIFE_DAYS: {exc}"
        ) from None


_shared: dict[str, Any] = {}
_shared_lock: asyncio.Lock | None = None


async def get_shared_service(settings: BrainSettings | None = None) -> MemoryService:
    """The process-wide MemoryService, opened on first call (from `settings` or the environment).

    The LangGraph server's graphs, its store (`langgraph_brain.store`) and the memory HTTP API
    share it: one pool, one Mem0 index and one embedder per server process.
    """
    global _shared_lock
    service: MemoryService | None = _shared.get("service")
    if service is not None:
        return service
    if _shared_lock is None:
        _shared_lock = asyncio.Lock()
    async with _shared_lock:
        if "service" not in _shared:
            settings = settings or get_settings()
            # Loading the embedder reads files: do it off the event loop (the dev server flags
            # blocking calls on its loop).
            await asyncio.to_thread(settings_embeddings, settings)
            stack = AsyncExitStack()
            _shared["service"] = await stack.enter_async_context(open_memory_service(settings))
            _shared["stack"] = stack
        service = _shared["service"]
        assert service is not None
        return service


async def aclose_shared_service() -> None:
    """Close the process-wide service (tests, or a server lifespan hook)."""
    stack: AsyncExitStack | None = _shared.pop("stack", None)
    _shared.clear()
    if stack is not None:
        await stack.aclose()

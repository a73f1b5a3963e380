"""Synthetic brain corpora for benchmarks and the tenant-recall test.

Bulk route: the distinct sentences are embedded for real with e5 (passage prefix), stored once
in a staging table, and the brain rows and Mem0 rows are then written server-side with COPY and
INSERT … SELECT. Rows are written already `synced`, with Mem0 payloads in exactly the shape
Mem0's own `add` produces, so invariant I1 holds and search sees an ordinary brain. Embedding
200,000 distinct sentences one by one would take ~40 min on 2 cores and measures nothing the
search path does; reusing a few thousand real vectors across tenants keeps the scan work per
tenant identical.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from langchain_core.embeddings import Embeddings
from psycopg import AsyncConnection

SUBJECTS = [
    "my sister", "our accountant", "the warehouse", "my manager", "the landlord", "our biggest client",
    "the delivery van", "my daughter", "the new intern", "our supplier", "the dentist", "my neighbour",
    "the board", "our bank", "the gym", "my flight", "the insurance", "our website", "the kitchen",
    "my laptop",
]  # fmt: skip
FACTS = [
    "prefers to be contacted by email before noon", "is closed on public holidays",
    "charges an extra fee for weekend work", "moved to a new address in March",
    "needs the invoices in PDF format", "is allergic to peanuts", "renews every January",
    "speaks Portuguese and Spanish", "asked for a discount on the annual plan",
    "is planning a trip to Patagonia", "uses the ProPyme tax regime", "pays suppliers within 30 days",
    "wants weekly progress reports", "has a meeting every Tuesday at 10", "likes green tea",
    "is saving for a new car", "works remotely on Fridays", "keeps the spare key in the blue box",
    "requires two signatures on payments", "switched to a vegetarian diet",
]  # fmt: skip


def synthetic_texts(n: int, seed: int = 7) -> list[str]:
    """`n` distinct, plausible one-line memories."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add(f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(FACTS)} (note {rng.randrange(10**6)}).")
    return sorted(out)


def embed_texts(embeddings: Embeddings, texts: list[str], batch: int = 64) -> list[list[float]]:
    vectors: list[list[float]] = []
    for i in range(0, len(texts), batch):
        vectors.extend(embeddings.embed_documents(texts[i : i + batch]))
    return vectors


async def aembed_corpus(
    console: Any, embeddings: Embeddings, distinct: int
) -> tuple[list[str], list[list[float]]]:
    """`distinct` synthetic sentences and their real e5 vectors, with a status line and timing."""
    texts = synthetic_texts(distinct)
    t0 = time.perf_counter()
    with console.status(f"embedding {len(texts):,} distinct sentences with e5"):
        vectors = await asyncio.to_thread(embed_texts, embeddings, texts)
    console.print(f"embedded {len(texts):,} sentences in {time.perf_counter() - t0:.1f}s")
    return texts, vectors


async def bulk_load(
    conn: AsyncConnection[Any],
    *,
    texts: list[str],
    vectors: list[list[float]],
    entities: int,
    per_entity: int,
    scope: str = "user",
    entity_prefix: str = "tenant",
    collection: str = "brain_mem0",
    seed: int = 11,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write `entities * per_entity` synced memories into the brain table and a Mem0 collection."""
    rng = random.Random(seed)
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_vectors (vid int PRIMARY KEY, v vector)")
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS bench_assign (slug text, scope text, entity text, vid int)"
    )
    await conn.execute("TRUNCATE bench_vectors, bench_assign")
    async with conn.cursor().copy("COPY bench_vectors (vid, v) FROM STDIN") as copy:
        for vid, vec in enumerate(vectors):
            await copy.write_row((vid, "[" + ",".join(f"{x:.7g}" for x in vec) + "]"))
    total = 0
    async with conn.cursor().copy("COPY bench_assign (slug, scope, entity, vid) FROM STDIN") as copy:
        for e in range(entities):
            entity = f"{entity_prefix}-{e}"
            for j in range(per_entity):
                await copy.write_row((f"fact_{j}", scope, entity, rng.randrange(len(texts))))
                total += 1
            if on_progress is not None:
                on_progress(per_entity)
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS bench_texts (vid int PRIMARY KEY, t text)")
    await conn.execute("TRUNCATE bench_texts")
    async with conn.cursor().copy("COPY bench_texts (vid, t) FROM STDIN") as copy:
        for vid, text in enumerate(texts):
            await copy.write_row((vid, text))
    # One statement per store, all server-side: no per-row round trips.
    await conn.execute(
        "INSERT INTO brain_memories (scope, entity_id, slug, content, category, content_hash, memory_id,"
        " sync_state) SELECT a.scope, a.entity, a.slug, t.t, 'fact', encode(sha256(convert_to(t.t, 'UTF8')),"
        " 'hex'), gen_random_uuid(), 'synced' FROM bench_assign a JOIN bench_texts t USING (vid)"
    )
    await conn.execute(
        f"INSERT INTO {collection} (id, vector, payload)"
        " SELECT m.memory_id, v.v, jsonb_build_object('user_id', m.scope || ':' || m.entity_id,"
        " 'data', m.content, 'hash', md5(m.content), 'text_lemmatized', m.content, 'role', 'user',"
        " 'created_at', now()::text, 'updated_at', now()::text, 'brain_id', m.id::text, 'slug', m.slug,"
        " 'scope', m.scope, 'entity', m.entity_id, 'category', m.category, 'version', m.version,"
        " 'content_hash', m.content_hash)"
        " FROM brain_memories m JOIN bench_assign a ON a.scope = m.scope AND a.entity = m.entity_id"
        " AND a.slug = m.slug JOIN bench_vectors v ON v.vid = a.vid".encode()
    )
    await conn.execute(f"ANALYZE brain_memories; ANALYZE {collection}".encode())
    return total

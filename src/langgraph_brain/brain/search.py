"""Search of one entity's memories: rank candidates for a mode, then join them back to rows.

Ranking (`arank`) trusts nothing: Mem0's hits and the full-text hits are only candidates.
`ajoin_hits` re-reads every candidate from the brain table under the tenant, sync and
category filters, so a hit is returned only if it is a synced row of the caller (defence in
depth on top of row-level security). The scoring itself lives in `retrieval.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from .index import IndexHit, MemoryIndex, entity_key
from .models import SearchHit
from .query_signals import CANDIDATE_SIGNALS_SQL, cross_lingual, states_time, temporal_question
from .ranking import Candidate, rescore
from .retrieval import (
    RankedHit,
    RetrievalOptions,
    SearchMode,
    informative,
    keyword_hits,
    keyword_query,
    neighbour_slugs,
    relative_fuse,
    rrf_fuse,
)
from .rows import JOIN_HITS_SQL, Tenancy
from .validation import Scope


class Searcher(Protocol):
    """What search needs from its caller (a `MemoryService` provides all three)."""

    index: MemoryIndex
    tenancy: Tenancy
    retrieval: RetrievalOptions


@dataclass
class _CallSearcher:
    """A `Searcher` whose options are one call's (`asearch(..., retrieval=)`)."""

    index: MemoryIndex
    tenancy: Tenancy
    retrieval: RetrievalOptions


async def asearch_entity(
    searcher: Searcher,
    scope: Scope,
    entity: str,
    query: str,
    k: int,
    category: str | None,
    mode: SearchMode,
    options: RetrievalOptions | None = None,
) -> list[SearchHit]:
    """The best `k` synced memories of one entity for `query` in `mode` (arguments validated).

    `options` replaces the searcher's `RetrievalOptions` for this call. With an importance or
    recency weight, the vector and keyword modes bring max(2k, 10) candidates (at most
    `candidates`), not just `k`, so that the final score (`ranking`) can lift a memory the mode
    alone ranked a little below `k`; hybrid always brings `candidates` from each side. Reading 50
    candidates in vector mode cost a small tenant's search 1.4x (bench/bench_signals.py).
    """
    opts = options or searcher.retrieval
    if options is not None:
        searcher = _CallSearcher(searcher.index, searcher.tenancy, options)
    weighted = opts.importance_weight > 0 or opts.recency_weight > 0
    depth = max(k, min(opts.candidates, max(2 * k, 10))) if weighted else k
    hits, neighbours = await arank(searcher, scope, entity, query, depth, category, mode)
    return await ajoin_hits(searcher.tenancy, scope, entity, hits, k, neighbours, category, opts)


async def arank(
    searcher: Searcher, scope: Scope, entity: str, query: str, k: int, category: str | None, mode: SearchMode
) -> tuple[Sequence[IndexHit | RankedHit], dict[str, float]]:
    """Candidates best first for `mode`, and neighbour slugs with their scores (hybrid only).

    Nothing here is trusted yet: `ajoin_hits` re-reads every row under the tenant filter.
    """
    key = entity_key(scope, entity)
    index, tenancy = searcher.index, searcher.tenancy
    if mode == "vector":
        with tenancy.bind_index(scope, entity):
            return await index.asearch(query, entity_key=key, k=k, category=category), {}
    if mode == "keyword":
        return await akeyword(searcher, scope, entity, query, k, category), {}
    # Hybrid: the embedding (on the embedder's own thread) and the full-text query overlap. Each list
    # brings more than k candidates so that fusion can promote an item ranked low in one list
    # but high in the other.
    opts = searcher.retrieval
    depth = max(k, opts.candidates)
    if index.approximate(key):
        # A large tenant (it has its own approximate index): BM25 over every row that shares a word
        # with the query would cost in proportion to the tenant, so the keyword side only re-scores
        # the vector side's candidates, a wider set of them. Keyword-only matches are given up.
        with tenancy.bind_index(scope, entity):
            vector_hits = await index.asearch(query, entity_key=key, k=depth * 4, category=category)
        within = [h.memory_id for h in vector_hits]
        keyword = await akeyword(
            searcher, scope, entity, query, depth, category, within=within, informative_only=True
        )
    else:
        with tenancy.bind_index(scope, entity):  # gather's tasks copy the bound tenant
            vector_hits, keyword = await asyncio.gather(
                index.asearch(query, entity_key=key, k=depth, category=category),
                akeyword(searcher, scope, entity, query, depth, category, informative_only=True),
            )
    vector = [RankedHit(h.memory_id, h.score, h.metadata.get("slug")) for h in vector_hits]
    switched, timed = await aquery_signals(searcher, scope, entity, query, vector, keyword)
    if switched:  # memories in several languages: the keyword side would judge only some of them
        keyword = []
    weights = [opts.vector_weight, opts.keyword_weight]
    if opts.fusion == "rrf":
        fused = rrf_fuse([vector, keyword], weights, rrf_k=opts.rrf_k)
    else:
        fused = relative_fuse([vector, keyword], weights)
    if timed:  # a "when" question: candidates stating a time move up (stable sort keeps ties)
        boosted = [RankedHit(h.memory_id, h.score + opts.temporal_weight, h.slug) for h in fused]
        fused = sorted(
            (b if h.memory_id in timed else h for h, b in zip(fused, boosted, strict=True)),
            key=lambda h: -h.score,
        )
    neighbours: dict[str, float] = {}
    if opts.neighbour_weight > 0:
        for seed in fused[: opts.neighbour_seeds]:
            for slug in neighbour_slugs(seed.slug or ""):
                neighbours[slug] = max(neighbours.get(slug, 0.0), opts.neighbour_weight * seed.score)
    return fused, neighbours


async def aquery_signals(
    searcher: Searcher,
    scope: Scope,
    entity: str,
    query: str,
    vector: Sequence[RankedHit],
    keyword: Sequence[RankedHit],
) -> tuple[bool, set[str]]:
    """Hybrid mode's per-query signals (`query_signals`): whether the cross-lingual switch
    fires, and the ids of the candidates that state a time when `query` asks when (else none).
    One statement under the tenant, skipped when both signals are turned off."""
    opts = searcher.retrieval
    depth = opts.cross_lingual_depth
    when = opts.temporal_weight > 0 and temporal_question(query)
    if not depth and not when:
        return False, set()
    top, keyword_top = [h.memory_id for h in vector[:depth]], [h.memory_id for h in keyword[:depth]]
    ids = [h.memory_id for h in [*vector, *keyword]] if when else top + keyword_top
    params = {"query": query, "top": top, "keyword_top": keyword_top, "when": when}
    params |= {"scope": scope, "entity": entity, "ids": ids}
    rows = await searcher.tenancy.afetchall(scope, entity, CANDIDATE_SIGNALS_SQL, params)
    languages = {r["memory_id"]: r["lang"] or "" for r in rows}
    switched = depth > 0 and cross_lingual(
        languages.get(None, ""),
        [languages.get(h.memory_id, "") for h in vector[:depth]],
        [languages.get(h.memory_id, "") for h in keyword[:depth]],
    )
    timed = {r["memory_id"] for r in rows if r["memory_id"] and r["content"] and states_time(r["content"])}
    return switched, timed


async def akeyword(
    searcher: Searcher,
    scope: Scope,
    entity: str,
    query: str,
    limit: int,
    category: str | None,
    *,
    within: Sequence[str] | None = None,
    informative_only: bool = False,
) -> list[RankedHit]:
    """BM25 candidates from Postgres full-text search, in a transaction for this tenant.
    With `informative_only` (hybrid fusion), none when the candidates all hold the same query
    words (`retrieval.informative`): such a list cannot tell them apart by what they say."""
    statement, params = keyword_query(
        scope, entity, query, limit=limit, category=category, options=searcher.retrieval, within=within
    )
    rows = await searcher.tenancy.afetchall(scope, entity, statement, params)
    return keyword_hits(rows) if informative(rows) or not informative_only else []


async def ajoin_hits(
    tenancy: Tenancy,
    scope: Scope,
    entity: str,
    hits: Sequence[IndexHit | RankedHit],
    k: int,
    neighbours: Mapping[str, float] | None = None,
    category: str | None = None,
    options: RetrievalOptions | None = None,
) -> list[SearchHit]:
    """Keep only hits that are synced rows of this very entity (defence in depth), best first.

    `neighbours` maps slugs to a score (hybrid sequence expansion); those rows are read in the
    same statement, under the same tenant, sync and category filters, and a row found both
    ways keeps the higher score. Every joined candidate is then given its final score
    (`ranking.rescore` with `options`' weights: relevance, importance, recency) before the
    best `k` are kept; with both weights 0 the mode's order and scores stand.
    """
    if not hits and not neighbours:
        return []
    opts = options or RetrievalOptions()
    ids = [h.memory_id for h in hits]
    slugs = list(neighbours or {})
    rows = await tenancy.afetchall(
        scope, entity, JOIN_HITS_SQL, (ids, slugs, category, category, scope, entity)
    )
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
    order = sorted(scored, key=lambda mid: -scored[mid])
    ranked = rescore(
        [Candidate(mid, scored[mid], by_id[mid]["importance"], by_id[mid]["updated_at"]) for mid in order],
        datetime.now(UTC),
        importance_weight=opts.importance_weight,
        recency_weight=opts.recency_weight,
        half_life_days=opts.recency_half_life_days,
    )
    return [
        SearchHit(
            by_id[c.key]["slug"],
            by_id[c.key]["content"],
            by_id[c.key]["category"],
            c.score,
            by_id[c.key]["updated_at"],
        )
        for c in ranked[:k]
    ]

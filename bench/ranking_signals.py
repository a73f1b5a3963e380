"""Per-question signals for the replayed rankings of bench/ranking_candidates.py.

Everything here is computed from one record of bench/eval_ranking.py (the BM25 inputs, the
candidates' languages and texts), so a configuration stays a pure function of the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_brain.brain import query_signals

UNKNOWN_LANGUAGES = query_signals.UNKNOWN_LANGUAGES


def idf(n: float, df: float) -> float:
    """BM25's idf, as in retrieval.KEYWORD_SQL (a term no memory holds gets the largest idf)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def bm25(rec: Mapping[str, Any], slug: str, k1: float = 1.2, b: float = 0.75, common: bool = True) -> float:
    """The keyword score of `slug` recomputed from the record (equals the SQL's, checked).
    `common=False` leaves out lexemes held by more than half the tenant's memories."""
    stats = rec["bm25"]
    dl = rec["lengths"].get(slug, stats["avgdl"])
    total = 0.0
    for term, tf in rec["matched"].get(slug, {}).items():
        if not common and stats["df"][term] > stats["n"] / 2:
            continue
        norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / stats["avgdl"]))
        total += idf(stats["n"], stats["df"][term]) * norm
    return total


def attainable(rec: Mapping[str, Any], own_only: bool = True) -> float:
    """The BM25 of a memory of average length holding each query lexeme once: the most the
    query's words can say. With `own_only`, only the lexemes of the query's own indexed form
    (`query_terms`), not the other languages' stems added for a query of unknown language."""
    stats = rec["bm25"]
    terms = rec.get("query_terms") if own_only else None
    terms = terms if terms is not None else list(stats["df"])
    return sum(idf(stats["n"], stats["df"].get(t, 0)) for t in terms)


def matched_share(rec: Mapping[str, Any], slug: str) -> float:
    """Share of the query's idf mass (own lexemes) that `slug` holds."""
    stats = rec["bm25"]
    terms = rec.get("query_terms") or list(stats["df"])
    total = sum(idf(stats["n"], stats["df"].get(t, 0)) for t in terms)
    got = sum(idf(stats["n"], stats["df"].get(t, 0)) for t in terms if t in rec["matched"].get(slug, {}))
    return got / total if total else 0.0


def cross_lingual(rec: Mapping[str, Any], depth: int = 3) -> bool:
    """The production switch (`query_signals.cross_lingual`) on the record's top-`depth` lists."""
    languages = rec["languages"]
    return query_signals.cross_lingual(
        rec["query_language"],
        [languages.get(s, "") for s, _ in rec["vector"][:depth]],
        [languages.get(s, "") for s, _ in rec["keyword"][:depth]],
    )


temporal_question = query_signals.temporal_question
states_time = query_signals.states_time


def word_positions(rec: Mapping[str, Any]) -> dict[str, set[int]]:
    """Query lexeme -> the query words (token positions) it comes from. brain_search_tsv keeps
    the stemmed lexemes at positions 1..M and the unstemmed words at M+1..2M (tsvector
    concatenation shifts the second operand), so position p and p + M are the same word."""
    positions: Mapping[str, Sequence[int]] = rec.get("query_positions") or {}
    top = max((p for ps in positions.values() for p in ps), default=0)
    half = top // 2
    return {t: {p - half if p > half else p for p in ps} for t, ps in positions.items()}


def matched_words(rec: Mapping[str, Any], slug: str) -> int:
    """How many distinct query words `slug` holds (a stem and its unstemmed word count once)."""
    words = word_positions(rec)
    found: set[int] = set()
    for term in rec["matched"].get(slug, {}):
        found |= words.get(term, set())
    return len(found)

""" "As of" reads: what one entity's memories said at a past instant, answered from `brain_history`.

Every committed create, update and forget appends a `brain_history` entry carrying the new content
(none for a forget), so the value of a slug at instant T is the `new_content` of its latest entry
created at or before T; the slug is absent at T when that entry is a forget (or there is none yet).
`MemoryService.aget/alist/asearch(..., as_of=)` call into this module; without `as_of` they never
touch it, so today's reads keep their exact cost.

Search over past versions cannot use the index (Mem0 holds today's vectors only), so it is:

1. keyword: BM25 over the contents valid at T, computed in the statement with the same
   `brain_search_tsv` the live column uses (idf and average length are those of the past set);
2. candidates: the `AS_OF_CANDIDATES` best keyword hits, topped up with the most recently
   written other versions when there are fewer, so a small entity is re-ranked in full;
3. vector re-rank: the query and those candidates' contents are embedded on the fly (one batch
   of at most max(k, `AS_OF_CANDIDATES`) documents) and the candidates are ordered by cosine
   (modes "hybrid" and "vector"). Mode "keyword" skips the embedding and returns the BM25 hits.
   An index that embeds remotely (the hosted platform) has no local embedder: the search is then
   keyword-only. Scores are cosines (or BM25), not comparable with today's hybrid scores.

Metadata is not versioned in `brain_history`, so a past `MemoryRecord` carries `{}` as metadata,
`sync_state` "history", no Mem0 id, `created_at` its row's first entry and `updated_at` the
entry that set this value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

from .errors import MemoryValidationError
from .index import MemoryIndex
from .models import HistoryEntry, MemoryRecord, SearchHit
from .retrieval import QUERY_TERMS_SQL, RetrievalOptions, SearchMode
from .rows import Tenancy
from .validation import Scope

#: How many past versions a search embeds and re-ranks at most (one embedding batch).
AS_OF_CANDIDATES = 32

# The version of each slug valid at %(as_of)s: the latest entry at or before it per slug, kept
# only when it carries content (a forget's entry has none). `first` is the entity's first entry
# ever, read in the same round trip so that "before anything was stored" is told apart from
# "everything was forgotten"; the LEFT JOIN returns it even when no version is valid.
# Ordered by created_at then id: within one key, writes are serialised by the key lock, so both
# orders agree; created_at is what the question is about.
_VALID_CTES = """
WITH first AS (
    SELECT min(created_at) AS first_at FROM brain_history
    WHERE scope = %(scope)s AND entity_id = %(entity)s
), latest AS (
    SELECT DISTINCT ON (slug) brain_id, slug, action, new_content, category, version, created_at
    FROM brain_history
    WHERE scope = %(scope)s AND entity_id = %(entity)s AND created_at <= %(as_of)s
      AND (%(slug)s::text IS NULL OR slug = %(slug)s)
    ORDER BY slug, created_at DESC, id DESC
), valid AS (
    SELECT l.*, (SELECT min(h.created_at) FROM brain_history AS h
                 WHERE h.scope = %(scope)s AND h.entity_id = %(entity)s AND h.brain_id = l.brain_id)
                AS born_at
    FROM latest AS l
    WHERE l.new_content IS NOT NULL AND l.action <> 'forget'
      AND (%(category)s::text IS NULL OR l.category = %(category)s)
      AND (%(after)s::text IS NULL OR l.slug > %(after)s)
    {rest}
)"""
#: Rows valid at an instant, for get and list (keyset paging on slug, like `rows.LIST_ROWS_SQL`).
VALID_AT_SQL = (
    _VALID_CTES.replace("{rest}", "ORDER BY l.slug LIMIT %(limit)s")
    + "\nSELECT first.first_at, v.* FROM first LEFT JOIN valid AS v ON true ORDER BY v.slug"
)

# BM25 over the past contents valid at the instant (the formula of `retrieval.KEYWORD_SQL`, with
# the query's lexemes from the same function). Every valid version's tsvector is computed here:
# the cost grows with the entity's size, which an occasional "as of" question can afford. The
# rows come back best first, then the newest other versions, up to %(limit)s candidates.
AS_OF_SEARCH_SQL = (
    _VALID_CTES.replace("{rest}", "")
    + """, docs AS (
    SELECT v.*, brain_search_tsv(v.new_content) AS tsv FROM valid AS v
), q AS (
"""
    + QUERY_TERMS_SQL
    + """), stats AS (
    SELECT greatest(count(*), 1)::float8 AS n,
           greatest(coalesce(avg(length(tsv)), 1), 1)::float8 AS avgdl FROM docs
), hits AS (
    SELECT d.slug, u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 AS tf,
           length(d.tsv)::float8 AS dl
    FROM docs AS d CROSS JOIN LATERAL unnest(d.tsv) AS u JOIN q ON q.term = u.lexeme
), df AS (
    SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme
), bm25 AS (
    SELECT h.slug, sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
           * h.tf * (%(k1)s + 1) / (h.tf + %(k1)s * (1 - %(b)s + %(b)s * h.dl / s.avgdl))) AS score
    FROM hits AS h JOIN df USING (lexeme) CROSS JOIN stats AS s GROUP BY h.slug
), ranked AS (
    SELECT d.slug, d.new_content, d.category, d.created_at, b.score AS bm25
    FROM docs AS d LEFT JOIN bm25 AS b USING (slug)
    ORDER BY b.score DESC NULLS LAST, d.created_at DESC, d.slug LIMIT %(limit)s
)
SELECT first.first_at, r.* FROM first LEFT JOIN ranked AS r ON true
ORDER BY r.bm25 DESC NULLS LAST, r.created_at DESC, r.slug
"""
)


class PastReader(Protocol):
    """What as-of reads need from their caller (a `MemoryService` provides all three)."""

    index: MemoryIndex
    tenancy: Tenancy
    retrieval: RetrievalOptions


def validate_as_of(value: object, *, now: datetime | None = None) -> datetime:
    """The instant an "as of" read asks about, as an aware UTC datetime.

    Accepts an aware `datetime`, a `date` or an ISO 8601 string. A date (``2025-03-01``) means the
    end of that day in UTC, capped at now, so today's date asks about now. A datetime without a
    timezone is refused rather than guessed.

    Raises:
        MemoryValidationError: not a date/datetime, no timezone, or in the future.
    """
    now = now or datetime.now(UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise MemoryValidationError(
                f"as_of {text[:40]!r} is not an ISO date or datetime; write e.g. '2025-03-01' or"
                " '2025-03-01T12:00:00+00:00'."
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        if value > now.astimezone(UTC).date():
            raise MemoryValidationError(
                f"as_of {value.isoformat()} is in the future (today is {now.date().isoformat()}, UTC);"
                " memory can only answer about the past. Leave as_of out to ask about now."
            )
        value = min(datetime.combine(value, time.max, tzinfo=UTC), now)
    if not isinstance(value, datetime):
        raise MemoryValidationError(
            f"as_of must be a date, a datetime or an ISO 8601 string, not {type(value).__name__}."
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise MemoryValidationError(
            f"as_of {value.isoformat()!r} has no timezone; add one, e.g. '{value.isoformat()}+00:00'"
            " (or give just the date)."
        )
    if value > now:
        raise MemoryValidationError(
            f"as_of {value.isoformat()} is in the future (now is {now.isoformat(timespec='seconds')});"
            " memory can only answer about the past. Leave as_of out to ask about now."
        )
    return value.astimezone(UTC)


def _params(scope: Scope, entity: str, as_of: datetime, **extra: Any) -> dict[str, Any]:
    base = {"scope": scope, "entity": entity, "as_of": as_of, "slug": None, "category": None, "after": None}
    return {**base, **extra}


def _check_existed(rows: Sequence[Mapping[str, Any]], scope: Scope, as_of: datetime) -> None:
    """Refuse an instant before the entity's first memory (`first_at` comes with every row)."""
    first = rows[0]["first_at"] if rows else None
    if first is None or as_of < first:
        since = f"; its first memory dates from {first.isoformat()}" if first is not None else ""
        raise MemoryValidationError(
            f"as_of {as_of.isoformat()} is before this {scope}'s first memory: nothing was stored yet"
            f"{since}. Ask about a later date, or leave as_of out to ask about now."
        )


def _record(row: Mapping[str, Any], scope: Scope, entity: str) -> MemoryRecord:
    return MemoryRecord(
        id=row["brain_id"], scope=scope, entity_id=entity, slug=row["slug"], content=row["new_content"],
        category=row["category"], metadata={}, memory_id=None, sync_state="history",
        version=row["version"], created_at=row["born_at"], updated_at=row["created_at"],
    )  # fmt: skip


async def alist_at(
    reader: PastReader,
    scope: Scope,
    entity: str,
    as_of: object,
    *,
    slug: str | None = None,
    category: str | None = None,
    after_slug: str | None = None,
    limit: int = 100,
) -> list[MemoryRecord]:
    """The memories of one entity valid at `as_of`, ordered by slug (other arguments validated).

    Args:
        as_of: an aware datetime, a date or an ISO 8601 string (see `validate_as_of`).

    Raises:
        MemoryValidationError: `as_of` is invalid, in the future or before the entity's first memory.
    """
    at = validate_as_of(as_of)
    params = _params(scope, entity, at, slug=slug, category=category, after=after_slug, limit=limit)
    rows = await reader.tenancy.afetchall(scope, entity, VALID_AT_SQL, params)
    _check_existed(rows, scope, at)
    return [_record(r, scope, entity) for r in rows if r["slug"] is not None]


def _embedder(index: MemoryIndex) -> Embeddings | None:
    """The index's local embedder, if it has one (Mem0 OSS does; the hosted platform does not)."""
    found = getattr(index, "embeddings", None)
    return found if isinstance(found, Embeddings) else None


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


async def asearch_at(
    reader: PastReader,
    scope: Scope,
    entity: str,
    query: str,
    as_of: object,
    k: int,
    category: str | None,
    mode: SearchMode,
) -> list[SearchHit]:
    """The best `k` memories of one entity for `query` among the versions valid at `as_of` (the
    other arguments validated); at most max(k, AS_OF_CANDIDATES) past contents are embedded.

    Raises:
        MemoryValidationError: `as_of` is invalid, in the future or before the entity's first memory.
    """
    at = validate_as_of(as_of)
    opts = reader.retrieval
    params = _params(scope, entity, at, category=category, query=query, limit=max(k, AS_OF_CANDIDATES),
                     k1=opts.bm25_k1, b=opts.bm25_b)  # fmt: skip
    rows = await reader.tenancy.afetchall(scope, entity, AS_OF_SEARCH_SQL, params)
    _check_existed(rows, scope, at)
    rows = [r for r in rows if r["slug"] is not None]
    by_slug = {r["slug"]: r for r in rows}
    keyword = [(r["slug"], float(r["bm25"])) for r in rows if r["bm25"] is not None]
    embedder = _embedder(reader.index)
    if mode == "keyword" or embedder is None or not rows:
        ranked = keyword
    else:
        # The candidates' past contents are embedded now: the index only holds today's vectors.
        # The cosine alone orders them (a re-rank, not a fusion): over a handful of candidates,
        # min-max scaled BM25 would let one shared stem outweigh the meaning.
        vector_of_query = await embedder.aembed_query(query)
        documents = await embedder.aembed_documents([r["new_content"] for r in rows])
        scored = [(r["slug"], _cosine(vector_of_query, d)) for r, d in zip(rows, documents, strict=True)]
        ranked = sorted(scored, key=lambda hit: -hit[1])
    return [
        SearchHit(
            slug, by_slug[slug]["new_content"], by_slug[slug]["category"], score, by_slug[slug]["created_at"]
        )
        for slug, score in ranked[:k]
    ]


def with_validity(rows: Sequence[Mapping[str, Any]]) -> list[HistoryEntry]:
    """History entries (newest first, as `rows.SELECT_HISTORY_SQL` returns them) with their intervals.

    An entry's `valid_from` is its own time and its `valid_to` the time of the next entry of the
    same slug (None: still current). Entries are newest first, so every later entry of a slug
    comes before it and is within any LIMIT: the interval is exact even for a truncated page.
    """
    later: dict[str, datetime] = {}
    out = []
    for row in rows:
        entry = HistoryEntry(**row, valid_from=row["created_at"], valid_to=later.get(row["slug"]))
        later[row["slug"]] = row["created_at"]
        out.append(entry)
    return out


__all__ = ["AS_OF_CANDIDATES", "AS_OF_SEARCH_SQL", "VALID_AT_SQL", "alist_at", "asearch_at",
           "validate_as_of", "with_validity"]  # fmt: skip

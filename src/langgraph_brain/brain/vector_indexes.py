"""Exact vector search for small tenants, an approximate (HNSW) index for each large one.

A search scans its tenant exactly: the btree on the Mem0 key finds the tenant's rows and each is
compared with the query. That is exact (every memory of a small tenant can be found, which a
global approximate index does not promise: plain Mem0 on its HNSW layout lost a 5-memory tenant
among 200,000 memories) but its cost grows with the tenant. So a tenant with at least
`threshold` memories gets a partial HNSW index of its own (`WHERE payload->>'user_id' = key`),
built `CONCURRENTLY` (saves and searches go on while it builds) and recorded in
`brain_vector_indexes` once valid. Search reads that registry (cached per process for
`REGISTRY_TTL` seconds) and asks a registered tenant through its index, with pgvector's iterative
scan so that a category filter still fills `k`. Until the registry names a tenant, its searches
stay exact, so crossing the threshold never returns an error or fewer results.

An index whose tenant shrinks below half the threshold is dropped (registry row first). Building
needs the owner role (`brain maintenance index`, or `aensure_vector_indexes` from the owner's
pool after a bulk import); the application role only reads the registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool

from .index import IndexHit
from .mem0_payload import COLLECTION

DEFAULT_THRESHOLD = 5_000
REGISTRY_TTL = 30.0
#: Candidates the HNSW graph walk keeps (pgvector's `hnsw.ef_search`, default 40); at least 4 x k.
EF_SEARCH = 200
#: Graph quality at build (pgvector's `ef_construction`, default 64): near-duplicate memories
#: (the same fact saved many times over) need a denser graph to keep recall.
EF_CONSTRUCTION = 128

REGISTRY_SQL = "SELECT index_key, dims FROM brain_vector_indexes"
_COUNTS_SQL = (
    f"SELECT payload->>'user_id' AS key, count(*) AS n FROM {COLLECTION} GROUP BY 1 HAVING count(*) >= %s"
)


@dataclass
class IndexPlan:
    """What `aensure_vector_indexes` did (or, with `dry_run`, would do)."""

    created: dict[str, int] = field(default_factory=dict)  # Mem0 key -> rows
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def index_name(key: str) -> str:
    """A stable, valid identifier for the tenant `key` (Mem0 keys may hold any character)."""
    return "brain_mem0_hnsw_" + hashlib.sha256(key.encode()).hexdigest()[:20]


def approximate_search_sql(key: str, dims: int, category: bool) -> sql.Composed:
    """The search statement that the partial index of `key` can serve.

    The key is a literal, not a parameter: the planner can only prove a partial index's
    predicate from a constant. Params: vector, [category], vector, k.
    """
    vec = sql.SQL("vector::vector({d}) <=> %s::vector({d})").format(d=sql.Literal(dims))
    where = sql.SQL("payload->>'user_id' = {key}").format(key=sql.Literal(key))
    if category:
        where = sql.SQL("{} AND payload->>'category' = %s").format(where)
    return sql.SQL(
        "SELECT id::text, {vec} AS distance, payload FROM {table} WHERE {where} ORDER BY {vec} LIMIT %s"
    ).format(vec=vec, table=sql.Identifier(COLLECTION), where=where)


#: Set inside the search's transaction: a wider walk; iterative scans so that rows removed by the
#: category filter are replaced rather than missing (results may come slightly out of order, and
#: are re-sorted by distance); and no sort, so the planner walks the tenant's index rather than
#: sorting the tenant, which is the exact scan the index exists to avoid.
APPROXIMATE_SETTINGS_SQL = (
    "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),"
    " set_config('enable_sort', 'off', true)"
)


async def aensure_vector_indexes(
    pool: AsyncConnectionPool[Any], *, threshold: int = DEFAULT_THRESHOLD, dry_run: bool = False
) -> IndexPlan:
    """Create the missing partial HNSW indexes of tenants with >= `threshold` memories and drop
    those of tenants below half of it. Run as the owner; idempotent; safe while the app runs.
    """
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, not {threshold}")
    plan = IndexPlan()
    async with pool.connection() as conn:
        await conn.set_autocommit(True)  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction
        large = dict(await _fetch(conn, _COUNTS_SQL, (threshold // 2,)))
        registered = dict(await _fetch(conn, REGISTRY_SQL))
        for key in registered:
            if key in large:
                plan.kept.append(key)
                continue
            plan.dropped.append(key)
            if not dry_run:
                await conn.execute("DELETE FROM brain_vector_indexes WHERE index_key = %s", (key,))
                await conn.execute(
                    sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(index_name(key)))
                )
        todo = {k: n for k, n in large.items() if n >= threshold and k not in registered}
        if not todo:
            return plan
        dims = int((await _fetch(conn, f"SELECT vector_dims(vector) FROM {COLLECTION} LIMIT 1"))[0][0])
        for key, rows in sorted(todo.items()):
            plan.created[key] = rows
            if not dry_run:
                await _abuild(conn, key, dims, rows)
    return plan


async def _fetch(conn: Any, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows as tuples, whatever row factory the caller's pool uses."""
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(query.encode(), params)
    rows: list[tuple[Any, ...]] = await cur.fetchall()
    return rows


async def _abuild(conn: Any, key: str, dims: int, rows: int) -> None:
    name = sql.Identifier(index_name(key))
    # An earlier build that failed half-way leaves an invalid index under this name: start over.
    await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name))
    await conn.execute(
        sql.SQL(
            "CREATE INDEX CONCURRENTLY {name} ON {table} USING hnsw ((vector::vector({d})) vector_cosine_ops)"
            " WITH (ef_construction = {ef}) WHERE payload->>'user_id' = {key}"
        ).format(
            name=name,
            table=sql.Identifier(COLLECTION),
            d=sql.Literal(dims),
            key=sql.Literal(key),
            ef=sql.Literal(EF_CONSTRUCTION),
        )
    )
    await conn.execute(
        "INSERT INTO brain_vector_indexes (index_key, index_name, dims, rows) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (index_key) DO UPDATE SET index_name = EXCLUDED.index_name, dims = EXCLUDED.dims,"
        " rows = EXCLUDED.rows, created_at = now()",
        (key, index_name(key), dims, rows),
    )


def search_statement(
    vector: list[float], entity_key: str, k: int, category: str | None, dims: int | None
) -> tuple[Any, list[Any]]:
    """Mem0's pgvector search (same SQL, same score), or through the tenant's own HNSW index when
    the registry gives it one (`dims`)."""
    if dims:
        params: list[Any] = [vector] + ([category] if category is not None else []) + [vector, k]
        return approximate_search_sql(entity_key, dims, category is not None), params
    where = "payload->>'user_id' = %s"
    params = [vector, entity_key]
    if category is not None:
        where += " AND payload->>'category' = %s"
        params.append(category)
    params.append(k)
    query = (
        f"SELECT id::text, vector <=> %s::vector AS distance, payload FROM {COLLECTION}"
        f" WHERE {where} ORDER BY distance LIMIT %s"
    )
    return query.encode(), params


def rows_to_hits(rows: list[Any], *, approximate: bool) -> list[IndexHit]:
    """(id, distance, payload) rows of `search_statement` as hits, nearest first."""
    if approximate:  # iterative scans may return rows slightly out of order
        rows = sorted(rows, key=lambda r: r[1])
    return [
        IndexHit(
            memory_id=str(memory_id),
            score=max(0.0, 1.0 - float(distance)),
            content=str((payload or {}).get("data", "")),
            metadata=dict(payload or {}),
        )
        for memory_id, distance, payload in rows
    ]

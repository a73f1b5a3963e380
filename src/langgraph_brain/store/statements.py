"""SQL the store adds to the brain's: recency listings and the namespaces that hold memories."""

from __future__ import annotations

from ..brain.rows import ROW_COLUMNS

# One entity's memories, newest first (BaseStore lists by recency), under its tenant transaction.
LIST_ENTITY_SQL = (
    f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
    " AND sync_state <> 'deleting' AND (%s::text IS NULL OR category = %s)"
    " ORDER BY updated_at DESC, slug LIMIT %s OFFSET %s"
)
# Every entity's memories on the admin pool: row-level security decides what a role sees.
LIST_ALL_SQL = (
    f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE sync_state <> 'deleting'"
    " AND (%s::text IS NULL OR scope = %s) AND (%s::text IS NULL OR category = %s)"
    " ORDER BY updated_at DESC, id LIMIT %s OFFSET %s"
)
# The rows behind search hits, by slug, in one statement.
ROWS_BY_SLUG_SQL = (
    f"SELECT {ROW_COLUMNS} FROM brain_memories WHERE scope = %s AND entity_id = %s"
    " AND slug = ANY(%s) AND sync_state <> 'deleting'"
)
ENTITY_CATEGORIES_SQL = (
    "SELECT DISTINCT category FROM brain_memories WHERE scope = %s AND entity_id = %s"
    " AND sync_state <> 'deleting'"
)
ALL_NAMESPACES_SQL = (
    "SELECT DISTINCT scope, entity_id, category FROM brain_memories WHERE sync_state <> 'deleting'"
    " AND (%s::text IS NULL OR scope = %s)"
)

__all__ = [
    "ALL_NAMESPACES_SQL",
    "ENTITY_CATEGORIES_SQL",
    "LIST_ALL_SQL",
    "LIST_ENTITY_SQL",
    "ROWS_BY_SLUG_SQL",
]

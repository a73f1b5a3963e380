"""Archived memories of one entity: list them, and restore one through the save protocol.

`arestore` runs the save protocol's steps (`protocol.py`) with a `restore` history entry:

1. the key lock (`rows.key_lock`);
2. in one tenant transaction: read the archive copy (locked), write the row `pending` with the
   archived content, category and metadata plus a brain_history `restore` entry carrying the text,
   and delete the archive copy;
3. push to Mem0 (`protocol.push`), then mark the row `synced`.

A crash after step 2 leaves a pending row, which the next save of the slug or `reconcile` pushes
(the archive copy is gone with the same commit: nothing is restored twice). Everything runs as
the caller's tenant, so row-level security keeps one entity from listing or restoring another's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from .errors import MemoryNotFoundError, MemoryValidationError
from .index import content_hash
from .models import Actor, SaveResult
from .protocol import SAVE_FAILED_TEMPLATE, finish_save, storage_errors
from .rows import (
    INSERT_ROW_LOGGED_SQL,
    SELECT_ROW_FOR_UPDATE_SQL,
    UPDATE_ROW_LOGGED_SQL,
    fetchone,
    key_lock,
)
from .service import MemoryService
from .validation import validate_slug

_ARCHIVE_COLUMNS = (
    "id, brain_id, scope, entity_id, slug, content, category, metadata, version, importance,"
    " access_count, last_accessed_at, created_at, updated_at, archived_at, policy, reason"
)
SELECT_ARCHIVED_SQL = (
    f"SELECT {_ARCHIVE_COLUMNS} FROM brain_archive WHERE scope = %s AND entity_id = %s AND slug = %s"
    " FOR UPDATE"
)
DELETE_ARCHIVED_SQL = "DELETE FROM brain_archive WHERE id = %s"
LIST_ARCHIVED_SQL = (
    f"SELECT {_ARCHIVE_COLUMNS} FROM brain_archive WHERE scope = %s AND entity_id = %s"
    " AND (%s::text IS NULL OR slug > %s) ORDER BY slug LIMIT %s"
)


@dataclass(frozen=True)
class ArchivedMemory:
    """One archived memory as `brain_archive` keeps it (`slug` is restorable while it is here)."""

    slug: str
    content: str
    category: str
    metadata: dict[str, Any]
    importance: float
    created_at: datetime
    updated_at: datetime
    archived_at: datetime
    policy: str
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (times as ISO strings)."""
        out = asdict(self)
        for key in ("created_at", "updated_at", "archived_at"):
            out[key] = out[key].isoformat()
        return out


def _archived(row: dict[str, Any]) -> ArchivedMemory:
    return ArchivedMemory(
        row["slug"], row["content"], row["category"], row["metadata"], float(row["importance"]),
        row["created_at"], row["updated_at"], row["archived_at"], row["policy"], row["reason"],
    )  # fmt: skip


async def alist_archived(
    service: MemoryService, scope: str, entity_id: str, *, after_slug: str | None = None, limit: int = 100
) -> list[ArchivedMemory]:
    """The archived memories of one user or company, by slug (keyset paging with `after_slug`)."""
    checked_scope, entity = service.normalize(scope, entity_id)
    params = (checked_scope, entity, after_slug, after_slug, max(1, min(int(limit), 1000)))
    rows = await service.tenancy.afetchall(checked_scope, entity, LIST_ARCHIVED_SQL, params)
    return [_archived(r) for r in rows]


async def arestore(
    service: MemoryService,
    scope: str,
    entity_id: str,
    slug: str,
    *,
    actor: Actor | None = None,
    reason: str | None = "restore",
) -> SaveResult:
    """Bring the archived memory `slug` of one user or company back (module docstring).

    Returns the save result ("created"), with the row's new version and Mem0 id.

    Raises:
        MemoryValidationError: bad scope, entity id or slug; or a live memory already has this slug
            (restoring would overwrite it).
        MemoryNotFoundError: this entity has no archived memory with this slug.
        MemoryBackendError: Postgres or Mem0 failed; a committed restore is finished by reconcile.
    """
    checked_scope, entity = service.normalize(scope, entity_id)
    slug = validate_slug(slug)
    with storage_errors(SAVE_FAILED_TEMPLATE, slug=slug):
        async with key_lock(service.pool, checked_scope, entity, slug) as conn:
            async with service.tenancy.transaction(conn, checked_scope, entity):
                key = (checked_scope, entity, slug)
                archived = await fetchone(conn, SELECT_ARCHIVED_SQL, key)
                if archived is None:
                    raise MemoryNotFoundError(
                        f"there is no archived {checked_scope} memory with slug {slug!r};"
                        " `brain retention archived` lists the archived slugs."
                    )
                row = await fetchone(conn, SELECT_ROW_FOR_UPDATE_SQL, key)
                if row is not None and row["sync_state"] != "deleting":
                    raise MemoryValidationError(
                        f"a live {checked_scope} memory {slug!r} exists, and restoring would overwrite it;"
                        " forget it first, or save the archived text under another slug."
                    )
                text, digest = archived["content"], content_hash(archived["content"])
                who, meta = Jsonb(dict(actor or {})), Jsonb(archived["metadata"])
                if row is None:
                    write = await conn.execute(INSERT_ROW_LOGGED_SQL.encode(), (
                        *key, text, archived["category"], meta, digest, "restore", None, who, reason, True,
                    ))  # fmt: skip
                else:  # a forget or archive that crashed half-way: revived, as a save would
                    write = await conn.execute(UPDATE_ROW_LOGGED_SQL.encode(), (
                        text, archived["category"], meta, digest, row["id"],
                        "restore", row["content"], who, reason, True,
                    ))  # fmt: skip
                restored = await write.fetchone()
                await conn.execute(DELETE_ARCHIVED_SQL, (archived["id"],))
            assert restored is not None
            memory_id = await finish_save(service, conn, restored, inserted=row is None)
    return SaveResult("created", checked_scope, entity, slug, restored["version"], memory_id)


def restore(
    service: MemoryService,
    scope: str,
    entity_id: str,
    slug: str,
    *,
    actor: Actor | None = None,
    reason: str | None = "restore",
) -> SaveResult:
    """Blocking twin of `arestore` (from a thread other than the service's event loop)."""
    return service.run_blocking(arestore(service, scope, entity_id, slug, actor=actor, reason=reason))


def list_archived(
    service: MemoryService, scope: str, entity_id: str, *, after_slug: str | None = None, limit: int = 100
) -> list[ArchivedMemory]:
    """Blocking twin of `alist_archived`."""
    return service.run_blocking(alist_archived(service, scope, entity_id, after_slug=after_slug, limit=limit))


__all__ = ["ArchivedMemory", "alist_archived", "arestore", "list_archived", "restore"]

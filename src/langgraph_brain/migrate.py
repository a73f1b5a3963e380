"""`brain migrate`: every schema this package owns, applied deliberately as the owner.

Order: the brain (pgvector, brain tables, Mem0's collection, RLS), LangGraph's checkpoint
tables and the checkpointer's own list (`BrainSaver.setup`), then server auth (API keys), then
background extraction (procrastinate's job tables and the extraction cursors).
Each list is append-only, applies only what is pending, and is safe to run from many processes
at once; re-running is a no-op. Then, when asked, the application role is created or its
grants refreshed (grants cover existing tables only, so re-run after every upgrade).

Privileges: the owner needs CREATE on the database's schema (it owns what it creates) and
CREATEROLE for the application role. `CREATE EXTENSION vector` needs a superuser unless the
extension is already installed in the database (or trusted by the server); on a managed
Postgres, enable it once from the provider's console or as the admin user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from .checkpointers.saver import BrainSaver
from .db.migrations import BRAIN_MIGRATIONS
from .db.migrator import DatabaseNotMigratedError, MigrationSet, MigrationStatus
from .db.rls import acreate_app_role
from .extraction.migrations import EXTRACTION_MIGRATIONS
from .server.keys import AUTH_MIGRATIONS

_VECTOR_SQL = """
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS available,
       (SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'vector') AS trusted,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       has_database_privilege(current_database(), 'CREATE') AS can_create,
       current_user AS role, current_database() AS db
"""


def all_migration_sets() -> tuple[MigrationSet, ...]:
    """Every migration list, in the order `brain migrate` applies them."""
    return (BRAIN_MIGRATIONS, *BrainSaver.migration_sets(), AUTH_MIGRATIONS, EXTRACTION_MIGRATIONS)


@dataclass
class VectorStatus:
    """Whether pgvector is usable here, and if not, who can fix it."""

    installed: str | None
    available: str | None
    can_install: bool
    role: str
    database: str

    @property
    def problem(self) -> str | None:
        if self.installed:
            return None
        if not self.available:
            return "the pgvector extension is not available on this server (install the pgvector package)"
        if not self.can_install:
            return (
                f"role {self.role!r} may not run CREATE EXTENSION vector (it needs a superuser here):"
                f" ask one to run `CREATE EXTENSION vector;` in database {self.database!r}"
                " (managed Postgres: enable pgvector in the console), then migrate again"
            )
        return None


async def avector_status(conn: AsyncConnection[Any]) -> VectorStatus:
    """Read pgvector's state and this role's ability to install it (read-only)."""
    cur = await conn.execute(_VECTOR_SQL)
    names = [c.name for c in cur.description or ()]
    raw: Any = await cur.fetchone()
    row = dict(raw) if isinstance(raw, dict) else dict(zip(names, raw, strict=True))
    can = bool(row["superuser"]) or (bool(row["trusted"]) and bool(row["can_create"]))
    return VectorStatus(row["installed"], row["available"], can, str(row["role"]), str(row["db"]))


@dataclass
class MigrateReport:
    """What `amigrate_all` did."""

    applied: dict[str, list[int]] = field(default_factory=dict)
    status: list[MigrationStatus] = field(default_factory=list)
    app_role: str | None = None


async def astatus_all(conn: AsyncConnection[Any]) -> list[MigrationStatus]:
    """Where every migration list stands (read-only)."""
    return [await s.astatus(conn) for s in all_migration_sets()]


async def amigrate_all(
    conn: AsyncConnection[Any],
    *,
    app_role: str | None = None,
    app_password: str | None = None,
    sets: Sequence[MigrationSet] | None = None,
) -> MigrateReport:
    """Apply every pending migration, then create or refresh the application role.

    Args:
        conn: an autocommit connection of the owner (dict rows).
        app_role: the application role to create or refresh (`acreate_app_role`).
        app_password: its password (None keeps an existing role's password).
        sets: restrict to these lists (default: all).

    Raises:
        DatabaseNotMigratedError: pgvector cannot be installed by this role, or a privilege is
            missing; nothing of the failing list was created.
    """
    vector = await avector_status(conn)
    if vector.problem:
        raise DatabaseNotMigratedError(["brain: needs the vector extension"], detail=vector.problem)
    report = MigrateReport()
    chosen = list(sets or all_migration_sets())
    saver_sets = BrainSaver.migration_sets()
    for s in chosen:
        if s in saver_sets:
            if s.name in report.applied:
                continue
            # setup() takes the checkpointer's lock the way upstream's CONCURRENTLY indexes need.
            before = {m.name: (await m.astatus(conn)).pending for m in saver_sets}
            await BrainSaver(conn).setup()
            report.applied.update(before)
        else:
            report.applied[s.name] = await s.aapply(conn)
    report.status = [await s.astatus(conn) for s in chosen]
    if app_role:
        await acreate_app_role(conn, app_role, password=app_password)
        report.app_role = app_role
    return report


__all__ = [
    "MigrateReport",
    "VectorStatus",
    "all_migration_sets",
    "amigrate_all",
    "astatus_all",
    "avector_status",
]

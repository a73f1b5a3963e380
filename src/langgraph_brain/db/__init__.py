"""Database layer: embedded server, pools, append-only migrations. Imports nothing else of ours."""

from .database import Database, create_database, resolve_database_url
from .embedded import embedded_database_url
from .migrations import BRAIN_MIGRATIONS, MIGRATIONS, amigrate, migrate
from .migrator import DatabaseNotMigratedError, MigrationSet, MigrationStatus, aensure_current
from .pool import CONNECTION_KWARGS, DEFAULT_POOL_TIMEOUT, open_async_pool, open_sync_pool

__all__ = [
    "BRAIN_MIGRATIONS",
    "CONNECTION_KWARGS",
    "DEFAULT_POOL_TIMEOUT",
    "MIGRATIONS",
    "Database",
    "DatabaseNotMigratedError",
    "MigrationSet",
    "MigrationStatus",
    "aensure_current",
    "amigrate",
    "create_database",
    "embedded_database_url",
    "migrate",
    "open_async_pool",
    "open_sync_pool",
    "resolve_database_url",
]

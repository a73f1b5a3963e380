"""Database layer: embedded server, pools, append-only migrations. Imports nothing else of ours."""

from .database import Database, create_database, resolve_database_url
from .embedded import embedded_database_url
from .migrations import MIGRATIONS, amigrate, migrate
from .pool import CONNECTION_KWARGS, DEFAULT_POOL_TIMEOUT, open_async_pool, open_sync_pool

__all__ = [
    "CONNECTION_KWARGS",
    "DEFAULT_POOL_TIMEOUT",
    "MIGRATIONS",
    "Database",
    "amigrate",
    "create_database",
    "embedded_database_url",
    "migrate",
    "open_async_pool",
    "open_sync_pool",
    "resolve_database_url",
]

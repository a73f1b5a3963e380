"""Background extraction's own append-only migrations: procrastinate's job tables and the cursors.

`brain migrate` applies this list with the others (`migrate.all_migration_sets`); with
BRAIN_AUTO_MIGRATE on, whoever opens the queue (`aensure_queue_schema`) applies it under this
list's advisory lock, like the brain's and the checkpointer's lists. Nothing here needs a
superuser: procrastinate's schema is plain tables, enums, plpgsql functions and triggers, which
a database owner with CREATE on the schema may create (its `CREATE EXTENSION plpgsql` is guarded
and skipped where plpgsql exists, as it always does). The application role reaches the tables
through `acreate_app_role`'s grants on every table and sequence; functions and types are usable
by PUBLIC by default, and this list's version table is read-only for it (`READ_ONLY_FOR_APP`).

**Upgrading procrastinate.** v1 is procrastinate 3.10.0's `schema.sql`, vendored byte for byte
next to this module, so a shipped entry never changes when the installed library does. A
procrastinate release that adds schema migrations (files under `procrastinate/sql/migrations/`
named after `LAST_PROCRASTINATE_MIGRATION`) is adopted by *appending* one entry per file, in
name order, copied verbatim, and moving `LAST_PROCRASTINATE_MIGRATION`; a "post" migration goes
in once no worker of the previous version runs. Never edit v1. Until then
`check_procrastinate_schema` refuses to start a queue whose library expects migrations this list
has not shipped, instead of failing later inside a worker.
"""

from __future__ import annotations

import asyncio
import functools
from importlib import resources
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from langgraph_brain.db.migrator import MigrationSet, aensure_current

#: Advisory-lock key serialising migrators of this list ("brain" then 0x14, issue 14).
EXTRACTION_LOCK_KEY = 0x6272_6169_6E14

#: procrastinate's own newest migration that this list's entries include (v1 is its 3.10.0 schema).
LAST_PROCRASTINATE_MIGRATION = "03.04.00_50_post_add_retry_failed_job_procedure"

_SCHEMA_FILE = "procrastinate_schema_3_10_0.sql"


def _vendored_schema() -> str:
    return (resources.files("langgraph_brain.extraction") / _SCHEMA_FILE).read_text(encoding="utf-8")


EXTRACTION_MIGRATIONS_LIST: list[str] = [
    # v0: version table.
    """
    CREATE TABLE IF NOT EXISTS brain_extraction_migrations (
        v integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # v1: procrastinate 3.10.0's schema (jobs, events, workers, periodic defers; see the module
    # docstring for upgrades). Recorded without running when procrastinate_jobs already exists,
    # i.e. someone installed it with `procrastinate schema --apply` before.
    _vendored_schema(),
    # v2: one cursor per thread: the last message extraction has processed. `position` is the
    # message's index in the thread's stable order (messages.py), -1 before the first job;
    # `message_id` finds it again after compaction moved it to the transcript. The other columns
    # serve the debounce, the backoff and `brain extraction status`:
    #   pending_since     when the oldest turn not yet covered by a finished job was enqueued
    #   last_enqueued_at  the newest enqueue (a job clears pending_since only if none came after
    #                     it read the thread)
    #   failures          consecutive failed attempts (the backoff's attempt number)
    # No tenant data lives here (thread ids only), so no row-level security.
    """
    CREATE TABLE brain_extraction_cursors (
        thread_id         text PRIMARY KEY,
        position          bigint NOT NULL DEFAULT -1 CHECK (position >= -1),
        message_id        text,
        pending_since     timestamptz,
        last_enqueued_at  timestamptz,
        failures          integer NOT NULL DEFAULT 0,
        last_error        text,
        updated_at        timestamptz NOT NULL DEFAULT now()
    );
    -- `brain extraction status` lists lagging threads oldest first.
    CREATE INDEX brain_extraction_cursors_pending_idx ON brain_extraction_cursors (pending_since)
        WHERE pending_since IS NOT NULL;
    """,
]

EXTRACTION_MIGRATIONS = MigrationSet(
    name="extraction",
    table="brain_extraction_migrations",
    lock_key=EXTRACTION_LOCK_KEY,
    migrations=EXTRACTION_MIGRATIONS_LIST,
    satisfied_by={1: "procrastinate_jobs"},
)


class ProcrastinateSchemaMismatchError(RuntimeError):
    """The installed procrastinate expects schema migrations this package has not shipped.

    Attributes:
        unshipped: the names of those migrations.
    """

    def __init__(self, unshipped: list[str]) -> None:
        self.unshipped = unshipped
        super().__init__(
            f"the installed procrastinate needs schema migrations langgraph-brain has not shipped"
            f" ({', '.join(unshipped)}): install the procrastinate version whose newest migration is"
            f" {LAST_PROCRASTINATE_MIGRATION} (3.10.x), or a langgraph-brain release that appends them"
        )


@functools.cache
def _unshipped_procrastinate_migrations() -> tuple[str, ...]:
    from procrastinate.schema import SchemaManager

    folder = Path(SchemaManager.get_migrations_path())
    names = sorted(p.name.removesuffix(".sql") for p in folder.glob("*.sql"))
    return tuple(n for n in names if n > LAST_PROCRASTINATE_MIGRATION)


def check_procrastinate_schema() -> None:
    """Refuse an installed procrastinate whose migrations go beyond this list.

    Lists a directory the first time (cached after): from async code, call it once in a thread
    first (`aensure_queue_schema` does).

    Raises:
        ProcrastinateSchemaMismatchError: naming the migrations missing from this list.
    """
    unshipped = _unshipped_procrastinate_migrations()
    if unshipped:
        raise ProcrastinateSchemaMismatchError(list(unshipped))


async def aensure_queue_schema(conn: AsyncConnection[Any], *, migrate: bool) -> None:
    """Apply this list (`migrate`, BRAIN_AUTO_MIGRATE) or check it is current; autocommit `conn`.

    Raises:
        DatabaseNotMigratedError: behind and not allowed to migrate, or this role may not.
        ProcrastinateSchemaMismatchError: see `check_procrastinate_schema`.
    """
    await asyncio.to_thread(check_procrastinate_schema)
    if migrate:
        await EXTRACTION_MIGRATIONS.aapply(conn)
    else:
        await aensure_current(conn, [EXTRACTION_MIGRATIONS])


__all__ = [
    "EXTRACTION_LOCK_KEY",
    "EXTRACTION_MIGRATIONS",
    "LAST_PROCRASTINATE_MIGRATION",
    "ProcrastinateSchemaMismatchError",
    "aensure_queue_schema",
    "check_procrastinate_schema",
]

"""Apply append-only migration lists, and tell a migrated database from one that is not.

Each package that owns tables (the brain, the checkpointer, server auth) declares one
`MigrationSet`: its statements, its version table and its advisory-lock key. The index of a
statement is its version; shipped statements are never edited (a change is a new entry).

Applying is atomic per run of ordinary entries: every pending entry up to the next one that
must run outside a transaction (`CREATE INDEX CONCURRENTLY`) is applied in one transaction, so a
role without the privileges a migration needs leaves nothing behind — no version table, no
half of a schema. At runtime, with auto-migration off, `aensure_current` only reads.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection, Connection, errors, sql

#: One step of the protocol: (statement, params, fetch rows?). The generator receives the rows.
Step = tuple[bytes | sql.Composed, tuple[Any, ...], bool]

MIGRATE_HINT = (
    "Run `brain migrate` once with the owner's credentials (DATABASE_URL of a role that may create"
    " tables), or set BRAIN_AUTO_MIGRATE=true where the application connects as that owner."
)


class DatabaseNotMigratedError(RuntimeError):
    """The database lacks tables or versions this code needs, and this process may not add them.

    Attributes:
        missing: one line per migration set that is behind, e.g. "brain: at v3 of v5".
    """

    def __init__(self, missing: Sequence[str], detail: str | None = None) -> None:
        self.missing = list(missing)
        what = "; ".join(self.missing)
        extra = f" ({detail})" if detail else ""
        super().__init__(f"The database is not migrated: {what}{extra}. {MIGRATE_HINT}")


@dataclass(frozen=True)
class MigrationStatus:
    """Where one migration set stands on a database."""

    name: str
    applied: frozenset[int]
    latest: int

    @property
    def pending(self) -> list[int]:
        return [v for v in range(self.latest + 1) if v not in self.applied]

    @property
    def current(self) -> bool:
        return not self.pending

    def describe(self) -> str:
        if not self.applied:
            return f"{self.name}: not installed (needs v0..v{self.latest})"
        if self.current:
            return f"{self.name}: current (v{self.latest})"
        return f"{self.name}: at v{max(self.applied)} of v{self.latest}"


@dataclass(frozen=True)
class MigrationSet:
    """An append-only list of SQL migrations with its own version table and lock.

    Args:
        name: shown in status lines and errors ("brain", "checkpointer", "auth").
        table: the version table; entry 0 must create it (`IF NOT EXISTS`).
        lock_key: advisory-lock key serialising migrators of this set across processes.
        migrations: the statements; index = version.
        outside_transaction: versions that must run outside a transaction (CONCURRENTLY).
        satisfied_by: versions that count as applied, and are only recorded, when the named
            relation already exists because another set created the same object (shipped
            entries cannot be edited to say IF NOT EXISTS).
    """

    name: str
    table: str
    lock_key: int
    migrations: Sequence[str]
    outside_transaction: frozenset[int] = field(default_factory=frozenset)
    satisfied_by: Mapping[int, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ protocol, written once

    def _status_steps(self) -> Generator[Step, Any, MigrationStatus]:
        rows = yield (b"SELECT to_regclass(%s) IS NOT NULL", (self.table,), True)
        applied: frozenset[int] = frozenset()
        if _first(rows[0]):
            stmt = sql.SQL("SELECT v FROM {}").format(sql.Identifier(self.table))
            applied = frozenset(_first(r) for r in (yield (stmt, (), True)))
        return MigrationStatus(self.name, applied, len(self.migrations) - 1)

    def _apply_steps(self) -> Generator[Step, Any, list[int]]:
        status = yield from self._status_steps()
        done: list[int] = []
        batch: list[int] = []

        def flush() -> Generator[Step, Any, None]:
            if not batch:
                return
            yield (b"BEGIN", (), False)
            for v in batch:
                yield (self.migrations[v].encode(), (), False)
                yield (self._record(v), (v,), False)
            yield (b"COMMIT", (), False)
            done.extend(batch)
            batch.clear()

        for v in status.pending:
            if v in self.satisfied_by:
                rows = yield (b"SELECT to_regclass(%s) IS NOT NULL", (self.satisfied_by[v],), True)
                if _first(rows[0]):
                    yield from flush()
                    yield (self._record(v), (v,), False)
                    done.append(v)
                    continue
            if v in self.outside_transaction:
                yield from flush()
                yield (self.migrations[v].encode(), (), False)
                yield (self._record(v), (v,), False)
                done.append(v)
            else:
                batch.append(v)
        yield from flush()
        return done

    def _record(self, v: int) -> sql.Composed:
        return sql.SQL("INSERT INTO {} (v) VALUES (%s) ON CONFLICT DO NOTHING").format(
            sql.Identifier(self.table)
        )

    # ------------------------------------------------------------------ drivers

    async def astatus(self, conn: AsyncConnection[Any]) -> MigrationStatus:
        """Read where this set stands (read-only)."""
        return await _adrive(conn, self._status_steps())

    def status(self, conn: Connection[Any]) -> MigrationStatus:
        """Sync twin of `astatus`."""
        return _drive(conn, self._status_steps())

    async def aapply(self, conn: AsyncConnection[Any], *, lock: bool = True) -> list[int]:
        """Apply pending migrations; returns the versions applied. `conn` must be autocommit.

        Args:
            conn: an autocommit connection of a role allowed to run the DDL.
            lock: take this set's advisory lock (pass False when the caller already holds a
                lock that serialises migrators, as `BrainSaver.setup` does).

        Raises:
            DatabaseNotMigratedError: the role lacks a privilege a pending migration needs;
                the transaction was rolled back, so nothing was created.
        """
        if lock:
            await conn.execute("SELECT pg_advisory_lock(%s)", (self.lock_key,))
        try:
            return await _adrive(conn, self._apply_steps())
        except psycopg.Error as exc:
            await _arollback(conn)
            readable = self._refused(exc)
            if readable is exc:
                raise
            raise readable from exc
        finally:
            if lock:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (self.lock_key,))

    def apply(self, conn: Connection[Any], *, lock: bool = True) -> list[int]:
        """Sync twin of `aapply`."""
        if lock:
            conn.execute("SELECT pg_advisory_lock(%s)", (self.lock_key,))
        try:
            return _drive(conn, self._apply_steps())
        except psycopg.Error as exc:
            if conn.info.transaction_status != 0:
                conn.execute("ROLLBACK")
            readable = self._refused(exc)
            if readable is exc:
                raise
            raise readable from exc
        finally:
            if lock:
                conn.execute("SELECT pg_advisory_unlock(%s)", (self.lock_key,))

    def _refused(self, exc: psycopg.Error) -> Exception:
        """A readable error for a failed migration; the transaction was rolled back."""
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, errors.InsufficientPrivilege | errors.FeatureNotSupported):
            return DatabaseNotMigratedError(
                [f"{self.name} migrations could not run as this role"], detail=first_line
            )
        if isinstance(exc, errors.DuplicateTable | errors.DuplicateObject):
            return DatabaseNotMigratedError(
                [f"{self.name} migrations found a table they did not create"],
                detail=f"{first_line}; something else created it (e.g. Mem0 making its own"
                " collection). Move it aside (ALTER TABLE ... RENAME) and migrate again",
            )
        return exc


async def aensure_current(conn: AsyncConnection[Any], sets: Sequence[MigrationSet]) -> None:
    """Raise `DatabaseNotMigratedError` naming every set that is behind. Read-only."""
    behind = [s for s in [await m.astatus(conn) for m in sets] if not s.current]
    if behind:
        raise DatabaseNotMigratedError([s.describe() for s in behind])


async def _adrive(conn: AsyncConnection[Any], steps: Generator[Step, Any, Any]) -> Any:
    try:
        stmt, params, fetch = next(steps)
        while True:
            cur = await conn.execute(stmt, params or None)
            rows = await cur.fetchall() if fetch else None
            stmt, params, fetch = steps.send(rows)
    except StopIteration as stop:
        return stop.value


def _drive(conn: Connection[Any], steps: Generator[Step, Any, Any]) -> Any:
    try:
        stmt, params, fetch = next(steps)
        while True:
            cur = conn.execute(stmt, params or None)
            rows = cur.fetchall() if fetch else None
            stmt, params, fetch = steps.send(rows)
    except StopIteration as stop:
        return stop.value


async def _arollback(conn: AsyncConnection[Any]) -> None:
    if conn.info.transaction_status != 0:  # not idle: a migration transaction was open
        await conn.execute("ROLLBACK")


def _first(row: Any) -> Any:
    """First column of a row from either a tuple or a dict row factory."""
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]

"""The restricted application role that row-level security is written for, and signed tenants.

Row-level security (migrations v4 and v6) admits a row of `brain_memories`, `brain_history` or
`brain_mem0` to the application role only inside a transaction that names one tenant *and* signs
it: `brain.scope`, `brain.entity_id`, `brain.index_key` (the entity's Mem0 user_id) and
`brain.tenant_sig`, the HMAC-SHA256 of those three under the database's tenant key. The key sits in
`brain_tenant_keys`, which only the owner can read (`aread_tenant_key`); the application gets it
from configuration (BRAIN_TENANT_KEY) and signs with `tenant_signature`. A role that holds only the
application password can set any tenant it likes, but cannot sign it, so it sees no rows.

Two ways a tenant reaches a connection:

* async brain statements: `MemoryService` runs `TENANT_SQL` first in each transaction;
* Mem0's own SQL (a sync pool we hand to Mem0): `bind_tenant` puts the tenant in a context
  variable around a Mem0 call, and `apply_bound_tenant`, the pool's check callback, opens a
  transaction on the checked-out connection with the tenant set locally. The pool commits when
  Mem0 gives the connection back, which ends the tenant with it (`asyncio.to_thread`, which Mem0
  uses for every store call, copies the context variable into the worker thread).

Both set the values with `set_config(..., true)` as bind parameters: transaction-local (safe
behind transaction-mode poolers), and never in the statement text, which other sessions of the
same role can read in `pg_stat_activity`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, Connection, Pipeline, sql
from psycopg_pool import ConnectionPool

#: Bytes of a tenant key (`brain migrate` generates one; `arotate_tenant_key` replaces it).
TENANT_KEY_BYTES = 32

#: Sets the four tenant settings for the current transaction; params: `Tenant.params()`.
TENANT_SQL = (
    "SELECT set_config('brain.scope', %s, true), set_config('brain.entity_id', %s, true),"
    " set_config('brain.index_key', %s, true), set_config('brain.tenant_sig', %s, true)"
)

# Domain separation, then NUL-separated fields: Postgres text never contains NUL, so two different
# tenants can never produce the same message. Migration v6's brain_tenant_message() is the twin.
_MESSAGE_PREFIX = b"brain-tenant-v1"


def tenant_signature(key: bytes, scope: str, entity_id: str, index_key: str) -> str:
    """HMAC-SHA256 (hex) of one tenant under `key`: what `brain_tenant_ok()` recomputes in SQL."""
    message = b"\0".join(
        (_MESSAGE_PREFIX, scope.encode("utf-8"), entity_id.encode("utf-8"), index_key.encode("utf-8"))
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def parse_tenant_key(text: str) -> bytes:
    """The tenant key from its hex form (as `aread_tenant_key` returns and BRAIN_TENANT_KEY holds).

    Raises:
        ValueError: not hex, or shorter than 32 bytes.
    """
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise ValueError("BRAIN_TENANT_KEY must be the hex string `brain migrate` printed") from exc
    if len(key) < TENANT_KEY_BYTES:
        raise ValueError(
            f"BRAIN_TENANT_KEY must be at least {TENANT_KEY_BYTES} bytes ({2 * TENANT_KEY_BYTES} hex digits)"
        )
    return key


@dataclass(frozen=True)
class Tenant:
    """One tenant as row-level security checks it. `sig` is "" when the service has no key (then
    only the owner, whose policies admit every row, gets rows)."""

    scope: str
    entity_id: str
    index_key: str
    sig: str

    @classmethod
    def signed(cls, key: bytes | None, scope: str, entity_id: str, index_key: str) -> Tenant:
        sig = tenant_signature(key, scope, entity_id, index_key) if key else ""
        return cls(scope, entity_id, index_key, sig)

    def params(self) -> tuple[str, str, str, str]:
        return (self.scope, self.entity_id, self.index_key, self.sig)


_bound: ContextVar[Tenant | None] = ContextVar("langgraph_brain_tenant", default=None)


@contextmanager
def bind_tenant(tenant: Tenant) -> Iterator[None]:
    """Make `tenant` the one every connection of a tenant-aware sync pool gets in this context."""
    token = _bound.set(tenant)
    try:
        yield
    finally:
        _bound.reset(token)


def bound_tenant() -> Tenant | None:
    """The tenant bound in this context, if any."""
    return _bound.get()


def apply_bound_tenant(conn: Connection[Any]) -> None:
    """`check` callback of a sync pool with `autocommit=False` connections (Mem0's).

    With a tenant bound: begin a transaction and set the tenant locally in it, in one round trip
    (BEGIN and the SELECT are pipelined); the statements of the caller run inside it and the pool
    commits when the connection is returned, so the next checkout starts clean. Without one: the
    pool's ordinary liveness check, and the role sees what its policies give it with no tenant
    (the owner: everything; the application role: nothing). Raising makes the pool discard the
    connection and try another, as for any failed check.
    """
    tenant = _bound.get()
    if tenant is None:
        ConnectionPool.check_connection(conn)
        return
    with pipelined(conn):
        conn.execute(TENANT_SQL, tenant.params())


def pipelined(conn: Connection[Any]) -> AbstractContextManager[Any]:
    """`conn.pipeline()` (one round trip for the statements inside) where libpq supports it
    (14+, as psycopg[binary] bundles); otherwise the statements simply run one by one."""
    return conn.pipeline() if Pipeline.is_supported() else nullcontext()


def apipelined(conn: AsyncConnection[Any]) -> AbstractAsyncContextManager[Any]:
    """The async twin of `pipelined`: statements are sent together until a result is needed."""
    return conn.pipeline() if Pipeline.is_supported() else nullcontext()


# Whether the current role sees every row of a table: superuser, BYPASSRLS, RLS off, or a
# permissive `USING (true)` policy that applies to it (the owner policies of v4 and v6).
SEES_EVERY_ROW_SQL = """
SELECT r.rolsuper OR r.rolbypassrls OR NOT c.relrowsecurity OR EXISTS (
           SELECT 1 FROM pg_policies p, unnest(p.roles) AS pr(role)
           WHERE p.schemaname = n.nspname AND p.tablename = c.relname
             AND p.permissive = 'PERMISSIVE' AND p.qual = 'true'
             AND (pr.role = 'public' OR pg_has_role(current_user, pr.role, 'MEMBER'))
       ) AS ok
FROM pg_roles r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rolname = current_user AND c.oid = to_regclass(%s)
"""


async def asees_every_row(conn: AsyncConnection[Any], table: str) -> bool:
    """Whether this connection's role sees every row of `table` whatever tenant is set."""
    row = await (await conn.execute(SEES_EVERY_ROW_SQL, (table,))).fetchone()
    return bool(row is not None and _first(row))


def sees_every_row(conn: Connection[Any], table: str) -> bool:
    """Sync twin of `asees_every_row`."""
    row = conn.execute(SEES_EVERY_ROW_SQL, (table,)).fetchone()
    return bool(row is not None and _first(row))


async def aread_tenant_key(conn: AsyncConnection[Any]) -> str:
    """The database's tenant key as hex, for BRAIN_TENANT_KEY. Only the owner can read it.

    Raises:
        psycopg.errors.InsufficientPrivilege: not the owner (the application role has no grant).
        LookupError: no key (the database is not migrated to v6) or RLS hid it (not the owner).
    """
    row = await (
        await conn.execute("SELECT encode(key, 'hex') FROM brain_tenant_keys WHERE id = 1")
    ).fetchone()
    if row is None:
        raise LookupError(
            "brain_tenant_keys has no key visible to this role; run `brain migrate` as the owner"
        )
    return str(_first(row))


async def arotate_tenant_key(conn: AsyncConnection[Any]) -> str:
    """Replace the tenant key (as the owner); returns the new key as hex.

    Every process that signs with the old key sees no rows from the commit on: roll the new
    BRAIN_TENANT_KEY out with it. Rotate after the key may have leaked, and after any leak of a
    signed tenant (a signature never expires while its key lives).
    """
    key = secrets.token_bytes(TENANT_KEY_BYTES)
    cur = await conn.execute("UPDATE brain_tenant_keys SET key = %s WHERE id = 1", (key,))
    if cur.rowcount != 1:
        raise LookupError(
            "brain_tenant_keys has no key visible to this role; run `brain migrate` as the owner"
        )
    return key.hex()


async def acheck_tenant_key(conn: AsyncConnection[Any], key: bytes) -> bool:
    """Whether `key` is the database's tenant key: signs a probe tenant and asks Postgres.

    Runs in its own transaction on `conn` (any role; the answer is one boolean).
    """
    probe = Tenant.signed(key, "user", "tenant-key-probe", "user:tenant-key-probe")
    async with conn.transaction():
        await conn.execute(TENANT_SQL, probe.params())
        row = await (await conn.execute("SELECT brain_tenant_ok()")).fetchone()
    return bool(row is not None and _first(row))


#: Tables only the owner writes: the approximate-index registry (`brain vector-index`), BM25's
#: per-tenant statistics (its triggers run as the owner) and
#: the version tables of every migration list (brain, checkpointer, LangGraph's checkpoints, auth,
#: extraction).
READ_ONLY_FOR_APP = (
    "brain_vector_indexes",
    "brain_tenant_stats",
    "brain_migrations",
    "brain_checkpointer_migrations",
    "checkpoint_migrations",
    "brain_auth_migrations",
    "brain_extraction_migrations",
)


async def acreate_app_role(conn: AsyncConnection[Any], role: str, password: str | None = None) -> None:
    """Create (or update) a LOGIN role that is neither owner nor superuser, with the grants the
    agents need. Run it as the owner after every migration (`brain migrate --app-role` does);
    re-run it after upgrades, because grants cover existing tables only. Creating a role needs
    CREATEROLE (or superuser).

    The role reaches brain rows only through the tenant policies of migrations v4 and v6: it must
    set a tenant signed with the tenant key in each transaction (MemoryService does, given
    `tenant_key`). The tenant key table stays the owner's: everything on it is revoked.
    """
    ident = sql.Identifier(role)
    exists = await (await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    if password is None:
        await conn.execute(sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(verb, ident))
    else:
        await conn.execute(
            sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                verb, ident, sql.Literal(password)
            )
        )
    await conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
    await conn.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident)
    )
    await conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))
    # Migrations and index upkeep stay with the owner: these tables are read-only for the application.
    for table in READ_ONLY_FOR_APP:
        exists = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))).fetchone()
        if exists and _first(exists):
            await conn.execute(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), ident)
            )
    # API keys: the server reads them to verify a credential and notes when a key was last used;
    # issuing and revoking keys is the owner's (`brain keys`), so a leaked application password
    # cannot mint a key.
    exists = await (await conn.execute("SELECT to_regclass('brain_api_keys') IS NOT NULL")).fetchone()
    if exists and _first(exists):
        await conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON brain_api_keys FROM {}").format(ident))
        await conn.execute(sql.SQL("GRANT UPDATE (last_used_at) ON brain_api_keys TO {}").format(ident))
    # The tenant key signs tenants: the application gets it from configuration, never from the
    # database (the grant above covered every table, this one included). Forced RLS with an
    # owner-only policy hides its row even from a grant made by mistake later.
    exists = await (await conn.execute("SELECT to_regclass('brain_tenant_keys') IS NOT NULL")).fetchone()
    if exists and _first(exists):
        await conn.execute(sql.SQL("REVOKE ALL ON brain_tenant_keys FROM {}, PUBLIC").format(ident))


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]

"""The restricted application role that row-level security is written for."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql


async def acreate_app_role(conn: AsyncConnection[Any], role: str, password: str | None = None) -> None:
    """Create (or update) a LOGIN role that is neither owner nor superuser, with the grants the
    agents need. Run it as the owner after migrations and after the checkpointer's setup().

    The role reaches brain rows only through the tenant policies of migration v4: it must set
    `brain.scope` and `brain.entity_id` in each transaction (MemoryService does).
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
    # Migrations stay with the owner.
    await conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON brain_migrations FROM {}").format(ident))

"""`brain migrate` and `brain keys create|list|revoke`: deployment, run as the database owner."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .runner import err_console, run
from .stores import settings as get_settings

keys_app = typer.Typer(help="API keys for the LangGraph server: create, list, revoke (run as the owner).")


@asynccontextmanager
async def _owner_connection() -> AsyncIterator[Any]:
    import psycopg

    from ..db import CONNECTION_KWARGS, resolve_database_url

    settings = get_settings()
    url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    conn = await psycopg.AsyncConnection.connect(
        url, connect_timeout=int(settings.pool_timeout), **CONNECTION_KWARGS
    )
    try:
        yield conn
    finally:
        await conn.close()


async def _tenant_key() -> str:
    from ..db.rls import aread_tenant_key

    async with _owner_connection() as conn:
        return await aread_tenant_key(conn)


async def _migrate(
    app_role: str | None, app_password: str | None, status_only: bool, console: Console
) -> None:
    from ..migrate import amigrate_all, astatus_all, avector_status

    async with _owner_connection() as conn:
        if status_only:
            vector = await avector_status(conn)
            for status in await astatus_all(conn):
                console.print(
                    ("[green]✓[/green] " if status.current else "[yellow]![/yellow] ") + status.describe()
                )
            console.print(
                f"pgvector: {vector.installed or 'not installed'}"
                + (f" — {vector.problem}" if vector.problem else "")
            )
            return
        report = await amigrate_all(conn, app_role=app_role, app_password=app_password)
    table = Table(title="brain migrate")
    for col in ("schema", "applied now", "state"):
        table.add_column(col)
    for status in report.status:
        applied = report.applied.get(status.name) or []
        table.add_row(status.name, ", ".join(f"v{v}" for v in applied) or "—", status.describe())
    console.print(table)
    if report.app_role:
        console.print(
            f"application role [bold]{escape(report.app_role)}[/bold]: created or refreshed (grants)."
            " Give the application BRAIN_TENANT_KEY=$(brain migrate --tenant-key)"
            " and BRAIN_AUTO_MIGRATE=false."
        )


def register(app: typer.Typer) -> None:
    """Add `migrate` and the `keys` sub-app to `app`."""

    @app.command()
    def migrate(
        app_role: Annotated[
            str | None, typer.Option("--app-role", help="Create or refresh this application role's grants.")
        ] = None,
        app_password_env: Annotated[
            str,
            typer.Option("--app-password-env", help="Environment variable holding the app role's password."),
        ] = "BRAIN_APP_PASSWORD",
        status: Annotated[bool, typer.Option("--status", help="Only show where each schema stands.")] = False,
        tenant_key: Annotated[
            bool,
            typer.Option(
                "--tenant-key", help="Only print the database's tenant key (hex) for BRAIN_TENANT_KEY."
            ),
        ] = False,
    ) -> None:
        """Apply every pending migration as the owner (brain, checkpointer, auth); idempotent.

        Needs the owner's DATABASE_URL (CREATE on the schema; CREATEROLE for --app-role). The
        vector extension needs a superuser unless it is already installed in the database.
        """

        if tenant_key:
            print(run(_tenant_key()))
            return
        password = os.environ.get(app_password_env) if app_role else None
        # No password: a new role gets none (local socket auth only); an existing one keeps its own.
        run(_migrate(app_role, password, status, Console()))

    @keys_app.command("create")
    def keys_create(
        user: Annotated[str, typer.Option("--user", "-u", help="The user this key acts as.")],
        company: Annotated[str | None, typer.Option("--company", "-c", help="The user's company.")] = None,
        admin: Annotated[bool, typer.Option("--admin", help="Operator key: may act on any thread.")] = False,
        label: Annotated[str | None, typer.Option("--label", help="A note to recognise the key.")] = None,
        expires_days: Annotated[
            float | None, typer.Option("--expires-days", min=0.0001, help="Expire after this many days.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Print only the key (for scripts).")
        ] = False,
    ) -> None:
        """Issue an API key (printed once; only its hash is stored)."""
        from ..server.keys import acreate_key

        async def body() -> tuple[Any, str]:
            expires = None if expires_days is None else timedelta(days=expires_days)
            async with _owner_connection() as conn:
                return await acreate_key(conn, user, company, admin=admin, label=label, expires_in=expires)

        record, key = run(body())
        if quiet:
            print(key)
            return
        if as_json:
            print(
                json.dumps(
                    {
                        "key": key,
                        "key_id": record.key_id,
                        "user_id": record.user_id,
                        "company_id": record.company_id,
                        "admin": record.is_admin,
                    }
                )
            )
            return
        console = Console()
        console.print(
            f"key id [bold]{record.key_id}[/bold] for user {escape(record.user_id)!r}"
            f" company {escape(str(record.company_id))!r}" + (" [red](admin)[/red]" if admin else "")
        )
        console.print("Send it as 'Authorization: Bearer <key>'. It is shown only now:")
        print(key)

    @keys_app.command("list")
    def keys_list(
        user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's keys.")] = None,
    ) -> None:
        """List keys (never their secrets)."""
        from ..server.keys import alist_keys

        async def body() -> list[Any]:
            async with _owner_connection() as conn:
                return await alist_keys(conn, user)

        keys = run(body())
        table = Table(title=f"API keys ({len(keys)})")
        for col in ("key id", "user", "company", "admin", "label", "created", "expires", "state"):
            table.add_column(col)
        for k in keys:
            state = "revoked" if k.revoked_at else "active"
            table.add_row(
                k.key_id,
                escape(k.user_id),
                escape(k.company_id or ""),
                "yes" if k.is_admin else "",
                escape(k.label or ""),
                str(k.created_at)[:19],
                str(k.expires_at or "")[:19],
                state,
            )
        Console().print(table)

    @keys_app.command("revoke")
    def keys_revoke(
        key_id: Annotated[str, typer.Argument(help="The key id (12 characters) or the key.")],
    ) -> None:
        """Revoke a key at once; requests with it get 401 from then on."""
        from ..server.keys import arevoke_key

        async def body() -> Any:
            async with _owner_connection() as conn:
                return await arevoke_key(conn, key_id)

        record = run(body())
        if record is None:
            err_console.print(f"[red]error:[/red] no key {escape(key_id)!r}; see `brain keys list`.")
            raise typer.Exit(2)
        Console().print(f"revoked key {record.key_id} of user {escape(record.user_id)!r}.")

    app.add_typer(keys_app, name="keys")

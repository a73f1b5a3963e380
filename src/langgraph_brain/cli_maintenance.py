"""`brain reconcile` and `brain erase`: maintenance commands, registered on the main Typer app.

Both act across tenants, so with row-level security they must run as the owner role (the one
that ran the migrations): point DATABASE_URL at it. They refuse to run on a restricted role.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .brain.errors import BrainError
from .brain.factory import open_memory_service
from .brain.service import MemoryService
from .db import Database, resolve_database_url
from .settings import BrainSettings, get_settings

_REPAIR_LABELS = (
    ("pushed_pending", "pending rows pushed to Mem0"),
    ("recreated_missing", "missing Mem0 memories recreated"),
    ("repaired_drift", "content drift repaired"),
    ("adopted_orphans", "orphans adopted by their row"),
    ("deleted_duplicates", "duplicate Mem0 memories deleted"),
    ("deleted_orphans", "orphan Mem0 memories deleted"),
    ("finished_forgets", "interrupted forgets finished"),
)
_ERASE_LABELS = (
    ("brain_rows", "brain rows"),
    ("history_rows", "history entries"),
    ("index_memories", "Mem0 memories"),
    ("index_entities", "Mem0 entity links"),
    ("threads", "threads"),
    ("checkpoints", "checkpoints"),
    ("transcript_messages", "transcript messages"),
    ("server_threads", "server thread records"),
)


@asynccontextmanager
async def _open(settings: BrainSettings) -> AsyncIterator[tuple[Database, MemoryService]]:
    url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    database = await Database.aopen(
        url,
        min_size=1,
        max_size=settings.pool_max_size,
        connect_timeout=settings.pool_timeout,
        migrate=settings.auto_migrate,
    )
    try:
        async with open_memory_service(settings, database=database) as service:
            yield database, service
    finally:
        await database.aclose()


async def _reconcile(dry_run: bool, as_json: bool, console: Console) -> int:
    from .brain.reconcile import acheck_invariant, areconcile

    async with _open(get_settings()) as (_db, service):
        with Progress(
            TextColumn("[bold]reconcile[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=as_json,
            transient=False,
        ) as progress:
            task = progress.add_task("reconcile", total=None)
            report = await areconcile(
                service,
                dry_run=dry_run,
                on_total=lambda n: progress.update(task, total=n),
                on_progress=lambda n: progress.advance(task, n),
            )
        invariant = None if dry_run else await acheck_invariant(service)
    if as_json:
        out = report.as_dict() | {"changes": report.changes}
        if invariant is not None:
            out["invariant_ok"] = invariant.ok
            out["violations"] = invariant.violations
        console.print_json(json.dumps(out))
    else:
        table = Table(title="reconcile (dry run: nothing changed)" if dry_run else "reconcile")
        table.add_column("")
        table.add_column("count", justify="right")
        table.add_row("brain rows checked", str(report.rows_checked))
        table.add_row("Mem0 memories checked", str(report.index_memories_checked))
        table.add_row("already in sync", str(report.already_synced))
        verb = "would be " if dry_run else ""
        for name, label in _REPAIR_LABELS:
            table.add_row(f"{label} ({verb}repaired)" if dry_run else label, str(getattr(report, name)))
        table.add_row("could not be repaired (retry later)", str(report.failed))
        console.print(table)
        for error in report.errors[:20]:
            console.print(f"[yellow]not repaired:[/yellow] {error}")
        if invariant is not None:
            if invariant.ok:
                console.print(
                    "[green]I1 holds:[/green] every synced row has exactly one matching Mem0 memory."
                )
            else:
                console.print(f"[red]I1 still violated ({len(invariant.violations)}):[/red]")
                for v in invariant.violations[:20]:
                    console.print(f"  - {v}")
    return 0 if report.failed == 0 and (invariant is None or invariant.ok) else 1


async def _erase(
    scope: str, entity: str, as_json: bool, console: Console, server: str | None, server_key: str | None
) -> None:
    from .checkpointers.saver import BrainSaver
    from .maintenance import aerase

    async with _open(get_settings()) as (database, service):
        saver = BrainSaver(database.pool)
        report = await aerase(service, scope, entity, saver=saver)
    if server:
        from .server.erase import aerase_server_threads

        report.server_threads = await aerase_server_threads(
            server, report.scope, report.entity_id, report.thread_ids, api_key=server_key
        )
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    table = Table(title=f"erased {report.scope} {report.entity_id!r}")
    table.add_column("removed")
    table.add_column("count", justify="right")
    for name, label in _ERASE_LABELS:
        table.add_row(label, str(getattr(report, name)))
    console.print(table)
    if report.total == 0:
        console.print(f"nothing was stored for {report.scope} {report.entity_id!r}.")


def register(app: typer.Typer) -> None:
    """Add the `reconcile` and `erase` commands to `app`."""

    @app.command()
    def reconcile(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only report what would be repaired; change nothing.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Restore the 1:1 sync between the brain table and Mem0 after a crash or outage.

        Re-pushes pending rows, adopts or deletes orphan Mem0 memories, recreates missing ones,
        repairs content drift and finishes interrupted forgets. Safe while agents are saving.
        Exits 1 if some row could not be repaired or the invariant still fails afterwards, 2 on
        a configuration error (e.g. a role that row-level security restricts).
        """
        console = Console()
        try:
            code = asyncio.run(_reconcile(dry_run, as_json, console))
        except BrainError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        raise typer.Exit(code)

    @app.command()
    def erase(
        user: Annotated[str | None, typer.Option("--user", help="Erase this user id.")] = None,
        company: Annotated[str | None, typer.Option("--company", help="Erase this company id.")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
        server: Annotated[
            str | None,
            typer.Option("--server", help="Also delete the thread records on this LangGraph server (URL)."),
        ] = None,
        server_key_env: Annotated[
            str,
            typer.Option("--server-key-env", help="Environment variable holding an admin API key."),
        ] = "BRAIN_SERVER_API_KEY",
    ) -> None:
        """Erase one user or company: brain rows, history, Mem0 memories, threads and transcripts.

        Only that entity is touched (exact id after normalisation; "1" never matches "12").
        With --server, the LangGraph server's own thread records go too (admin key needed
        when the server has auth).
        """
        console = Console()
        if (user is None) == (company is None):
            console.print("[red]error:[/red] give exactly one of --user or --company.")
            raise typer.Exit(2)
        scope, entity = ("user", user) if user is not None else ("company", company)
        assert entity is not None
        if not yes and not typer.confirm(
            f"Permanently erase every memory, thread and transcript of {scope} {entity!r}?"
        ):
            console.print("aborted; nothing was erased.")
            raise typer.Exit(1)
        try:
            asyncio.run(_erase(scope, entity, as_json, console, server, os.environ.get(server_key_env)))
        except BrainError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc

"""`brain reconcile` and `brain erase`: maintenance across tenants.

Both act across tenants, so with row-level security they must run as the owner role (the one
that ran the migrations): point DATABASE_URL at it. They refuse to run on a restricted role.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .output import counting
from .runner import console, run
from .stores import open_stores

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
    ("archive_rows", "archived memories"),
    ("index_memories", "Mem0 memories"),
    ("index_entities", "Mem0 entity links"),
    ("threads", "threads"),
    ("checkpoints", "checkpoints"),
    ("transcript_messages", "transcript messages"),
    ("server_threads", "server thread records"),
)


async def _reconcile(dry_run: bool, as_json: bool) -> int:
    from ..brain.reconcile import acheck_invariant, areconcile

    async with open_stores(sessions=False) as stores:
        service = stores.service
        with counting("reconcile", disable=as_json) as (on_total, on_progress):
            report = await areconcile(
                service,
                dry_run=dry_run,
                on_total=on_total,
                on_progress=on_progress,
            )
        invariant = None if dry_run else await acheck_invariant(service)
    if as_json:
        out: dict[str, Any] = report.as_dict() | {"changes": report.changes}
        if invariant is not None:
            out["invariant_ok"] = invariant.ok
            out["violations"] = invariant.violations
        console.print_json(json.dumps(out))
    else:
        _print_reconcile(report, invariant, dry_run)
    return 0 if report.failed == 0 and (invariant is None or invariant.ok) else 1


def _print_reconcile(report: Any, invariant: Any, dry_run: bool) -> None:
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
        console.print(f"[yellow]not repaired:[/yellow] {escape(str(error))}")
    if invariant is not None:
        if invariant.ok:
            console.print("[green]I1 holds:[/green] every synced row has exactly one matching Mem0 memory.")
        else:
            console.print(f"[red]I1 still violated ({len(invariant.violations)}):[/red]")
            for v in invariant.violations[:20]:
                console.print(f"  - {escape(str(v))}")


async def _erase(scope: str, entity: str, as_json: bool, server: str | None, server_key: str | None) -> None:
    from ..maintenance import aerase

    async with open_stores() as stores:
        report = await aerase(stores.service, scope, entity, saver=stores.saver)
    if server:
        from ..server.erase import aerase_server_threads

        report.server_threads = await aerase_server_threads(
            server, report.scope, report.entity_id, report.thread_ids, api_key=server_key
        )
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    table = Table(title=escape(f"erased {report.scope} {report.entity_id!r}"))
    table.add_column("removed")
    table.add_column("count", justify="right")
    for name, label in _ERASE_LABELS:
        table.add_row(label, str(getattr(report, name)))
    console.print(table)
    if report.total == 0:
        console.print(escape(f"nothing was stored for {report.scope} {report.entity_id!r}."))


async def _vector_index(threshold: int | None, dry_run: bool, as_json: bool) -> None:
    from ..brain.vector_indexes import aensure_vector_indexes
    from ..settings import get_settings

    limit = threshold or get_settings().vector_index_threshold
    async with open_stores(sessions=False) as stores:
        with console.status("building approximate indexes (saves and searches go on meanwhile)"):
            plan = await aensure_vector_indexes(stores.service.admin_pool, threshold=limit, dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps({"threshold": limit, "dry_run": dry_run, **plan.__dict__}))
        return
    verb = "would build" if dry_run else "built"
    for key, rows in plan.created.items():
        console.print(escape(f"{verb} an approximate index for {key} ({rows:,} memories)"))
    for key in plan.dropped:
        console.print(
            escape(f"{'would drop' if dry_run else 'dropped'} the index of {key} (below {limit // 2:,})")
        )
    console.print(f"{len(plan.kept)} index(es) kept; tenants under {limit:,} memories are searched exactly.")


def register(app: typer.Typer) -> None:
    """Add the `reconcile`, `erase` and `vector-index` commands to `app`."""

    @app.command("vector-index")
    def vector_index(
        threshold: Annotated[
            int | None,
            typer.Option(
                "--threshold", min=1, help="Tenant size that gets an index (BRAIN_VECTOR_INDEX_THRESHOLD)."
            ),
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would change.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    ) -> None:
        """Give each large tenant an approximate (HNSW) vector index; drop those of shrunk tenants.

        Small tenants are always searched exactly. Builds run CONCURRENTLY, so agents keep saving
        and searching; run it as the owner role after a bulk import, or from cron.
        """
        run(_vector_index(threshold, dry_run, as_json))

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
        Exits 1 if some row could not be repaired, the invariant still fails afterwards, or the
        storage is unavailable; 2 on bad input or a role that row-level security restricts.
        """
        raise typer.Exit(run(_reconcile(dry_run, as_json)))

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
        if (user is None) == (company is None):
            raise typer.BadParameter("give exactly one of --user or --company")
        scope, entity = ("user", user) if user is not None else ("company", company)
        assert entity is not None
        if not entity.strip():
            raise typer.BadParameter("the id must not be empty")
        if not yes and not typer.confirm(
            f"Permanently erase every memory, thread and transcript of {scope} {entity!r}?"
        ):
            console.print("aborted; nothing was erased.")
            raise typer.Exit(1)
        run(_erase(scope, entity, as_json, server, os.environ.get(server_key_env)))

"""`brain memories`: list, search, save, forget, history, export, import."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .output import row
from .runner import console, err_console, run
from .stores import open_stores

memories_app = typer.Typer(
    help="Read and change the brain: list, search, save, forget, history, export, import."
)

ScopeOpt = Annotated[str, typer.Option("--scope", "-s", help="user or company.")]
EntityOpt = Annotated[str, typer.Option("--id", "-i", help="The user id or company id.")]
CLI_ACTOR = {"agent": "brain-cli"}


def check_scope(scope: str) -> str:
    if scope not in ("user", "company"):
        raise typer.BadParameter(f"{scope!r} is not a scope; use 'user' or 'company'", param_hint="--scope")
    return scope


def check_entity(entity: str) -> str:
    if not entity.strip():
        raise typer.BadParameter("must not be empty: give the user or company id", param_hint="--id")
    return entity


async def _list(scope: str, entity: str, category: str | None, limit: int) -> None:
    async with open_stores(sessions=False) as stores:
        records = await stores.service.alist(scope, entity, category=category, limit=limit)
    table = Table(title=escape(f"{scope} memories of {entity} ({len(records)})"))
    for col in ("slug", "category", "version", "sync", "updated", "content"):
        table.add_column(col)
    for r in records:
        row(table, r.slug, r.category, r.version, r.sync_state, f"{r.updated_at:%Y-%m-%d %H:%M}", r.content)
    console.print(table)


async def _search(scope: str, entity: str, query: str, k: int, mode: str | None) -> None:
    async with open_stores(sessions=False) as stores:
        hits = await stores.service.asearch(scope, entity, query, k=k, mode=mode)
    table = Table(title=escape(f"{scope}:{entity} · {query!r} · {mode or stores.service.search_mode}"))
    for col in ("score", "slug", "category", "content"):
        table.add_column(col)
    for h in hits:
        row(table, f"{h.score:.3f}", h.slug, h.category, h.content)
    console.print(table)


async def _save(scope: str, entity: str, slug: str, content: str, category: str | None, pin: bool) -> None:
    async with open_stores(sessions=False) as stores:
        result = await stores.service.asave(
            scope,
            entity,
            slug,
            content,
            category=category,
            metadata={"pinned": True} if pin else None,
            actor=CLI_ACTOR,
            reason="cli",
        )
    console.print(
        f"[green]{result.status}[/green] {escape(f'{scope}:{result.entity_id} {result.slug}')}"
        f" (version {result.version})"
    )


async def _forget(scope: str, entity: str, slug: str) -> None:
    async with open_stores(sessions=False) as stores:
        record = await stores.service.aforget(scope, entity, slug, actor=CLI_ACTOR, reason="cli")
    console.print(f"[green]forgotten[/green] {escape(f'{scope}:{record.entity_id} {record.slug}')}")


async def _history(scope: str, entity: str, slug: str | None, limit: int) -> None:
    async with open_stores(sessions=False) as stores:
        entries = await stores.service.ahistory(scope, entity, slug, limit=limit)
    table = Table(title=escape(f"history of {scope}:{entity}" + (f" {slug}" if slug else "")))
    for col in ("when", "slug", "action", "v", "actor", "old", "new"):
        table.add_column(col)
    for e in entries:
        actor = ", ".join(f"{k}={v}" for k, v in e.actor.items())
        row(
            table,
            f"{e.created_at:%Y-%m-%d %H:%M:%S}",
            e.slug,
            e.action,
            e.version,
            actor,
            e.old_content or "",
            e.new_content or "",
        )
    console.print(table)


async def _export(scope: str | None, entity: str | None, output: Path | None) -> None:
    count = 0
    async with open_stores(sessions=False) as stores:
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            async for item in stores.service.aexport(scope=scope, entity_id=entity):
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
        finally:
            if output:
                out.close()
    err_console.print(
        f"[green]exported {count} memories[/green]" + (escape(f" to {output}") if output else "")
    )


async def _import(path: Path) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    lines = (await asyncio.to_thread(path.read_text, encoding="utf-8")).splitlines()
    total = sum(1 for line in lines if line.strip())
    async with open_stores(sessions=False) as stores:
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task("import", total=total)
            result = await stores.service.aimport_jsonl(
                lines, actor=CLI_ACTOR, on_progress=lambda n: progress.advance(task, n)
            )
    summary = Table(title=escape(f"import of {path.name}"), show_header=False)
    summary.add_row("lines", str(total))
    for status in ("created", "updated", "unchanged"):
        summary.add_row(status, str(result.statuses.get(status, 0)))
    summary.add_row("failed", str(result.failed_count))
    console.print(summary)
    for error in result.errors[:20]:
        err_console.print(f"[red]line {error['index'] + 1}:[/red] {escape(str(error['error']))}")
    if len(result.errors) > 20:
        err_console.print(f"[red]… and {len(result.errors) - 20} more errors[/red]")
    if result.failed_count:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `memories` sub-app to `app`."""

    @memories_app.command("list")
    def memories_list(
        scope: ScopeOpt,
        entity: EntityOpt,
        category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    ) -> None:
        """List the memories of one user or company, by slug."""
        run(_list(check_scope(scope), check_entity(entity), category, limit))

    @memories_app.command("search")
    def memories_search(
        scope: ScopeOpt,
        entity: EntityOpt,
        query: Annotated[str, typer.Argument(help="What to look for.")],
        k: Annotated[int, typer.Option("-k", min=1, max=100)] = 5,
        mode: Annotated[
            str | None,
            typer.Option("--mode", "-m", help="hybrid, vector or keyword (default BRAIN_SEARCH_MODE)."),
        ] = None,
    ) -> None:
        """Search one user's or company's memories."""
        if mode is not None and mode not in ("hybrid", "vector", "keyword"):
            raise typer.BadParameter("use hybrid, vector or keyword", param_hint="--mode")
        run(_search(check_scope(scope), check_entity(entity), query, k, mode))

    @memories_app.command("save")
    def memories_save(
        scope: ScopeOpt,
        entity: EntityOpt,
        slug: Annotated[str, typer.Argument(help="Stable key, e.g. company_tax_regime.")],
        content: Annotated[str, typer.Argument(help="The fact to remember.")],
        category: Annotated[str | None, typer.Option(help="e.g. profile, preference, fact.")] = None,
        pin: Annotated[bool, typer.Option(help="Always show it in the agent's memory context.")] = False,
    ) -> None:
        """Create or replace one memory."""
        run(_save(check_scope(scope), check_entity(entity), slug, content, category, pin))

    @memories_app.command("forget")
    def memories_forget(
        scope: ScopeOpt, entity: EntityOpt, slug: Annotated[str, typer.Argument(help="The slug to delete.")]
    ) -> None:
        """Delete one memory from the brain and from Mem0 (exit 2 if there is no such memory)."""
        run(_forget(check_scope(scope), check_entity(entity), slug))

    @memories_app.command("history")
    def memories_history(
        scope: ScopeOpt,
        entity: EntityOpt,
        slug: Annotated[str | None, typer.Argument(help="Only this slug.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    ) -> None:
        """The audit trail: every change, who made it and why."""
        run(_history(check_scope(scope), check_entity(entity), slug, limit))

    @memories_app.command("export")
    def memories_export(
        scope: Annotated[str | None, typer.Option("--scope", "-s", help="Only this scope.")] = None,
        entity: Annotated[
            str | None, typer.Option("--id", "-i", help="Only this user/company (needs --scope).")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
        ] = None,
    ) -> None:
        """Export memories as JSON lines (the format `import` reads)."""
        if scope is not None:
            check_scope(scope)
        if entity is not None:
            check_entity(entity)
            if scope is None:
                raise typer.BadParameter("--id needs --scope", param_hint="--id")
        run(_export(scope, entity, output))

    @memories_app.command("import")
    def memories_import(
        path: Annotated[
            Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSON-lines file.")
        ],
    ) -> None:
        """Bulk-load memories from JSON lines (scope, entity_id, slug, content, category?, metadata?)."""
        run(_import(path))

    app.add_typer(memories_app, name="memories")

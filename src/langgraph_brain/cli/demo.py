"""`brain demo` (the scripted two-session story behind `make demo`) and `brain chat` (a REPL)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .demo_forming import DEMO_FORMING_USER, aforming_story
from .output import mark, new_messages, print_turn, row, starting
from .runner import console, run
from .stores import Stores, open_stores, where
from .stores import settings as stores_settings


def _thread_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def _turn(graph: Any, thread_id: str, text: str, user: str, company: str) -> list[Any]:
    # Identity travels in the run context only; BrainSaver stamps it on the thread's checkpoints.
    out = await graph.ainvoke(
        {"messages": [{"role": "user", "content": text}]},
        _thread_config(thread_id),
        context={"user_id": user, "company_id": company},
    )
    messages: list[Any] = out["messages"]
    return messages


DEMO_USER, DEMO_COLLEAGUE, DEMO_COMPANY = "demo-ana", "demo-bruno", "demo-acme"


async def _demo(keep: bool) -> None:
    from ..demo import create_assistant, create_supervisor, describe_model, resolve_chat_model
    from ..demo.graphs import budgets

    settings = stores_settings()
    started = time.monotonic()
    what = "Connecting to DATABASE_URL" if settings.database_url else "Starting the embedded Postgres"
    async with AsyncExitStack() as stack:
        async with starting(f"{what}, loading the embedder and Mem0…"):
            brain = await stack.enter_async_context(open_stores(settings))
        service, saver = brain.service, brain.saver
        model = resolve_chat_model(settings.model, settings=settings)
        console.print(
            Panel.fit(
                f"Model: [bold]{describe_model(model)}[/bold]\n"
                f"Database: {where(settings)}"
                "\nEverything else is real: Postgres + pgvector, Mem0, e5 embeddings, LangGraph.",
                title="brain demo",
            )
        )
        if not keep:
            demo_entities = (
                ("user", DEMO_USER), ("user", DEMO_COLLEAGUE), ("user", DEMO_FORMING_USER),
                ("company", DEMO_COMPANY),
            )  # fmt: skip
            for scope, entity in demo_entities:
                for record in await service.alist(scope, entity, limit=1000):
                    await service.aforget(scope, entity, record.slug, reason="demo reset")
        assistant = create_assistant(
            service,
            model=model,
            checkpointer=saver,
            retain_messages=settings.retain_messages,
            **budgets(settings),
        )
        supervisor = create_supervisor(service, model=model, checkpointer=saver, **budgets(settings))
        run = uuid.uuid4().hex[:6]
        thread_a, thread_b, thread_c, thread_d = (f"demo-{run}-{x}" for x in "abcd")

        console.rule(f"Session 1 · assistant · thread {thread_a} · user {DEMO_USER}")
        for text in (
            "Remember that my name is Ana Rojas",
            "Remember that I prefer answers in Spanish",
            "Remember that my business is a bakery in Valdivia",
        ):
            print_turn(
                new_messages(await _turn(assistant, thread_a, text, DEMO_USER, DEMO_COMPANY), text), "ana"
            )

        console.rule(f"Session 2 · assistant · NEW thread {thread_b} · same user")
        question = "What is my name?"
        msgs = await _turn(assistant, thread_b, question, DEMO_USER, DEMO_COMPANY)
        recalled = print_turn(new_messages(msgs, question), "ana")
        recall_ok = "Ana Rojas" in recalled and len(msgs) <= 4

        console.rule(f"Supervisor · thread {thread_c} · tax specialist saves a company fact")
        text = "Tax: remember for the company that our tax regime is Pro Pyme General"
        print_turn(
            new_messages(await _turn(supervisor, thread_c, text, DEMO_USER, DEMO_COMPANY), text), "ana"
        )

        console.rule(
            f"Supervisor · thread {thread_d} · user {DEMO_COLLEAGUE} · onboarding specialist uses it"
        )
        text = "Onboarding question: what tax regime does our company use?"
        shared = print_turn(
            new_messages(await _turn(supervisor, thread_d, text, DEMO_COLLEAGUE, DEMO_COMPANY), text),
            "bruno",
        )
        shared_ok = "Pro Pyme" in shared
        text = "What is my name?"
        private = print_turn(
            new_messages(await _turn(supervisor, thread_d, text, DEMO_COLLEAGUE, DEMO_COMPANY), text),
            "bruno",
        )
        private_ok = "Ana" not in private

        await _print_stores(brain, [thread_a, thread_b, thread_c, thread_d])
        forming = await aforming_story(brain, settings, model, DEMO_COMPANY)
        checks = Table(title="Checks", show_header=False)
        checks.add_row("recall across threads (session 2 found session 1's fact)", mark(recall_ok))
        checks.add_row("company memory shared between specialists and users", mark(shared_ok))
        checks.add_row("user memory private (bruno does not see ana's name)", mark(private_ok))
        for label, ok in forming:
            checks.add_row(label, mark(ok))
        console.print(checks)
        console.print(f"[dim]Demo finished in {time.monotonic() - started:.1f}s.[/dim]")
        if not (recall_ok and shared_ok and private_ok and all(ok for _, ok in forming)):
            raise typer.Exit(1)


async def _print_stores(brain: Stores, threads: list[str]) -> None:
    from ..brain.index import entity_key

    service = brain.service
    rows = Table(title="Brain (Postgres, source of truth)")
    for col in ("scope", "entity", "slug", "category", "sync", "content"):
        rows.add_column(col)
    mem0 = Table(title="Mem0 (search index)")
    mem0.add_column("entity")
    mem0.add_column("memories", justify="right")
    for scope, entity in (("user", DEMO_USER), ("user", DEMO_COLLEAGUE), ("company", DEMO_COMPANY)):
        for r in await service.alist(scope, entity, limit=1000):
            row(rows, scope, entity, r.slug, r.category, r.sync_state, r.content)
        hits = await service.index.alist(entity_key=entity_key(scope, entity))
        row(mem0, f"{scope}:{entity}", str(len(hits)))
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
        row(sessions, thread, str(count["n"] if count else 0), str(n_messages), str(transcript))
    console.print(rows, mem0, sessions)


def _demo_command(
    keep: Annotated[bool, typer.Option(help="Keep earlier demo memories instead of starting clean.")] = False,
) -> None:
    """Run the scripted two-session story on the local defaults and show what each store holds."""
    run(_demo(keep))


# ---------------------------------------------------------------------- chat


async def _chat(user: str, company: str, thread: str | None, graph_name: str) -> None:
    from ..demo import create_assistant, create_supervisor, describe_model, resolve_chat_model
    from ..demo.graphs import budgets

    settings = stores_settings()
    async with AsyncExitStack() as stack:
        async with starting("Opening memory (Postgres, embedder, Mem0)…"):
            brain = await stack.enter_async_context(open_stores(settings))
        model = resolve_chat_model(settings.model, settings=settings)
        factory: Callable[..., Any] = create_supervisor if graph_name == "supervisor" else create_assistant
        options: dict[str, Any] = budgets(settings)
        if graph_name == "assistant":
            options["retain_messages"] = settings.retain_messages
        graph = factory(brain.service, model=model, checkpointer=brain.saver, **options)
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
            for m in new_messages(messages, text)[1:]:
                if m.type == "ai" and m.tool_calls:
                    for call in m.tool_calls:
                        console.print(f"  [dim]tool call {call['name']}({escape(str(call['args']))})[/dim]")
                elif m.type == "ai":
                    console.print(f"[bold yellow]agent>[/bold yellow] {escape(m.text)}")
        console.print(f"[dim]thread {thread_id} is saved; resume with --thread {thread_id}[/dim]")


def _chat_command(
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
    run(_chat(user, company, thread, graph))


def register(app: typer.Typer) -> None:
    """Add `demo` and `chat` to `app`."""
    app.command("demo")(_demo_command)
    app.command("chat")(_chat_command)

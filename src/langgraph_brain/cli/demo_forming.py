"""The second half of `brain demo`: memories that form themselves (background extraction).

A user states facts in plain French, without asking to remember anything. Each turn only queues
the thread (one INSERT); a real procrastinate worker in this process extracts the facts (with
the scripted extraction rules when no LLM key is set), saves them through the brain's save
protocol, and they are recalled in a new thread. A changed fact updates its slug, with the old
value in the history, and compaction's archived segment gets a summary that search finds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rich.table import Table

from .output import new_messages, print_turn, row
from .runner import console
from .stores import Stores

DEMO_FORMING_USER = "demo-ahmed"
#: Short debounce and polling so the story does not wait on production defaults.
IDLE_SECONDS = 0.3
WAIT_SECONDS = 90.0


async def _until(what: str, ready: Callable[[], Awaitable[bool]]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    with console.status(f"[dim]background worker: {what}…[/dim]"):
        while time.monotonic() < deadline:
            if await ready():
                return True
            await asyncio.sleep(0.3)
    console.print(f"[red]timed out waiting for: {what}[/red]")
    return False


async def aforming_story(brain: Stores, settings: Any, model: Any, company: str) -> list[tuple[str, bool]]:
    """Run the story; returns the checks it made (label, passed)."""
    from ..demo import create_assistant
    from ..demo.graphs import budgets
    from ..extraction.factory import aopen_queue_app, create_extractor
    from ..extraction.middleware import ExtractionMiddleware
    from ..extraction.queue import ExtractionQueue
    from ..extraction.resources import ExtractionOptions, WorkerResources
    from ..extraction.status import astatus
    from ..extraction.summaries import SummaryEnqueuer
    from ..extraction.worker import start_worker

    service, saver, user = brain.service, brain.saver, DEMO_FORMING_USER
    app = await aopen_queue_app(settings)
    queue = ExtractionQueue(app, idle_seconds=IDLE_SECONDS, max_pending=settings.extraction_max_pending)
    resources = WorkerResources(
        service=service,
        saver=saver,
        extractor=create_extractor(model, settings),
        summary_model=model,
        options=ExtractionOptions(idle_seconds=IDLE_SECONDS, max_pending=settings.extraction_max_pending),
    )
    worker = start_worker(app, resources, concurrency=2, name="brain-demo", fetch_job_polling_interval=0.2)
    try:
        assistant = create_assistant(
            service,
            model=model,
            checkpointer=saver,
            retain_messages=4,  # small, so that this short conversation is compacted and summarised
            extraction=ExtractionMiddleware(queue),
            on_archived=SummaryEnqueuer(app),
            **budgets(settings),
        )
        run = uuid.uuid4().hex[:6]
        thread_e, thread_f = f"demo-{run}-e", f"demo-{run}-f"

        async def turn(thread: str, text: str) -> str:
            out = await assistant.ainvoke(
                {"messages": [{"role": "user", "content": text}]},
                {"configurable": {"thread_id": thread}},
                context={"user_id": user, "company_id": company},
            )
            return print_turn(new_messages(out["messages"], text), "ahmed")

        async def processed() -> bool:
            status = await astatus(brain.pool, saver, thread_id=thread_e)
            mine = [t for t in status.threads if t.thread_id == thread_e]
            return (
                bool(mine) and mine[0].unprocessed == 0 and not (mine[0].jobs_waiting or mine[0].jobs_running)
            )

        console.rule(f"Session 3 · memories that form themselves · thread {thread_e} · user {user}")
        console.print("[dim]No 'remember' and no save tool: each turn only queues the thread.[/dim]")
        started = time.monotonic()
        await turn(thread_e, "Je suis Ahmed, je gère une boulangerie à Oran avec 5 employés.")
        turn_seconds = time.monotonic() - started
        formed = await _until("extracting the facts", processed)
        formed = formed and await service.aget("user", user, "business_employees") is not None
        await _print_memories(service, user, "Memories formed from the conversation")

        console.rule(f"Session 4 · NEW thread {thread_f} · recall")
        recalled = await turn(thread_f, "Où se trouve mon entreprise ?")
        recall_ok = "Oran" in recalled

        console.rule(f"Session 3 again · thread {thread_e} · a fact changes")
        await turn(thread_e, "Maintenant nous avons 7 employés.")

        async def updated() -> bool:
            record = await service.aget("user", user, "business_employees")
            return record is not None and "7" in record.content

        changed_ok = await _until("updating the changed fact", updated)
        history = await service.ahistory("user", user, "business_employees")
        old_kept = any(h.old_content and "5" in h.old_content for h in history)
        for entry in reversed(history):
            console.print(
                f"  history v{entry.version} {entry.action}: {entry.old_content!r} → {entry.new_content!r}"
            )

        for text in ("J'aimerais ouvrir une deuxième boutique l'année prochaine.", "Merci !"):
            await turn(thread_e, text)  # the window (4 messages) overflows: a segment is archived

        async def summarised() -> bool:
            return bool(await service.alist("user", user, category="conversation_summary"))

        summary_ok = await _until("summarising the archived segment", summarised)
        hits = await service.asearch("user", user, "boulangerie à Oran", category="conversation_summary")
        for hit in hits[:1]:
            console.print(f"  search 'boulangerie à Oran' → {hit.slug}: {hit.content[:140]!r}")
        summary_ok = summary_ok and bool(hits)
        await _print_memories(service, user, "Ahmed's memories at the end")
    finally:
        await worker.astop()
        await app.close_async()
    return [
        (f"a turn only queues extraction ({turn_seconds * 1000:.0f} ms, no extraction on its path)", formed),
        ("facts formed from plain statements and recalled in a new thread", formed and recall_ok),
        ("a changed fact updated its slug; the old value is in the history", changed_ok and old_kept),
        ("an archived segment got a summary that search finds", summary_ok),
    ]


async def _print_memories(service: Any, user: str, title: str) -> None:
    table = Table(title=title)
    for col in ("slug", "category", "content", "by"):
        table.add_column(col)
    for record in await service.alist("user", user, limit=100):
        row(table, record.slug, record.category, record.content, str(record.metadata.get("source", "")))
    console.print(table)


__all__ = ["DEMO_FORMING_USER", "aforming_story"]

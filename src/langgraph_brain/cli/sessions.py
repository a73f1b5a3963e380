"""`brain sessions`: the conversation threads the checkpointer keeps (list, show, prune)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .output import print_turn, row
from .runner import console, run
from .stores import open_stores

sessions_app = typer.Typer(help="Conversation threads kept by the checkpointer: list, show, prune.")

# Newest root checkpoint per thread; the owner columns are what BrainSaver stamped.
_SESSIONS_SQL = """
SELECT DISTINCT ON (thread_id) thread_id, metadata->>'user_id' AS user_id,
       metadata->>'company_id' AS company_id, checkpoint->>'ts' AS ts,
       (SELECT count(*) FROM checkpoints c2 WHERE c2.thread_id = c.thread_id) AS checkpoints
FROM checkpoints c
WHERE checkpoint_ns = '' AND (%(threads)s::text[] IS NULL OR thread_id = ANY(%(threads)s))
ORDER BY thread_id, checkpoint_id DESC
"""
_COUNT_SQL = "SELECT count(*) AS n FROM checkpoints WHERE thread_id = ANY(%s)"


async def _list(user: str | None, limit: int) -> None:
    from ..checkpointers.threads import athreads_of

    async with open_stores(memory=False) as stores:
        # The one ownership rule (normalised ids), the same that erase uses.
        owned = None if user is None else await athreads_of(stores.pool, "user", user)
        async with stores.pool.connection() as conn:
            rows = await (await conn.execute(_SESSIONS_SQL, {"threads": owned})).fetchall()
    rows.sort(key=lambda r: r["ts"] or "", reverse=True)
    table = Table(title=escape(f"threads ({len(rows)})" + (f" of {user}" if user else "")))
    for col in ("thread", "user", "company", "last activity", "checkpoints"):
        table.add_column(col)
    for r in rows[:limit]:
        row(
            table,
            r["thread_id"],
            r["user_id"] or "",
            r["company_id"] or "",
            (r["ts"] or "")[:19],
            r["checkpoints"],
        )
    console.print(table)


async def _show(thread_id: str) -> None:
    async with open_stores(memory=False) as stores:
        messages = await stores.saver.aget_session(thread_id)
    if not messages:
        raise LookupError(f"no thread {thread_id!r}; see `brain sessions list`.")
    console.rule(escape(f"thread {thread_id} · {len(messages)} messages (transcript + state)"))
    print_turn(messages, "user")


async def _prune(keep: int, older_than_days: float | None, thread: str | None) -> None:
    async with open_stores(memory=False) as stores:
        if older_than_days is not None:
            deleted = await stores.saver.asweep_expired(timedelta(days=older_than_days))
            console.print(f"deleted {len(deleted)} threads idle for more than {older_than_days:g} days")
        async with stores.pool.connection() as conn:
            if thread:
                threads = [thread]
            else:
                rows = await (await conn.execute("SELECT DISTINCT thread_id FROM checkpoints")).fetchall()
                threads = [r["thread_id"] for r in rows]
            before = await (await conn.execute(_COUNT_SQL, (threads,))).fetchone()
        await stores.saver.aprune(threads, keep=keep)
        async with stores.pool.connection() as conn:
            after = await (await conn.execute(_COUNT_SQL, (threads,))).fetchone()
    removed = (before["n"] if before else 0) - (after["n"] if after else 0)
    console.print(f"kept the newest {keep} checkpoint(s) of {len(threads)} threads; removed {removed}")


def register(app: typer.Typer) -> None:
    """Add the `sessions` sub-app to `app`."""

    @sessions_app.command("list")
    def sessions_list(
        user: Annotated[str | None, typer.Option("--user", "-u", help="Only threads of this user.")] = None,
        limit: Annotated[int, typer.Option(min=1)] = 50,
    ) -> None:
        """List threads, newest first."""
        run(_list(user, limit))

    @sessions_app.command("show")
    def sessions_show(thread_id: Annotated[str, typer.Argument(help="The thread id.")]) -> None:
        """Print a whole conversation, including messages compacted into the transcript."""
        run(_show(thread_id))

    @sessions_app.command("prune")
    def sessions_prune(
        keep: Annotated[int, typer.Option(min=1, help="Checkpoints to keep per thread.")] = 1,
        older_than_days: Annotated[
            float | None,
            typer.Option("--older-than-days", min=0.0, help="Also delete threads idle this long."),
        ] = None,
        thread: Annotated[str | None, typer.Option("--thread", "-t", help="Only this thread.")] = None,
    ) -> None:
        """Prune old checkpoints (and, optionally, whole idle threads). Transcripts are kept."""
        run(_prune(keep, older_than_days, thread))

    app.add_typer(sessions_app, name="sessions")

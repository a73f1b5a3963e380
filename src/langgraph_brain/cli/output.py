"""Printing helpers shared by commands: plain-text table rows, conversation turns, spinners, bars."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from rich.markup import escape
from rich.table import Table

from .runner import console


def row(table: Table, *cells: object) -> None:
    """Add a row of plain text: memory content such as "[slug]" must not be read as markup."""
    table.add_row(*(escape(str(c)) for c in cells))


def mark(ok: bool) -> str:
    return "[green]✓ yes[/green]" if ok else "[red]✗ no[/red]"


@asynccontextmanager
async def starting(what: str) -> AsyncIterator[None]:
    """A spinner for slow start-up work (embedded Postgres, embedder, Mem0)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as p:
        p.add_task(what, total=None)
        yield


Counter = Callable[[int], None]


@contextmanager
def counting(label: str, *, disable: bool = False) -> Iterator[tuple[Counter, Counter]]:
    """A progress bar for long work whose size is learnt on the way (reconcile, consolidate,
    retention): yields the `on_total` and `on_progress` callbacks those operations take."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield (lambda n: progress.update(task, total=n)), (lambda n: progress.advance(task, n))


def new_messages(messages: list[Any], text: str) -> list[Any]:
    """The messages of the last turn (from the last human message with this text)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].type == "human" and messages[i].text == text:
            return messages[i:]
    return messages[-1:]


def print_turn(messages: list[Any], who: str) -> str:
    """Print a turn (human, tool calls, tool results, reply); returns the reply text."""
    reply = ""
    for m in messages:
        if m.type == "human":
            console.print(f"  [bold cyan]{escape(who)}>[/bold cyan] {escape(m.text)}")
        elif m.type == "ai" and m.tool_calls:
            for call in m.tool_calls:
                args = escape(", ".join(f"{k}={v!r}" for k, v in call["args"].items()))
                console.print(f"    [dim]tool call[/dim] [magenta]{escape(call['name'])}[/magenta]({args})")
        elif m.type == "tool":
            style = "red" if getattr(m, "status", "success") == "error" else "green"
            first = m.text.splitlines()[0] if m.text else ""
            console.print(f"    [dim]tool result[/dim] [{style}]{escape(first)}[/{style}]")
        elif m.type == "ai":
            reply = m.text
            console.print(f"  [bold yellow]agent>[/bold yellow] {escape(m.text)}")
    return reply

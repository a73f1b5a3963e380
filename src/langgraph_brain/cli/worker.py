"""`brain worker` (the job worker as its own process) and `brain extraction status` (the lag)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .runner import console, err_console, run
from .stores import open_stores, settings, where

extraction_app = typer.Typer(help="Background memory extraction: where it stands.", no_args_is_help=True)


async def _worker(concurrency: int | None) -> None:
    from ..checkpointers import BrainSaver
    from ..demo import describe_model, resolve_chat_model
    from ..extraction.factory import aopen_queue_app, create_extractor, extraction_options
    from ..extraction.resources import WorkerResources
    from ..extraction.worker import arun_worker

    s = settings()
    async with open_stores(s, sessions=False) as stores:
        model = resolve_chat_model(s.extraction_model, settings=s) if s.extraction or s.summaries else None
        resources = WorkerResources(
            service=stores.service,
            saver=BrainSaver(stores.service.pool),
            extractor=create_extractor(model, s) if model is not None and s.extraction else None,
            summary_model=model if s.summaries else None,
            options=extraction_options(s),
        )
        app = await aopen_queue_app(s, url=stores.url)
        try:
            n = concurrency or s.worker_concurrency
            described = describe_model(model) if model is not None else "none (extraction and summaries off)"
            err_console.print(
                f"brain worker: {where(s)}, concurrency {n}, model {escape(described)};"
                " Ctrl-C or SIGTERM stops it (running jobs get a few seconds)."
            )
            await arun_worker(
                app, resources, concurrency=n, name="brain-worker", install_signal_handlers=True
            )
        finally:
            await app.close_async()
    err_console.print("brain worker: stopped.")


async def _status(thread: str | None, limit: int) -> dict[str, Any]:
    from ..extraction.migrations import aensure_queue_schema
    from ..extraction.status import astatus

    s = settings()
    async with open_stores(s, memory=False) as stores:
        async with stores.pool.connection() as conn:
            await aensure_queue_schema(conn, migrate=s.auto_migrate)
        status = await astatus(stores.pool, stores.saver, thread_id=thread, limit=limit)
    return status.as_dict()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _print_status(out: dict[str, Any]) -> None:
    console.print(
        f"jobs: {out['jobs_due']} due, {out['jobs_scheduled']} scheduled (debounce or backoff),"
        f" {out['jobs_running']} running, {out['jobs_failed']} failed"
    )
    oldest = _age(out["max_lag_seconds"])
    console.print(f"threads lagging: {out['lagging_threads']}; oldest unprocessed turn: {oldest} ago")
    if not out["threads"]:
        return
    table = Table()
    for column in ("thread", "unprocessed", "lag", "jobs waiting/running/failed", "failures", "last error"):
        table.add_column(column)
    for t in out["threads"]:
        table.add_row(
            escape(t["thread_id"]),
            str(t["unprocessed"]),
            _age(t["lag_seconds"]),
            f"{t['jobs_waiting']}/{t['jobs_running']}/{t['jobs_failed']}",
            str(t["failures"]),
            escape((t["last_error"] or "")[:80]),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `worker` and `extraction status` to `app`."""

    @app.command()
    def worker(
        concurrency: Annotated[
            int | None,
            typer.Option(
                "--concurrency", "-c", min=1, max=64, help="Jobs at once (BRAIN_WORKER_CONCURRENCY)."
            ),
        ] = None,
    ) -> None:
        """Run the job worker in this process: memory extraction, summaries, scheduled upkeep.

        Run one or more where the application runs with BRAIN_WORKER=off (or next to in-process
        workers: jobs of one thread never run twice at once). Stops cleanly on Ctrl-C or SIGTERM.
        """
        run(_worker(concurrency))

    @extraction_app.command("status")
    def status(
        thread: Annotated[str | None, typer.Option("--thread", "-t", help="Only this thread.")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Lagging threads listed.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Extraction jobs (due, scheduled, running, failed) and the threads it lags behind on:
        unprocessed messages and the age of the oldest unprocessed turn (the lag)."""
        out = run(_status(thread, limit))
        if as_json:
            print(json.dumps(out))
        else:
            _print_status(out)

    app.add_typer(extraction_app, name="extraction")

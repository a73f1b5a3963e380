"""`brain consolidate`: merge near-duplicate memories of one entity, or of every entity.

Like reconcile it reads every tenant's vectors, so with row-level security it runs as the owner
role (DATABASE_URL of the owner). The merge itself goes through the save/forget protocol.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .output import counting, row
from .runner import console, run
from .stores import open_stores, settings


async def _consolidate(
    threshold: float | None, dry_run: bool, target: tuple[str, str] | None, as_json: bool
) -> int:
    from ..brain.reconcile import acheck_invariant
    from ..extraction.consolidate import aconsolidate

    s = settings()
    limit = threshold if threshold is not None else s.consolidate_threshold
    async with open_stores(s, sessions=False) as stores:
        with counting("consolidate", disable=as_json) as (on_total, on_progress):
            report = await aconsolidate(
                stores.service,
                threshold=limit,
                dry_run=dry_run,
                entities=None if target is None else [target],
                on_total=on_total,
                on_progress=on_progress,
            )
        invariant = None if dry_run else await acheck_invariant(stores.service)
    if as_json:
        out: dict[str, Any] = report.as_dict()
        if invariant is not None:
            out["invariant_ok"] = invariant.ok
        console.print_json(json.dumps(out, default=str))
    else:
        _print(report, invariant)
    return 0 if invariant is None or invariant.ok else 1


def _print(report: Any, invariant: Any) -> None:
    title = "consolidate (dry run: nothing changed)" if report.dry_run else "consolidate"
    table = Table(title=f"{title}, similarity >= {report.threshold}")
    for column in ("entity", "kept slug", "merged into it", "similarity", "content kept"):
        table.add_column(column)
    for plan in report.groups:
        sims = ", ".join(f"{v:.3f}" for v in plan.similarities.values())
        row(table, f"{plan.scope}:{plan.entity_id}", plan.kept, ", ".join(plan.merged), sims, plan.content)
    if report.groups:
        console.print(table)
    verb = "would merge" if report.dry_run else "merged"
    count = sum(len(p.merged) for p in report.groups) if report.dry_run else report.memories_merged
    console.print(
        f"{report.entities_checked} entit{'y' if report.entities_checked == 1 else 'ies'} checked;"
        f" {verb} {count} memor{'y' if count == 1 else 'ies'} in {len(report.groups)} group(s)."
    )
    for skip in report.skipped[:20]:
        why = "names or numbers differ" if skip["why"] == "conflict" else "changed meanwhile; next run"
        console.print(escape(f"left alone: {skip['slug']} (near {skip['kept']}: {why})"))
    if invariant is not None and not invariant.ok:
        console.print(f"[red]I1 violated ({len(invariant.violations)}):[/red] run `brain reconcile`.")


def register(app: typer.Typer) -> None:
    """Add the `consolidate` command to `app`."""

    @app.command()
    def consolidate(
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
        threshold: Annotated[
            float | None,
            typer.Option(
                "--threshold",
                min=0.5,
                max=1.0,
                help="Cosine similarity at or above which memories merge (BRAIN_CONSOLIDATE_THRESHOLD).",
            ),
        ] = None,
        user: Annotated[str | None, typer.Option("--user", help="Only this user's memories.")] = None,
        company: Annotated[str | None, typer.Option("--company", help="Only this company's.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Merge near-duplicate memories (same meaning, different slugs) of each user and company.

        Per group the oldest slug is kept (a pinned one first) with the newest content (or a longer
        one containing it); the others are forgotten, and brain_history says what was merged into
        what. Pairs naming different numbers or names are never merged. Conversation summaries are
        left alone. Exits 1 if the invariant fails afterwards or storage is unavailable.
        """
        if user is not None and company is not None:
            raise typer.BadParameter("give at most one of --user or --company")
        target = ("user", user) if user is not None else ("company", company) if company is not None else None
        if target is not None and not target[1].strip():
            raise typer.BadParameter("the id must not be empty")
        raise typer.Exit(run(_consolidate(threshold, dry_run, target, as_json)))

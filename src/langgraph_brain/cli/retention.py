"""`brain retention run|archived` and `brain memories restore`: archive by policy, list, restore.

`run` reads every tenant's rows, so with row-level security it runs as the owner role
(DATABASE_URL of the owner), like reconcile. `archived` and `restore` are one entity's and run as
any role with the tenant key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .memories import memories_app
from .output import counting, row
from .runner import console, run
from .stores import open_stores, settings

retention_app = typer.Typer(
    help="Retention: archive old, unimportant or over-budget memories (BRAIN_RETENTION_*), list archives."
)

UserOpt = Annotated[str | None, typer.Option("--user", help="Only this user's memories.")]
CompanyOpt = Annotated[str | None, typer.Option("--company", help="Only this company's.")]


def target_of(user: str | None, company: str | None, *, required: bool = False) -> tuple[str, str] | None:
    """The (scope, id) that --user/--company name (at most one; exactly one when `required`)."""
    if user is not None and company is not None:
        raise typer.BadParameter("give at most one of --user or --company")
    target = ("user", user) if user is not None else ("company", company) if company is not None else None
    if target is None and required:
        raise typer.BadParameter("give --user ID or --company ID")
    if target is not None and not target[1].strip():
        raise typer.BadParameter("the id must not be empty")
    return target


async def _run(policies: str | None, dry_run: bool, target: tuple[str, str] | None, as_json: bool) -> int:
    from ..brain.reconcile import acheck_invariant
    from ..extraction.retention import aretain, retention_policy

    s = settings()
    policy = retention_policy(s, policies)
    async with open_stores(s, sessions=False) as stores:
        with counting("retention", disable=as_json) as (on_total, on_progress):
            report = await aretain(
                stores.service,
                policy,
                dry_run=dry_run,
                target=target,
                consolidate_threshold=s.consolidate_threshold,
                on_total=on_total,
                on_progress=on_progress,
            )
        # After a real run, the invariant over every tenant, as reconcile and consolidate report it.
        invariant = None if dry_run else await acheck_invariant(stores.service)
    if as_json:
        checked = {} if invariant is None else {"invariant_ok": invariant.ok}
        console.print_json(json.dumps(report.as_dict() | checked))
    else:
        _print(report, invariant)
    return 0 if invariant is None or invariant.ok else 1


def _print(report: Any, invariant: Any) -> None:
    title = "retention (dry run: nothing changed)" if report.dry_run else "retention"
    table = Table(title=f"{title}, policies: {', '.join(report.policies) or 'none'}")
    for column in ("policy", "candidates", "archived", "examples"):
        table.add_column(column)
    for policy in report.policies:
        done = "-" if report.dry_run else report.archived.get(policy, 0)
        examples = ", ".join(report.examples.get(policy, []))
        row(table, policy, report.candidates.get(policy, 0), done, examples)
    console.print(table)
    if not report.policies:
        console.print("no archiving policy enabled (BRAIN_RETENTION_POLICIES or --policy stale,budget).")
    verb = "would be" if report.dry_run else "were"
    console.print(
        f"{report.merged} near-duplicate(s) {verb} merged in {report.entities_over_budget} over-budget"
        f" entit{'y' if report.entities_over_budget == 1 else 'ies'}; {report.finished} interrupted"
        f" archive(s) {verb} finished; {report.purged} archived memor"
        f"{'y' if report.purged == 1 else 'ies'} {verb} purged; {report.skipped} left for the next run"
        f" (busy or changed); {report.seconds:.1f} s."
    )
    if invariant is not None and not invariant.ok:
        console.print(f"[red]I1 violated ({len(invariant.violations)}):[/red] run `brain reconcile`.")


async def _archived(target: tuple[str, str], limit: int, as_json: bool) -> None:
    from ..brain.restore import alist_archived

    async with open_stores(sessions=False) as stores:
        items = await alist_archived(stores.service, *target, limit=limit)
    if as_json:
        console.print_json(json.dumps([i.as_dict() for i in items]))
        return
    table = Table(title=escape(f"archived memories of {target[0]} {target[1]} ({len(items)})"))
    for column in ("slug", "archived", "policy", "importance", "content"):
        table.add_column(column)
    for i in items:
        row(table, i.slug, f"{i.archived_at:%Y-%m-%d}", i.policy, f"{i.importance:.2f}", i.content)
    console.print(table)


async def _restore(target: tuple[str, str], slug: str) -> None:
    from ..brain.restore import arestore

    async with open_stores(sessions=False) as stores:
        result = await arestore(
            stores.service, *target, slug, actor={"agent": "brain-cli"}, reason="cli restore"
        )
    console.print(
        f"[green]restored[/green] {escape(f'{result.scope}:{result.entity_id} {result.slug}')}"
        f" (version {result.version})"
    )


def register(app: typer.Typer) -> None:
    """Add `retention run|archived` to `app` and `restore` to `brain memories`."""

    @retention_app.command("run")
    def retention_run(
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count; change nothing.")] = False,
        policy: Annotated[
            str | None,
            typer.Option(
                "--policy", help="stale, budget or stale,budget (default BRAIN_RETENTION_POLICIES)."
            ),
        ] = None,
        user: UserOpt = None,
        company: CompanyOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Archive memories by policy, finish interrupted archives, purge expired archives.

        stale: older than BRAIN_RETENTION_AGE_DAYS, importance below BRAIN_RETENTION_IMPORTANCE and
        inactive for BRAIN_RETENTION_INACTIVE_DAYS. budget: beyond BRAIN_RETENTION_BUDGET memories per
        user or company, near-duplicates are merged first, then the least valuable archived. Pinned or
        explicitly important memories are never archived. Exits 1 if the invariant fails afterwards.
        """
        raise typer.Exit(run(_run(policy, dry_run, target_of(user, company), as_json)))

    @retention_app.command("archived")
    def retention_archived(
        user: UserOpt = None,
        company: CompanyOpt = None,
        limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
    ) -> None:
        """List one user's or company's archived memories (restorable with `brain memories restore`)."""
        target = target_of(user, company, required=True)
        assert target is not None
        run(_archived(target, limit, as_json))

    @memories_app.command("restore")
    def memories_restore(
        slug: Annotated[str, typer.Argument(help="The archived slug to bring back.")],
        user: UserOpt = None,
        company: CompanyOpt = None,
    ) -> None:
        """Bring an archived memory back (saved again, searchable again; exit 2 if not archived)."""
        target = target_of(user, company, required=True)
        assert target is not None
        run(_restore(target, slug))

    app.add_typer(retention_app, name="retention")

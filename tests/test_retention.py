"""Retention on the real embedded Postgres, real Mem0 and real e5: policies, budget, archive,
restore, purge, crashes mid-run, as-of reads, erase, bad input and row-level security (issue 15).

Ages are made by backdating rows with owner SQL (created_at / updated_at, brain_archive.archived_at),
never by waiting. Each test works on its own entities and runs retention for that entity only
(`target`), except where a test says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import ValidationError
from typer.testing import CliRunner

from langgraph_brain.brain import (
    BrainConfigurationError,
    MemoryNotFoundError,
    MemoryService,
    MemoryValidationError,
    entity_key,
)
from langgraph_brain.brain.archive import aarchive_batch, arun
from langgraph_brain.brain.erase import aerase_entity
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.brain.reconcile import acheck_invariant, areconcile
from langgraph_brain.brain.restore import alist_archived, arestore, list_archived, restore
from langgraph_brain.brain.retention import RetentionPolicy, parse_policies
from langgraph_brain.brain.rows import key_lock
from langgraph_brain.cli import app
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.db.rls import TENANT_SQL, Tenant, acreate_app_role, aread_tenant_key, parse_tenant_key
from langgraph_brain.extraction.queue import create_queue_app
from langgraph_brain.extraction.retention import aretain, retention_policy
from langgraph_brain.extraction.upkeep import UpkeepSchedule, upkeep_blueprint
from langgraph_brain.settings import BrainSettings, get_settings

WORKER = Path(__file__).with_name("retention_worker.py")
STALE = RetentionPolicy(policies=("stale",), age_days=30, inactive_days=30, importance_below=0.6)
OLD = 200  # days: older and longer inactive than every policy here asks
#: Every attack attempt made by this module, for the report.
ATTACKS: list[str] = []


async def _owner_sql(database: Database, query: str, params: Any = None) -> list[dict[str, Any]]:
    async with database.pool.connection() as conn:
        cur = await conn.execute(query.encode(), params)
        return await cur.fetchall() if cur.description else []


async def _age(
    database: Database, scope: str, entity: str, slugs: list[str], days: float, *, updated: bool = True
) -> None:
    """Backdate rows: created `days` ago and, with `updated`, last updated then too."""
    column = "created_at = now() - make_interval(days => %s)" + (
        ", updated_at = now() - make_interval(days => %s)" if updated else ""
    )
    params = (days, days) if updated else (days,)
    await _owner_sql(
        database,
        f"UPDATE brain_memories SET {column} WHERE scope = %s AND entity_id = %s AND slug = ANY(%s)",
        (*params, scope, entity, slugs),
    )


async def _touch(database: Database, scope: str, entity: str, slug: str) -> None:
    """Record an access now (what search and get do through `brain_memory_access`)."""
    await _owner_sql(
        database,
        "INSERT INTO brain_memory_access (brain_id, scope, entity_id, access_count, last_accessed_at)"
        " SELECT id, scope, entity_id, 1, now() FROM brain_memories WHERE scope = %s AND entity_id = %s"
        " AND slug = %s ON CONFLICT (brain_id) DO UPDATE SET last_accessed_at = now()",
        (scope, entity, slug),
    )


async def _live(service: MemoryService, scope: str, entity: str) -> set[str]:
    return {r.slug for r in await service.alist(scope, entity, limit=1000)}


async def _archived(service: MemoryService, scope: str, entity: str) -> set[str]:
    return {a.slug for a in await alist_archived(service, scope, entity, limit=1000)}


async def _mem0_slugs(service: MemoryService, scope: str, entity: str) -> set[str]:
    return {
        str(h.metadata.get("slug")) for h in await service.index.alist(entity_key=entity_key(scope, entity))
    }


async def _actions(service: MemoryService, scope: str, entity: str, slug: str) -> list[str]:
    """History actions of one slug, oldest first."""
    return [h.action for h in reversed(await service.ahistory(scope, entity, slug))]


async def _assert_i1(service: MemoryService) -> None:
    report = await acheck_invariant(service)
    assert report.ok, report.violations[:5]


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policies": ("stale", "oldest")}, "unknown retention policy 'oldest'"),
        ({"policies": "stale,,forever"}, "unknown retention policy 'forever'"),
        ({"age_days": -1}, "age_days must be 0 or more"),
        ({"inactive_days": -0.5}, "inactive_days must be 0 or more"),
        ({"purge_days": -30}, "purge_days must be 0 or more"),
        ({"half_life_days": 0}, "half_life_days must be greater than 0"),
        ({"age_days": math.nan}, "finite number"),
        ({"inactive_days": math.inf}, "finite number"),
        ({"importance_below": 1.5}, "importance_below must be between 0 and 1"),
        ({"importance_below": -0.1}, "importance_below must be between 0 and 1"),
        ({"protect_importance": 2}, "protect_importance must be between 0 and 1"),
        ({"protect_importance": True}, "protect_importance must be between 0 and 1"),
        ({"budget": 0, "policies": ("budget",)}, "budget must be at least 1"),
        ({"budget": 2.5, "policies": ("budget",)}, "whole number"),
        ({"policies": ("budget",)}, "the budget policy needs a budget"),
    ],
)
def test_bad_policies_are_refused_with_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(MemoryValidationError, match=match):
        RetentionPolicy(**kwargs)


def test_policy_names_and_settings() -> None:
    assert parse_policies(" Stale , budget,stale ") == ("stale", "budget")
    assert parse_policies("") == () and RetentionPolicy().policies == ()
    for env in (
        {"BRAIN_RETENTION_AGE_DAYS": "-1"},
        {"BRAIN_RETENTION_IMPORTANCE": "1.2"},
        {"BRAIN_RETENTION_PROTECT_IMPORTANCE": "-0.2"},
        {"BRAIN_RETENTION_BUDGET": "0"},
        {"BRAIN_RETENTION_PURGE_DAYS": "-5"},
        {"BRAIN_RETENTION_HALF_LIFE_DAYS": "0"},
    ):
        with pytest.raises(ValidationError):
            BrainSettings(**env)  # type: ignore[arg-type]
    with pytest.raises(MemoryValidationError, match="unknown retention policy 'archive_all'"):
        retention_policy(BrainSettings(BRAIN_RETENTION_POLICIES="archive_all"))  # type: ignore[call-arg]
    policy = retention_policy(
        BrainSettings(BRAIN_RETENTION_POLICIES="budget", BRAIN_RETENTION_BUDGET=50)  # type: ignore[call-arg]
    )
    assert (policy.policies, policy.budget, policy.age_days, policy.purge_days) == (("budget",), 50, 180, 365)


def test_schedule_is_off_by_default_and_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://unused"

    def crons() -> dict[str, str]:
        schedule = UpkeepSchedule.from_settings(BrainSettings())
        queue = create_queue_app(url, blueprints=(upkeep_blueprint(schedule),))
        return {p.task.name: p.cron for p in queue.periodic_registry.periodic_tasks.values()}

    assert "brain:upkeep.retention" not in crons()
    monkeypatch.setenv("BRAIN_RETENTION_POLICIES", "stale")
    monkeypatch.setenv("BRAIN_RETENTION_CRON", "5 2 * * *")
    assert crons()["brain:upkeep.retention"] == "5 2 * * *"
    monkeypatch.setenv("BRAIN_UPKEEP", "false")
    assert crons() == {}
    monkeypatch.setenv("BRAIN_UPKEEP", "true")
    monkeypatch.setenv("BRAIN_RETENTION_POLICIES", "stale,purge_everything")
    with pytest.raises(MemoryValidationError, match="purge_everything"):
        UpkeepSchedule.from_settings(BrainSettings())
    with pytest.raises(ValueError, match="retention_cron"):
        UpkeepSchedule(retention_cron="nightly")


# ------------------------------------------------------------------------------ policies


async def _seed_stale(service: MemoryService, database: Database, user: str) -> None:
    """Memories around the stale policy's three conditions (importance from migration v9)."""
    await service.asave("user", user, "old_summary", f"{user}: we talked about the garden.",
                        category="conversation_summary")  # importance 0.3  # fmt: skip
    await service.asave("user", user, "old_low", f"{user} once mentioned a blue umbrella.",
                        metadata={"importance": 0.2})  # fmt: skip
    await service.asave("user", user, "old_fact", f"{user} owns a red bicycle.")  # fact: 0.5
    await service.asave(
        "user", user, "old_pref", f"{user} prefers tea to coffee.", category="preference"
    )  # 0.6
    await service.asave("user", user, "accessed", f"{user} has a library card.", metadata={"importance": 0.1})
    await service.asave("user", user, "edited", f"{user} parks on level two.", metadata={"importance": 0.1})
    await service.asave("user", user, "young", f"{user} started piano lessons.", metadata={"importance": 0.1})
    await service.asave("user", user, "pinned", f"{user}'s passport number ends in 42.",
                        category="conversation_summary", metadata={"pinned": True})  # fmt: skip
    await service.asave(
        "user", user, "vital", f"{user} is allergic to penicillin.", metadata={"importance": 0.9}
    )
    await service.asave("user", user, "middling", f"{user} likes jazz.", metadata={"importance": 0.7})
    # Saves refuse a non-numeric importance today; rows written before (or by SQL) may hold one.
    await service.asave(
        "user", user, "stringy", f"{user} chatted about clouds.", category="conversation_summary"
    )
    await _owner_sql(database, "UPDATE brain_memories SET metadata = '{\"importance\": \"high\"}'"
                               " WHERE entity_id = %s AND slug = 'stringy'", (user,))  # fmt: skip
    everything = [
        "old_summary", "old_low", "old_fact", "old_pref", "accessed", "pinned", "vital", "middling",
        "stringy",
    ]  # fmt: skip
    await _age(database, "user", user, everything, OLD)
    await _age(database, "user", user, ["edited"], OLD, updated=False)  # created long ago, edited lately
    await _touch(database, "user", user, "accessed")  # old, unimportant, but read today


async def test_stale_policy_archives_exactly_the_expected_rows(
    service: MemoryService, database: Database
) -> None:
    user = "stale_ana"
    await _seed_stale(service, database, user)
    policy = RetentionPolicy(policies=("stale",), age_days=30, inactive_days=30, importance_below=0.5)
    report = await arun(service, policy, target=("user", user))
    # "stringy" says "importance": "high", which is no number: its category's 0.3 counts.
    assert report.candidates == {"stale": 3} and report.archived == {"stale": 3}, report
    assert await _archived(service, "user", user) == {"old_summary", "old_low", "stringy"}
    assert await _live(service, "user", user) == {
        "old_fact", "old_pref", "accessed", "edited", "young", "pinned", "vital", "middling",
    }  # fmt: skip
    assert await _mem0_slugs(service, "user", user) == await _live(service, "user", user)
    assert await service.aget("user", user, "old_low") is None
    hits = await service.asearch("user", user, "blue umbrella", k=10)
    assert "old_low" not in {h.slug for h in hits} and hits, hits
    (entry, *_) = await service.ahistory("user", user, "old_low")
    assert (entry.action, entry.new_content, entry.old_content) == (
        "archive", None, f"{user} once mentioned a blue umbrella.",
    )  # fmt: skip
    assert entry.actor == {"agent": "retention"} and entry.reason and "stale" in entry.reason
    archived = {a.slug: a for a in await alist_archived(service, "user", user)}
    assert archived["old_low"].metadata == {"importance": 0.2} and archived["old_low"].policy == "stale"
    assert math.isclose(archived["old_summary"].importance, 0.3, rel_tol=1e-6)
    await _assert_i1(service)

    # Everything below 1 now: still never the pinned memory nor the explicitly important one (0.9 >=
    # the 0.8 protect threshold); the 0.7 one is explicit but below it, so it goes.
    wide = RetentionPolicy(policies=("stale",), age_days=30, inactive_days=30, importance_below=1.0)
    again = await arun(service, wide, target=("user", user))
    assert again.archived == {"stale": 3}, again
    assert await _live(service, "user", user) == {"accessed", "edited", "young", "pinned", "vital"}
    assert await _archived(service, "user", user) == {
        "old_summary", "old_low", "stringy", "old_fact", "old_pref", "middling",
    }  # fmt: skip
    # Nothing left to do: a third run changes nothing, and no slug was archived twice.
    third = await arun(service, wide, target=("user", user))
    assert (third.candidates, third.archived, third.finished) == ({}, {}, 0)
    assert await _actions(service, "user", user, "old_low") == ["create", "archive"]
    await _assert_i1(service)


async def test_age_counts_apart_from_inactivity(service: MemoryService, database: Database) -> None:
    """A memory idle long enough but younger than the age limit stays (age 180 d, inactive 30 d)."""
    user = "age_ola"
    for slug in ("idle_100_days", "idle_200_days"):
        await service.asave("user", user, slug, f"Ola note {slug}.", metadata={"importance": 0.1})
    await _age(database, "user", user, ["idle_100_days"], 100)
    await _age(database, "user", user, ["idle_200_days"], 200)
    policy = RetentionPolicy(policies=("stale",), age_days=180, inactive_days=30, importance_below=0.5)
    assert (await arun(service, policy, target=("user", user))).archived == {"stale": 1}
    assert await _live(service, "user", user) == {"idle_100_days"}


async def test_protected_memories_survive_every_policy(service: MemoryService, database: Database) -> None:
    user = "protected_bo"
    await service.asave("user", user, "pin", "Bo's locker is 12.", category="conversation_summary",
                        metadata={"pinned": True, "importance": 0.0})  # fmt: skip
    await service.asave("user", user, "explicit", "Bo is diabetic.", metadata={"importance": 0.8})
    await service.asave("user", user, "filler", "Bo said hello.", metadata={"importance": 0.0})
    await _age(database, "user", user, ["pin", "explicit", "filler"], OLD)
    harsh = RetentionPolicy(
        policies=("stale", "budget"), age_days=0, inactive_days=0, importance_below=1.0, budget=1, merge=False
    )
    report = await arun(service, harsh, target=("user", user))
    assert await _live(service, "user", user) == {"pin", "explicit"}, report
    assert await _archived(service, "user", user) == {"filler"}
    # The explicit pin wins over an explicit importance of 0 (brain_importance: importance first),
    # and protection is about the pin itself.
    assert (await arun(service, harsh, target=("user", user))).candidates == {}


async def test_budget_archives_the_least_valuable(service: MemoryService, database: Database) -> None:
    user = "budget_cy"
    for slug in ("p1", "p2"):
        await service.asave("user", user, slug, f"Cy pinned note {slug}.", metadata={"pinned": True})
    for slug, importance in (("a", 0.6), ("b", 0.5), ("c", 0.4), ("d", 0.3), ("e", 0.2), ("f", 0.6)):
        await service.asave("user", user, slug, f"Cy fact {slug}: value {importance}.",
                            metadata={"importance": importance})  # fmt: skip
    # f is as important as a, but untouched for 200 days: 0.6 x 0.5^(200/30) is about 0.006.
    await _age(database, "user", user, ["f"], OLD)
    policy = RetentionPolicy(policies=("budget",), budget=5, merge=False)
    dry = await aretain(service, policy, target=("user", user), dry_run=True)
    assert dry.candidates == {"budget": 3} and dry.archived == {}
    report = await aretain(service, policy, target=("user", user))
    assert report.archived == {"budget": 3}, report
    assert await _live(service, "user", user) == {"p1", "p2", "a", "b", "c"}
    assert await _archived(service, "user", user) == {"d", "e", "f"}
    assert all(a.policy == "budget" for a in await alist_archived(service, "user", user))
    assert (await aretain(service, policy, target=("user", user))).candidates == {}
    await _assert_i1(service)


async def test_budget_merges_near_duplicates_before_archiving(service: MemoryService) -> None:
    user = "merge_di"
    await service.asave("user", user, "city", "Di lives in Oran.", category="profile")
    await service.asave("user", user, "home_city", "Di's home city is Oran.", category="profile")
    await service.asave("user", user, "job", "Di works as a nurse.", category="profile")
    policy = RetentionPolicy(policies=("budget",), budget=2)
    report = await aretain(service, policy, target=("user", user), consolidate_threshold=0.93)
    assert (report.entities_over_budget, report.merged, report.archived) == (1, 1, {}), report
    assert await _live(service, "user", user) == {"city", "job"}
    assert await _archived(service, "user", user) == set()
    await _assert_i1(service)


async def test_dry_run_writes_nothing(service: MemoryService, database: Database) -> None:
    user = "dry_ed"
    await _seed_stale(service, database, user)
    await arun(service, STALE, target=("user", user))  # archives, so that purge has something
    await _owner_sql(database, "UPDATE brain_archive SET archived_at = now() - interval '400 days'"
                               " WHERE scope = 'user' AND entity_id = %s", (user,))  # fmt: skip
    await service.asave("user", user, "later", "Ed's later note.", metadata={"importance": 0.1})
    await _age(database, "user", user, ["later"], OLD)

    async def snapshot() -> Any:
        return (
            await _owner_sql(database, "SELECT id, sync_state, version FROM brain_memories"
                                       " WHERE entity_id = %s ORDER BY id", (user,)),
            await _owner_sql(database, "SELECT count(*) AS n FROM brain_history"
                                       " WHERE entity_id = %s", (user,)),
            await _owner_sql(database, "SELECT id, archived_at FROM brain_archive WHERE entity_id = %s"
                                       " ORDER BY id", (user,)),
            await _mem0_slugs(service, "user", user),
        )  # fmt: skip

    before = await snapshot()
    dry = await arun(service, STALE, target=("user", user), dry_run=True)
    assert (
        dry.dry_run and dry.candidates == {"stale": 1} and dry.examples == {"stale": [f"user:{user}/later"]}
    )
    assert (dry.archived, dry.purged) == ({}, 4), dry  # old_summary, old_low, stringy, old_fact
    assert await snapshot() == before


# ------------------------------------------------------------------------------ crashes


@pytest.mark.parametrize("point", ["after_row_commit", "after_index_write", "before_mark"])
async def test_killed_mid_run_then_rerun(
    service: MemoryService, database: Database, database_url: str, point: str
) -> None:
    user = f"kill_{point}"
    doomed = ["k1", "k2", "k3", "k4", "k5"]
    for slug in doomed:
        await service.asave("user", user, slug, f"{user}: trivial note {slug}.", metadata={"importance": 0.1})
    await service.asave(
        "user", user, "keep", f"{user}: the alarm code is 7781.", metadata={"importance": 0.9}
    )
    await _age(database, "user", user, [*doomed, "keep"], OLD)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(WORKER), database_url, point, "user", user],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 137, proc.stderr[-2000:]
    # The first batch (2 rows) is half-done: hidden from reads and search, copied into the archive.
    assert await _archived(service, "user", user) == {"k1", "k2"}
    assert await _live(service, "user", user) == {"k3", "k4", "k5", "keep"}
    hits = {h.slug for h in await service.asearch("user", user, "trivial note", k=10)}
    assert not hits & {"k1", "k2"}, hits
    broken = await acheck_invariant(service)
    assert not broken.ok and all(user in v for v in broken.violations), broken.violations

    report = await arun(service, STALE, target=("user", user))
    assert (report.finished, report.archived) == (2, {"stale": 3}), report
    assert await _archived(service, "user", user) == set(doomed)
    assert await _live(service, "user", user) == {"keep"} == await _mem0_slugs(service, "user", user)
    for slug in doomed:  # archived once each, nothing lost
        assert await _actions(service, "user", user, slug) == ["create", "archive"], slug
    contents = {a.slug: a.content for a in await alist_archived(service, "user", user)}
    assert contents == {s: f"{user}: trivial note {s}." for s in doomed}
    await _assert_i1(service)


async def test_reconcile_finishes_a_killed_run(
    service: MemoryService, database: Database, database_url: str
) -> None:
    user = "kill_reconcile"
    for slug in ("r1", "r2", "r3"):
        await service.asave("user", user, slug, f"{user}: trivial note {slug}.", metadata={"importance": 0.1})
    await _age(database, "user", user, ["r1", "r2", "r3"], OLD)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(WORKER), database_url, "after_row_commit", "user", user],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 137, proc.stderr[-2000:]
    repaired = await areconcile(service)
    assert repaired.finished_forgets == 2 and repaired.failed == 0, repaired
    await _assert_i1(service)
    report = await arun(service, STALE, target=("user", user))
    assert (report.finished, report.archived) == (0, {"stale": 1}), report
    assert await _archived(service, "user", user) == {"r1", "r2", "r3"}
    assert [await _actions(service, "user", user, s) for s in ("r1", "r2", "r3")] == [
        ["create", "archive"]
    ] * 3
    await _assert_i1(service)


async def test_a_key_in_use_is_left_for_the_next_run(service: MemoryService, database: Database) -> None:
    """A save or forget in flight holds its key lock: retention skips that key instead of racing it."""
    user = "busy_kim"
    for slug in ("held", "free"):
        await service.asave("user", user, slug, f"Kim note {slug}.", metadata={"importance": 0.1})
    await _age(database, "user", user, ["held", "free"], OLD)
    async with key_lock(service.pool, "user", user, "held"):
        report = await arun(service, STALE, target=("user", user))
    assert (report.candidates, report.archived, report.skipped) == ({"stale": 2}, {"stale": 1}, 1), report
    assert await _live(service, "user", user) == {"held"}
    later = await arun(service, STALE, target=("user", user))
    assert later.archived == {"stale": 1} and await _archived(service, "user", user) == {"held", "free"}
    await _assert_i1(service)


async def test_the_archive_step_rechecks_under_the_row_lock(
    service: MemoryService, database: Database
) -> None:
    """Candidates are re-checked when marked: a protected row or one changed since selection stays."""
    user = "recheck_max"
    for slug in ("ok", "pinned", "changed"):
        await service.asave("user", user, slug, f"Max note {slug}.", metadata={"importance": 0.1})
    await service.asave("user", user, "pinned", "Max note pinned.", metadata={"pinned": True})
    rows = await _owner_sql(
        database, "SELECT id, scope, entity_id, slug, version, 'stale' AS policy FROM brain_memories"
        " WHERE entity_id = %s ORDER BY slug", (user,),
    )  # fmt: skip
    await service.asave("user", user, "changed", "Max note changed since the selection.")
    async with service.admin_pool.connection() as conn:
        done = await aarchive_batch(service, conn, rows, STALE)
    assert [r["slug"] for r in done] == ["ok"]
    assert await _live(service, "user", user) == {"pinned", "changed"}
    await _assert_i1(service)


class SimulatedCrash(BaseException):
    """Raised from the fault hook, like a process being torn down."""


async def test_a_restore_that_crashed_is_finished_by_reconcile(
    service: MemoryService, database: Database
) -> None:
    user = "restore_crash_lu"
    text = "Lu's bike lock code is 5521."
    await service.asave("user", user, "lock", text, metadata={"importance": 0.1})
    await _age(database, "user", user, ["lock"], OLD)
    await arun(service, STALE, target=("user", user))

    def crash(point: str) -> None:
        if point == "after_row_commit":
            raise SimulatedCrash(point)

    service.fault_hook = crash
    try:
        with pytest.raises(SimulatedCrash):
            await arestore(service, "user", user, "lock")
    finally:
        service.fault_hook = None
    # Committed: the row is back (pending) and the archive copy gone, so nothing restores twice.
    assert await _archived(service, "user", user) == set()
    record = await service.aget("user", user, "lock")
    assert record is not None and record.sync_state == "pending"
    repaired = await areconcile(service)
    assert repaired.recreated_missing == 1 and repaired.failed == 0, repaired
    await _assert_i1(service)
    assert [h.slug for h in await service.asearch("user", user, "bike lock code", k=3)] == ["lock"]


# ------------------------------------------------------------------------------ restore, purge, as-of


async def test_restore_brings_it_back_and_history_says_so(service: MemoryService, database: Database) -> None:
    user = "restore_fay"
    text = "Fay keeps her spare key under the blue flowerpot."
    await service.asave("user", user, "spare_key", text, category="preference", metadata={"importance": 0.1})
    await service.asave("user", user, "other", "Fay likes hiking.")
    await _age(database, "user", user, ["spare_key"], OLD)
    before = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await arun(service, STALE, target=("user", user))
    archived_at = datetime.now(UTC)
    await asyncio.sleep(0.01)
    assert "spare_key" not in {
        h.slug for h in await service.asearch("user", user, "spare key flowerpot", k=5)
    }

    # As of before the archive the memory was there; from the archive on it is absent.
    past = await service.aget("user", user, "spare_key", as_of=before)
    assert past is not None and past.content == text
    assert await service.aget("user", user, "spare_key", as_of=archived_at) is None
    assert "spare_key" not in {r.slug for r in await service.alist("user", user, as_of=archived_at)}

    result = await arestore(service, "user", "  Restore_FAY ", "spare_key")  # normalised like a save
    assert (result.status, result.entity_id) == ("created", user)
    record = await service.aget("user", user, "spare_key")
    assert record is not None and record.content == text and record.sync_state == "synced"
    assert (record.category, record.metadata) == ("preference", {"importance": 0.1})
    hits = await service.asearch("user", user, "where is the spare key?", k=3)
    assert hits and hits[0].slug == "spare_key", hits
    assert await _actions(service, "user", user, "spare_key") == ["create", "archive", "restore"]
    (entry, *_) = await service.ahistory("user", user, "spare_key")
    assert (entry.new_content, entry.reason) == (text, "restore")
    assert (await service.aget("user", user, "spare_key", as_of=datetime.now(UTC))) is not None
    assert await _archived(service, "user", user) == set()
    await _assert_i1(service)

    with pytest.raises(MemoryNotFoundError, match="no archived user memory with slug 'spare_key'"):
        await arestore(service, "user", user, "spare_key")  # restored already
    with pytest.raises(MemoryNotFoundError, match="no archived"):
        await arestore(service, "user", user, "never_existed")
    # Restored memories are young again: the next run leaves it alone.
    assert (await arun(service, STALE, target=("user", user))).candidates == {}

    # A live memory of the same slug is never overwritten by a restore.
    await _age(database, "user", user, ["spare_key"], OLD)
    await arun(service, STALE, target=("user", user))
    await service.asave("user", user, "spare_key", "Fay moved the key to the mailbox.")
    with pytest.raises(MemoryValidationError, match="live user memory 'spare_key' exists"):
        await arestore(service, "user", user, "spare_key")
    live = await service.aget("user", user, "spare_key")
    assert live is not None and live.content == "Fay moved the key to the mailbox."
    assert await _archived(service, "user", user) == {"spare_key"}

    # The blocking twins, from a thread other than the service's loop.
    await service.aforget("user", user, "spare_key")
    listed = await asyncio.to_thread(list_archived, service, "user", user)
    assert [a.slug for a in listed] == ["spare_key"]
    again = await asyncio.to_thread(restore, service, "user", user, "spare_key")
    assert again.status == "created"
    assert (await service.aget("user", user, "spare_key")).content == text  # type: ignore[union-attr]
    await _assert_i1(service)


async def test_purge_after_the_period_keeps_history(service: MemoryService, database: Database) -> None:
    user = "purge_gus"
    for slug in ("old1", "old2", "fresh"):
        await service.asave("user", user, slug, f"Gus note {slug}.", metadata={"importance": 0.1})
    await _age(database, "user", user, ["old1", "old2", "fresh"], OLD)
    await arun(service, STALE, target=("user", user))
    await _owner_sql(database, "UPDATE brain_archive SET archived_at = now() - interval '400 days'"
                               " WHERE entity_id = %s AND slug <> 'fresh'", (user,))  # fmt: skip
    # old2 was re-created after its archive: its purge keeps the live text valid for as-of reads.
    await service.asave("user", user, "old2", "Gus note old2, saved again.")
    keep = RetentionPolicy(policies=(), purge_days=0)
    assert (await arun(service, keep, target=("user", user))).purged == 0  # 0: never purge
    policy = RetentionPolicy(policies=(), purge_days=365)
    dry = await arun(service, policy, target=("user", user), dry_run=True)
    assert dry.purged == 2 and await _archived(service, "user", user) == {"old1", "old2", "fresh"}
    report = await arun(service, policy, target=("user", user))
    assert report.purged == 2
    assert await _archived(service, "user", user) == {"fresh"}
    assert await _actions(service, "user", user, "old1") == ["create", "archive", "purge"]
    (entry, *_) = await service.ahistory("user", user, "old1")
    assert (entry.action, entry.old_content, entry.new_content) == ("purge", None, None)
    assert await service.aget("user", user, "old1", as_of=datetime.now(UTC)) is None
    now_old2 = await service.aget("user", user, "old2", as_of=datetime.now(UTC))
    assert now_old2 is not None and now_old2.content == "Gus note old2, saved again."
    with pytest.raises(MemoryNotFoundError):
        await arestore(service, "user", user, "old1")
    assert (await arun(service, policy, target=("user", user))).purged == 0
    await _assert_i1(service)


async def test_erase_removes_the_archive(service: MemoryService, database: Database) -> None:
    for user in ("erase_hal", "erase_hal2"):
        for slug in ("a", "b"):
            await service.asave("user", user, slug, f"{user} note {slug}.", metadata={"importance": 0.1})
        await _age(database, "user", user, ["a"], OLD)
        await arun(service, STALE, target=("user", user))
        assert await _archived(service, "user", user) == {"a"}
    report = await aerase_entity(service, "user", "erase_hal")
    assert (report.archive_rows, report.brain_rows) == (1, 1), report
    assert await _archived(service, "user", "erase_hal") == set()
    left = await _owner_sql(database, "SELECT count(*) AS n FROM brain_archive WHERE entity_id = 'erase_hal'")
    assert left == [{"n": 0}]
    assert await _archived(service, "user", "erase_hal2") == {"a"}  # the neighbour is untouched


# ------------------------------------------------------------------------------ CLI


async def test_cli_run_archived_restore(
    service: MemoryService, database: Database, database_url: str
) -> None:
    user = "cli_ida"
    await service.asave("user", user, "trivia", "Ida once ate a plum.", metadata={"importance": 0.1})
    await service.asave("user", user, "core", "Ida is the CFO.", category="profile")
    await _age(database, "user", user, ["trivia", "core"], OLD)
    env = {"DATABASE_URL": database_url, "COLUMNS": "200", "MEM0_TELEMETRY": "False",
           "BRAIN_RETENTION_AGE_DAYS": "30", "BRAIN_RETENTION_INACTIVE_DAYS": "30"}  # fmt: skip

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        try:
            none = await asyncio.to_thread(invoke, "retention", "run", "--dry-run", "--user", user)
            dry = await asyncio.to_thread(
                invoke, "retention", "run", "--dry-run", "--policy", "stale", "--user", user
            )
            done = await asyncio.to_thread(
                invoke, "retention", "run", "--policy", "stale", "--user", user, "--json"
            )
            listed = await asyncio.to_thread(invoke, "retention", "archived", "--user", user)
            back = await asyncio.to_thread(invoke, "memories", "restore", "trivia", "--user", user)
            missing = await asyncio.to_thread(invoke, "memories", "restore", "trivia", "--user", user)
            bad_policy = await asyncio.to_thread(invoke, "retention", "run", "--policy", "oldest")
            both = await asyncio.to_thread(
                invoke, "memories", "restore", "x", "--user", "a", "--company", "b"
            )
            neither = await asyncio.to_thread(invoke, "memories", "restore", "x")
            injected = "x'; DROP TABLE brain_archive;--"
            bad_slug = await asyncio.to_thread(invoke, "memories", "restore", injected, "--user", user)
        finally:
            get_settings.cache_clear()
    assert none.exit_code == 0 and "no archiving policy enabled" in none.output, none.output
    assert dry.exit_code == 0 and "dry run" in dry.output and f"user:{user}/trivia" in dry.output, dry.output
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["archived"] == {"stale": 1} and out["invariant_ok"] is True
    assert out["examples"] == {"stale": [f"user:{user}/trivia"]}
    assert listed.exit_code == 0 and "trivia" in listed.output and "stale" in listed.output
    assert back.exit_code == 0 and "restored" in back.output, back.output
    assert missing.exit_code == 2 and "no archived user memory" in missing.output, missing.output
    assert bad_policy.exit_code == 2 and "unknown retention policy 'oldest'" in bad_policy.output
    assert both.exit_code == 2 and neither.exit_code == 2
    assert bad_slug.exit_code == 2, bad_slug.output
    assert (await service.aget("user", user, "trivia")) is not None
    assert await _owner_sql(database, "SELECT to_regclass('brain_archive') IS NOT NULL AS ok") == [
        {"ok": True}
    ]


# ------------------------------------------------------------------------------ row-level security

ROLE = f"brain_app_{uuid.uuid4().hex[:6]}"
SECRET = "Jon's safe combination is 31-14-27."


@pytest.fixture(scope="module")
async def app_service(
    service: MemoryService, database: Database, database_url: str
) -> AsyncIterator[MemoryService]:
    """The service as the restricted application role (signed tenants), plus a victim's archive."""
    await service.asave("user", "rls_jon", "safe", SECRET, metadata={"importance": 0.1})
    await service.asave("user", "rls_jon", "keep", "Jon likes chess.")
    await _age(database, "user", "rls_jon", ["safe"], OLD)
    await arun(service, STALE, target=("user", "rls_jon"))
    async with database.pool.connection() as conn:
        await acreate_app_role(conn, ROLE, "pw")
        key = parse_tenant_key(await aread_tenant_key(conn))
    url = make_conninfo(database_url, user=ROLE, password="pw")
    assert isinstance(service.index, Mem0OSSIndex)
    index = await asyncio.to_thread(
        Mem0OSSIndex.create, url, service.index.embeddings, dims=384, pool_max_size=2
    )
    pool = await open_async_pool(url, min_size=1, max_size=3)
    svc = MemoryService(pool, index, tenant_key=key)
    svc.app_url = url  # type: ignore[attr-defined]
    yield svc
    await pool.close()
    await index.aclose()


async def test_app_role_cannot_reach_another_tenants_archive(
    app_service: MemoryService, database: Database
) -> None:
    url: str = app_service.app_url  # type: ignore[attr-defined]
    before = await _owner_sql(database, "SELECT * FROM brain_archive ORDER BY id")
    key = app_service.tenancy.key
    forged = {
        "no tenant": None,
        "unsigned victim": ("user", "rls_jon", "user:rls_jon", ""),
        "random signature": ("user", "rls_jon", "user:rls_jon", uuid.uuid4().hex * 2),
        "own signature, victim's id": (
            "user", "rls_jon", "user:rls_jon", Tenant.signed(key, "user", "eve", "user:eve").sig,
        ),
        "signed other scope": Tenant.signed(key, "company", "rls_jon", "company:rls_jon").params(),
        "signed attacker": Tenant.signed(key, "user", "eve", "user:eve").params(),
    }  # fmt: skip
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for name, params in forged.items():
            async with conn.transaction():
                if params is not None:
                    await conn.execute(TENANT_SQL, params)
                for statement in (
                    "SELECT content FROM brain_archive",
                    "SELECT content FROM brain_archive WHERE entity_id = 'rls_jon'",
                    "UPDATE brain_archive SET content = 'pwned' RETURNING content",
                    "DELETE FROM brain_archive RETURNING content",
                ):
                    ATTACKS.append(f"{statement.split()[0].lower()} brain_archive as {name}")
                    rows = await (await conn.execute(statement.encode())).fetchall()
                    assert rows == [] and SECRET not in json.dumps(rows), (name, statement)
            ATTACKS.append(f"plant an archive row for the victim as {name}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                async with conn.transaction():
                    if params is not None:
                        await conn.execute(TENANT_SQL, params)
                    await conn.execute(
                        "INSERT INTO brain_archive (brain_id, scope, entity_id, slug, content, category,"
                        " version, importance, created_at, updated_at, policy) VALUES"
                        " (1, 'user', 'rls_jon', 'planted', 'planted', 'fact', 1, 0, now(), now(), 'stale')"
                    )
    assert await _owner_sql(database, "SELECT * FROM brain_archive ORDER BY id") == before


async def test_service_cannot_list_restore_or_archive_for_another_user(
    app_service: MemoryService, service: MemoryService, database: Database
) -> None:
    before = await _owner_sql(database, "SELECT * FROM brain_archive ORDER BY id")
    ATTACKS.append("list the archive as another user")
    assert await alist_archived(app_service, "user", "eve") == []
    ATTACKS.append("restore the victim's slug as another user")
    with pytest.raises(MemoryNotFoundError):
        await arestore(app_service, "user", "eve", "safe")
    ATTACKS.append("restore the victim's slug under another scope")
    with pytest.raises(MemoryNotFoundError):
        await arestore(app_service, "company", "rls_jon", "safe")
    for slug in ("safe' OR '1'='1", "safe;DELETE FROM brain_archive", "../rls_jon/safe", "SAFE", "safe\x00"):
        ATTACKS.append(f"restore with injected slug {slug!r}")
        with pytest.raises(MemoryValidationError):
            await arestore(app_service, "user", "eve", slug)
    for entity in ("rls_jon' OR 'x'='x", "eve\x00rls_jon"):
        ATTACKS.append(f"list with injected entity {entity!r}")
        try:
            leaked = await alist_archived(app_service, "user", entity)
        except (MemoryValidationError, BrainConfigurationError):
            leaked = []
        assert leaked == []
    ATTACKS.append("cross-tenant retention run as the application role")
    with pytest.raises(BrainConfigurationError, match="owner role"):
        await arun(
            app_service, RetentionPolicy(policies=("stale",), age_days=0, inactive_days=0, importance_below=1)
        )
    assert await _owner_sql(database, "SELECT * FROM brain_archive ORDER BY id") == before
    # The victim's own tenant, through the same application role, restores it.
    restored = await arestore(app_service, "user", "rls_jon", "safe")
    assert restored.status == "created"
    assert (await service.aget("user", "rls_jon", "safe")).content == SECRET  # type: ignore[union-attr]
    await _assert_i1(service)


def test_attack_count() -> None:
    """Every attempt above ran and leaked nothing (a leak fails its own test first)."""
    print(f"\nretention RLS attack attempts: {len(ATTACKS)}, leaks: 0")
    assert len(ATTACKS) >= 30

"""Crash injection at every step of the save and forget protocols, then reconcile.

Each case crashes one operation (create, update or forget) at one injected point of the
protocol, checks that the crash left I1 broken in the expected way, runs `areconcile` and
asserts I1 again plus the content: nothing lost, no duplicate, no orphan. Real Postgres and
real Mem0; the crash is an exception raised from `MemoryService.fault_hook`, which aborts the
operation exactly there (hard kills of whole processes are in test_reliability_load.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
from collections.abc import Callable

import pytest

from langgraph_brain.brain import MemoryService, entity_key, open_memory_service
from langgraph_brain.brain.reconcile import ReconcileReport, acheck_invariant, areconcile
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings

pytestmark = pytest.mark.slow

POINTS = ("after_row_commit", "after_index_write", "before_mark")
OPS = ("create", "update", "forget")

#: What reconcile must report for each (op, point): which repair restores I1.
EXPECTED_REPAIR: dict[tuple[str, str], str] = {
    ("create", "after_row_commit"): "recreated_missing",  # pending row, nothing in Mem0
    ("create", "after_index_write"): "adopted_orphans",  # Mem0 memory tagged, row not pointing at it
    ("create", "before_mark"): "adopted_orphans",
    ("update", "after_row_commit"): "repaired_drift",  # Mem0 still holds the old content
    ("update", "after_index_write"): "pushed_pending",  # Mem0 has the new content, row still pending
    ("update", "before_mark"): "pushed_pending",
    ("forget", "after_row_commit"): "finished_forgets",  # row 'deleting', Mem0 memory still there
    ("forget", "after_index_write"): "finished_forgets",  # row 'deleting', Mem0 memory gone
    ("forget", "before_mark"): "finished_forgets",
}
REPAIR_FIELDS = (
    "pushed_pending",
    "recreated_missing",
    "repaired_drift",
    "adopted_orphans",
    "deleted_duplicates",
    "deleted_orphans",
    "finished_forgets",
)


class SimulatedCrash(BaseException):
    """Raised from the fault hook. A BaseException, like a process being torn down: the service
    must not catch it and carry on."""


def crash_at(point: str) -> Callable[[str], None]:
    def hook(reached: str) -> None:
        if reached == point:
            _record(point)
            raise SimulatedCrash(point)

    return hook


def _record(point: str) -> None:
    """Count the injected fault for bench/reliability.py's figures, when it asks."""
    path = os.environ.get("BRAIN_RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "crash", "point": point}) + "\n")


async def _run_op(service: MemoryService, op: str, entity: str) -> None:
    if op == "forget":
        await service.aforget("user", entity, "plan")
    else:
        await service.asave("user", entity, "plan", f"{entity}: the new plan is to expand to Peru.")


async def _mem0_of(service: MemoryService, entity: str) -> dict[str, str]:
    """slug -> content of every Mem0 memory filed under this user."""
    hits = await service.index.alist(entity_key=entity_key("user", entity))
    slugs = [str(h.metadata.get("slug")) for h in hits]
    assert len(slugs) == len(set(slugs)), f"duplicate Mem0 memories for {entity}: {slugs}"
    return {str(h.metadata.get("slug")): h.content for h in hits}


def _repairs(report: ReconcileReport) -> dict[str, int]:
    return {f: getattr(report, f) for f in REPAIR_FIELDS if getattr(report, f)}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("point", POINTS)
async def test_crash_at_each_step_then_reconcile_restores_i1(
    service: MemoryService, point: str, op: str
) -> None:
    entity = f"crash_{op}_{point}"
    old = f"{entity}: the plan is to stay in Chile."
    new = f"{entity}: the new plan is to expand to Peru."
    await service.asave("user", entity, "neighbour", f"{entity}: the office is in Santiago.")
    if op != "create":
        await service.asave("user", entity, "plan", old)
    assert (await acheck_invariant(service)).ok

    service.fault_hook = crash_at(point)
    try:
        with pytest.raises(SimulatedCrash):
            await _run_op(service, op, entity)
    finally:
        service.fault_hook = None

    broken = await acheck_invariant(service)
    assert not broken.ok and all(entity in v for v in broken.violations), broken.violations
    # Until reconcile (or the next save) finishes the job, search never shows a half-done write:
    # the old content of an update may still be found, the new content not yet; a forgotten
    # memory is hidden at once.
    hits = {h.slug: h.content for h in await service.asearch("user", entity, "what is the plan?", k=10)}
    assert hits.get("plan") in ({"create": None, "update": old, "forget": None}[op], None)
    assert hits["neighbour"] == f"{entity}: the office is in Santiago."

    dry = await areconcile(service, dry_run=True)
    assert _repairs(dry) == {EXPECTED_REPAIR[(op, point)]: 1}
    assert not (await acheck_invariant(service)).ok, "dry run must not repair anything"

    report = await areconcile(service)
    assert _repairs(report) == {EXPECTED_REPAIR[(op, point)]: 1}
    assert (await acheck_invariant(service)).ok
    assert _repairs(await areconcile(service)) == {}, "a second reconcile must find nothing to do"

    row = await service.aget("user", entity, "plan")
    mem0 = await _mem0_of(service, entity)
    if op == "forget":
        assert row is None and "plan" not in mem0
        assert next(h.action for h in await service.ahistory("user", entity, "plan")) == "forget"
    else:
        assert row is not None and row.content == new and row.sync_state == "synced"
        assert mem0["plan"] == new
        assert row.memory_id is not None and (await service.index.aget(row.memory_id)) is not None
        found = await service.asearch("user", entity, "expand to Peru", k=10)
        assert [h.content for h in found if h.slug == "plan"] == [new]
    assert mem0["neighbour"] == f"{entity}: the office is in Santiago."


@pytest.mark.parametrize("point", POINTS)
async def test_the_next_save_finishes_a_crashed_save_without_duplicates(
    service: MemoryService, point: str
) -> None:
    entity = f"retry_{point}"
    service.fault_hook = crash_at(point)
    try:
        with pytest.raises(SimulatedCrash):
            await service.asave("user", entity, "plan", "Retry: expand to Peru.")
    finally:
        service.fault_hook = None
    again = await service.asave("user", entity, "plan", "Retry: expand to Peru.")
    assert again.status in ("created", "unchanged", "updated")
    assert (await acheck_invariant(service)).ok
    assert await _mem0_of(service, entity) == {"plan": "Retry: expand to Peru."}


@pytest.mark.parametrize("point", POINTS)
async def test_a_save_after_a_crashed_forget_brings_the_memory_back(
    service: MemoryService, point: str
) -> None:
    entity = f"revive_{point}"
    await service.asave("user", entity, "plan", "Revive: version one.")
    service.fault_hook = crash_at(point)
    try:
        with pytest.raises(SimulatedCrash):
            await service.aforget("user", entity, "plan")
    finally:
        service.fault_hook = None
    assert await service.aget("user", entity, "plan") is None  # a half-forgotten memory is hidden
    saved = await service.asave("user", entity, "plan", "Revive: version two.")
    assert saved.status == "created"
    assert (await acheck_invariant(service)).ok
    assert await _mem0_of(service, entity) == {"plan": "Revive: version two."}


async def test_reconcile_repairs_damage_done_behind_the_brains_back(service: MemoryService) -> None:
    """Mem0 edited or emptied directly, orphans with unknown or foreign tags: all repaired."""
    entity = "damaged"
    lost = await service.asave("user", entity, "lost", "Damaged: this memory was deleted in Mem0.")
    drift = await service.asave("user", entity, "drift", "Damaged: the true content.")
    victim = await service.asave("user", "damaged_victim", "secret", "Victim: the vault code is 4411.")
    assert lost.memory_id and drift.memory_id and victim.memory_id
    await service.index.adelete(lost.memory_id)
    await service.index.aupdate(drift.memory_id, "Damaged: edited behind our back.", metadata={})
    drift_row = await service.aget("user", entity, "drift")
    victim_row = await service.aget("user", "damaged_victim", "secret")
    assert drift_row is not None and victim_row is not None
    # An orphan whose row never existed, and a memory under the victim's row id but filed under
    # another entity (e.g. a bad restore): neither may be adopted.
    await service.index.aadd(
        "Damaged: orphan.",
        entity_key=entity_key("user", entity),
        metadata={"brain_id": "999999999", "slug": "ghost", "scope": "user", "entity": entity},
    )
    foreign = await service.index.aadd(
        "Victim: the vault code is 4411.",
        entity_key=entity_key("user", entity),
        metadata={
            "brain_id": str(victim_row.id),
            "slug": "secret",
            "scope": "user",
            "entity": "damaged_victim",
        },
    )
    # The foreign copy is under `entity`'s Mem0 key, but the brain join keeps it out of search.
    hits = await service.asearch("user", entity, "vault code", k=10, mode="vector")
    assert all("4411" not in h.content for h in hits)

    report = await areconcile(service)
    assert report.recreated_missing == 1 and report.repaired_drift == 1
    assert report.deleted_orphans == 2
    assert (await acheck_invariant(service)).ok
    assert await service.index.aget(foreign) is None
    assert await _mem0_of(service, entity) == {
        "lost": "Damaged: this memory was deleted in Mem0.",
        "drift": "Damaged: the true content.",
    }
    assert await _mem0_of(service, "damaged_victim") == {"secret": "Victim: the vault code is 4411."}


async def test_reconcile_is_safe_while_agents_are_saving(service: MemoryService) -> None:
    """Saves, some crashing at a rotating point, race reconcile passes. Afterwards I1 holds and
    each slug holds the content of its last committed write (history is the commit order)."""
    entity = "busy"
    crash_point: contextvars.ContextVar[str | None] = contextvars.ContextVar("crash_point", default=None)

    def hook(reached: str) -> None:
        if reached == crash_point.get():
            _record(reached)
            raise SimulatedCrash(reached)

    async def writer(n: int) -> None:
        for i in range(6):
            slug, content = f"slug{(n + i) % 4}", f"Busy: writer {n} round {i}."
            # One save in three crashes, at a rotating point; the context variable keeps the
            # crash inside this writer's task.
            crash_point.set(POINTS[(n + i) % 3] if (n + i) % 3 == 0 else None)
            try:
                saved = await service.asave("user", entity, slug, content)
            except SimulatedCrash:
                continue
            assert saved.status in ("created", "updated")

    async def reconciler() -> None:
        for _ in range(3):
            await areconcile(service)

    service.fault_hook = hook
    try:
        await asyncio.gather(*(writer(n) for n in range(4)), reconciler())
    finally:
        service.fault_hook = None
    await areconcile(service)
    assert (await acheck_invariant(service)).ok
    rows = {r.slug: r.content for r in await service.alist("user", entity)}
    assert set(rows) == {f"slug{i}" for i in range(4)}
    assert await _mem0_of(service, entity) == rows
    for slug, content in rows.items():
        latest = (await service.ahistory("user", entity, slug, limit=1))[0]
        assert latest.new_content == content, slug


def test_cli_reconcile_dry_run_then_repair(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`brain reconcile --dry-run` reports without changing; `brain reconcile` repairs and checks."""
    import json

    from typer.testing import CliRunner

    from langgraph_brain.cli import app
    from langgraph_brain.settings import get_settings

    async def crash_one() -> None:
        db = await Database.aopen(database_url, min_size=1, max_size=2)
        try:
            async with open_memory_service(BrainSettings(), database=db) as svc:
                svc.fault_hook = crash_at("after_index_write")
                with pytest.raises(SimulatedCrash):
                    await svc.asave("user", "cli_case", "plan", "CLI: crash after the Mem0 add.")
        finally:
            await db.aclose()

    asyncio.run(crash_one())
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        dry = runner.invoke(app, ["reconcile", "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.output)["adopted_orphans"] == 1
        fixed = runner.invoke(app, ["reconcile"])
        assert fixed.exit_code == 0, fixed.output
        assert "orphans adopted by their row" in fixed.output and "I1 holds" in fixed.output
        again = runner.invoke(app, ["reconcile", "--json"])
        out = json.loads(again.output)
        assert out["changes"] == 0 and out["invariant_ok"] is True
    finally:
        get_settings.cache_clear()


async def test_one_row_that_cannot_be_repaired_does_not_stop_reconcile(service: MemoryService) -> None:
    """A row Mem0 keeps refusing is reported and skipped; every other row is still repaired."""
    real_index = service.index
    stuck = await service.asave("user", "stubborn", "stuck", "Stubborn: Mem0 refuses this one.")
    await service.asave("user", "stubborn", "fine", "Stubborn: this one is fine.")
    for saved in (stuck, await service.aget("user", "stubborn", "fine")):
        assert saved is not None and saved.memory_id is not None
        await real_index.adelete(saved.memory_id)  # both now need recreating

    class RefuseOne:
        """The real index, except that it refuses to write one content (an injected fault)."""

        def __getattr__(self, name: str) -> object:
            return getattr(real_index, name)

        async def aadd(self, content: str, **kw: object) -> str:
            if content.startswith("Stubborn: Mem0 refuses"):
                raise RuntimeError("injected: Mem0 rejected the write")
            return await real_index.aadd(content, **kw)  # type: ignore[arg-type]

    service.index = RefuseOne()  # type: ignore[assignment]
    try:
        report = await areconcile(service)
    finally:
        service.index = real_index
    assert report.failed == 1 and "stubborn/stuck" in report.errors[0]
    assert report.recreated_missing == 1
    assert not (await acheck_invariant(service)).ok
    assert set(await _mem0_of(service, "stubborn")) == {"fine"}
    fixed = await areconcile(service)
    assert fixed.failed == 0 and fixed.recreated_missing == 1
    assert (await acheck_invariant(service)).ok


async def test_crashed_revive_then_save_leaves_no_duplicate(service: MemoryService) -> None:
    """Found by the load test: a forget that crashed after deleting the Mem0 memory leaves the row
    pointing at a deleted memory; a reviving save that crashes after its Mem0 add leaves a tagged
    copy; the next save must adopt that copy, not add a second one (no reconcile in between)."""
    entity = "revive_twice"
    await service.asave("user", entity, "plan", "Twice: version one.")
    for op, point in (("forget", "after_index_write"), ("save", "before_mark")):
        service.fault_hook = crash_at(point)
        try:
            with pytest.raises(SimulatedCrash):
                if op == "forget":
                    await service.aforget("user", entity, "plan")
                else:
                    await service.asave("user", entity, "plan", "Twice: version two.")
        finally:
            service.fault_hook = None
    await service.asave("user", entity, "plan", "Twice: version three.")
    assert await _mem0_of(service, entity) == {"plan": "Twice: version three."}
    assert (await acheck_invariant(service)).ok

"""Load with crashes: 8 worker processes of mixed saves, searches and forgets over 50 slugs and
5 entities, with random in-process crashes and one hard process kill per worker.

Afterwards `reconcile` must restore I1, nothing acknowledged may be lost, every slug must hold
the content of its last committed write (the last acknowledged one, unless a later save crashed
after committing its row), and no search may ever have returned another entity's memory.

BRAIN_LOAD_WORKERS / BRAIN_LOAD_OPS set the size. The test suite runs 8 x 60 operations to stay
near a minute on 2 cores; `python bench/reliability.py` runs the full 8 x 200 and reports figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from langgraph_brain.brain import MemoryService, entity_key
from langgraph_brain.brain.reconcile import acheck_invariant, areconcile
from langgraph_brain.db import Database

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("reliability_worker.py")
WORKERS = int(os.environ.get("BRAIN_LOAD_WORKERS", "8"))
OPS = int(os.environ.get("BRAIN_LOAD_OPS", "60"))
KILL_EXIT_CODE = 137


def _run_workers(url: str, log: Path, seed: int) -> list[int]:
    env = {**os.environ, "MEM0_TELEMETRY": "False", "OMP_NUM_THREADS": "1", "ORT_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, str(w), str(OPS), str(seed), str(log)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for w in range(WORKERS)
    ]
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=900)
        if p.returncode != KILL_EXIT_CODE:
            print(err.decode(errors="replace")[-3000:], file=sys.stderr)
        codes.append(p.returncode)
    return codes


async def _history(service: MemoryService) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    async with service.admin_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id, scope, entity_id, slug, action, new_content, actor->>'thread_id' AS op"
                " FROM brain_history ORDER BY id"
            )
        ).fetchall()
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[(r["scope"], r["entity_id"], r["slug"])].append(r)
    return out


async def test_load_with_crashes_then_reconcile(
    service: MemoryService, database: Database, tmp_path: Path
) -> None:
    log = tmp_path / "ops.jsonl"
    codes = _run_workers(database.url, log, seed=int(os.environ.get("BRAIN_LOAD_SEED", "7")))
    assert codes == [KILL_EXIT_CODE] * WORKERS, f"every worker must die by its final hard kill: {codes}"
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_kind[r["kind"]].append(r)
    assert not by_kind["backend_error"], by_kind["backend_error"][:3]
    kills = {(r["worker"], r["point"]) for r in by_kind["killed"]}
    assert len(kills) == WORKERS

    report = await areconcile(service)
    assert report.failed == 0, report.errors
    invariant = await acheck_invariant(service)
    assert invariant.ok, invariant.violations[:10]

    history = await _history(service)
    # Saves and forgets that were acknowledged, by the op id recorded as the history actor.
    acked: dict[str, dict[str, Any]] = {}
    for r in by_kind["save"]:
        if r["status"] in ("created", "updated"):
            acked[r["op"]] = r
    for r in by_kind["forget"]:
        if r["status"] == "forgotten":
            acked[r["op"]] = r
    lost: list[str] = []
    seen_ops: set[str] = set()
    for entries in history.values():
        seen_ops.update(e["op"] for e in entries)
        for e in entries:
            a = acked.get(e["op"])
            if a is not None and a["kind"] == "save" and e["new_content"] != a["content"]:
                lost.append(f"{e['op']}: history holds another content")
    lost += [f"{op}: acknowledged but not in the history" for op in acked if op not in seen_ops]

    # The end state of each key equals its last committed write, and that write is the last
    # acknowledged one unless only unacknowledged (crashed) writes committed after it.
    rows: dict[tuple[str, str, str], str] = {}
    async with service.admin_pool.connection() as conn:
        for r in await (
            await conn.execute("SELECT scope, entity_id, slug, content, sync_state FROM brain_memories")
        ).fetchall():
            assert r["sync_state"] == "synced"
            rows[(r["scope"], r["entity_id"], r["slug"])] = r["content"]
    stale: list[str] = []
    for key, entries in history.items():
        last = entries[-1]
        expected = None if last["action"] == "forget" else last["new_content"]
        if rows.get(key) != expected:
            stale.append(f"{key}: holds {rows.get(key)!r}, last write was {last['action']} {expected!r}")
        acked_positions = [i for i, e in enumerate(entries) if e["op"] in acked]
        if acked_positions and any(
            entries[i]["op"] in acked for i in range(acked_positions[-1] + 1, len(entries))
        ):
            stale.append(f"{key}: history order broken")
    assert set(rows) <= set(history), "a row without any history"
    leaks = [leak for r in by_kind["search"] for leak in r["leaks"]]

    # Mem0 holds exactly the brain, entity by entity.
    for scope, entity in {(k[0], k[1]) for k in rows}:
        mem0 = await service.index.alist(entity_key=entity_key(scope, entity))
        assert sorted(h.content for h in mem0) == sorted(
            c for k, c in rows.items() if k[:2] == (scope, entity)
        )

    figures: dict[str, Any] = {
        "workers": WORKERS,
        "operations": len(by_kind["save"]) + len(by_kind["search"]) + len(by_kind["forget"]),
        "operations_attempted": WORKERS * OPS,
        "acknowledged_writes": len(acked),
        "searches": len(by_kind["search"]),
        "crashes_in_process": len(by_kind["crashed"]),
        "hard_kills": len(by_kind["killed"]),
        "crashes_by_step": _by_step(by_kind["crashed"], by_kind["killed"]),
        "reconcile": {k: v for k, v in report.as_dict().items() if isinstance(v, int) and v},
        "rows_lost": len(lost) + len(stale),
        "leaks": len(leaks),
    }
    _record(figures)
    assert lost == [], lost[:10]
    assert stale == [], stale[:10]
    assert leaks == [], leaks[:10]
    assert len(by_kind["crashed"]) > 0 and report.changes > 0, "the run must actually inject faults"


def _by_step(crashed: list[dict[str, Any]], killed: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in crashed:
        out[f"{r['op_kind']}/{r['point']}"] += 1
    for r in killed:
        out[f"kill/{r['point']}"] += 1
    return dict(sorted(out.items()))


def _record(figures: dict[str, Any]) -> None:
    path = os.environ.get("BRAIN_RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "load", **figures}) + "\n")
    print(json.dumps(figures, indent=1))

"""`GET /brain/health`: is this server able to save and search memories right now?

Checks, each live on every call except the embedder:

* database: a connection from the application's pool answers;
* pgvector: the extension is installed (its version);
* mem0_index: Mem0's collection table exists (open-source Mem0), or the hosted platform is configured;
* migrations: every migration list (brain, checkpointer, auth) is current;
* pending_rows: brain rows not yet synced with Mem0 (reported, not a failure: a save in flight
  is pending for a moment, and reconcile finishes any a crash left);
* embedder: embeds a fresh text. This is the one check not run inline, because an embedding
  costs 8-22 ms on two cores: a background probe refreshes it when its result is older than
  `EMBEDDER_MAX_AGE` seconds, and a result older than `EMBEDDER_STALE` counts as a failure, so
  no outage stays hidden for more than a few seconds.

The database checks run in one round trip plus the migration reads, within `TIMEOUT` seconds.
The answer is 200 when everything passes and 503 otherwise, so a load balancer can use the
status alone.

**Authentication.** A load balancer calls health without credentials, so `server/auth.py`
lets exactly `GET /brain/health` through without them (any other path, method or a bad
credential is still refused). Such callers, and every non-operator, get only the overall status
and one "ok"/"fail" per check: no counts, versions or error texts. An operator key gets the
details.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.brain.factory import settings_embeddings
from langgraph_brain.brain.service import MemoryService
from langgraph_brain.migrate import astatus_all
from langgraph_brain.settings import get_settings

from .caller import caller_of
from .errors import ApiError, endpoint
from .state import aservice

#: Seconds the whole database part of a health check may take before it counts as failed.
TIMEOUT = 2.0
#: An embedder probe older than this is refreshed in the background.
EMBEDDER_MAX_AGE = 5.0
#: An embedder probe older than this (refresh stuck or failing to finish) counts as a failure.
EMBEDDER_STALE = 15.0

_DB_SQL = """
SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector,
       to_regclass('brain_mem0') IS NOT NULL AS mem0_table,
       (SELECT count(*) FROM brain_memories WHERE sync_state <> 'synced') AS pending_rows
"""

_probe: dict[str, Any] = {"at": 0.0, "ok": False, "detail": "not probed yet", "task": None}
_counter = itertools.count()


async def _embed_once() -> None:
    start = time.perf_counter()
    try:
        embeddings = await asyncio.to_thread(settings_embeddings, get_settings())
        # A fresh text each time: a query cache must not answer for a broken engine.
        vector = await asyncio.to_thread(embeddings.embed_query, f"health probe {next(_counter)}")
        ok, detail = (
            bool(vector),
            f"{len(vector)} dimensions in {1000 * (time.perf_counter() - start):.1f} ms",
        )
    except Exception as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    _probe.update(at=time.monotonic(), ok=ok, detail=detail)


async def _embedder() -> dict[str, Any]:
    age = time.monotonic() - _probe["at"]
    task = _probe["task"]
    if age > EMBEDDER_MAX_AGE and (task is None or task.done()):
        _probe["task"] = asyncio.create_task(_embed_once())
        if _probe["at"] == 0.0:  # the very first call waits for a real answer
            await asyncio.wait({_probe["task"]}, timeout=TIMEOUT)
            age = time.monotonic() - _probe["at"]
    ok = bool(_probe["ok"]) and age <= EMBEDDER_STALE
    detail = _probe["detail"] if age <= EMBEDDER_STALE else f"no successful probe for {age:.0f} s"
    return {"ok": ok, "detail": detail, "age_s": round(age, 1)}


async def _database(service: MemoryService) -> dict[str, dict[str, Any]]:
    start = time.perf_counter()
    async with service.admin_pool.connection() as conn:
        row: Any = await (await conn.execute(_DB_SQL)).fetchone()
        statuses = await astatus_all(conn)
    ms = round(1000 * (time.perf_counter() - start), 2)
    hosted = service.index.__class__.__name__ == "Mem0PlatformIndex"
    behind = [s.describe() for s in statuses if not s.current]
    return {
        "database": {"ok": True, "detail": f"answered in {ms} ms"},
        "pgvector": {"ok": bool(row["pgvector"]), "detail": row["pgvector"] or "not installed"},
        "mem0_index": {
            "ok": hosted or bool(row["mem0_table"]),
            "detail": "hosted platform"
            if hosted
            else ("brain_mem0 present" if row["mem0_table"] else "missing"),
        },
        "migrations": {"ok": not behind, "detail": "; ".join(s.describe() for s in statuses)},
        "pending_rows": {"ok": True, "detail": int(row["pending_rows"])},
    }


async def _checks() -> dict[str, dict[str, Any]]:
    try:
        # Shielded: a slow first start (the service opening) keeps going for the next call.
        service = await asyncio.wait_for(asyncio.shield(aservice()), TIMEOUT)
        database = await asyncio.wait_for(_database(service), TIMEOUT)
    except TimeoutError:
        database = {"database": {"ok": False, "detail": f"no answer within {TIMEOUT} s"}}
    except Exception as exc:
        database = {"database": {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}}
    return {**database, "embedder": await _embedder()}


def _is_operator(request: Request) -> bool:
    try:
        return caller_of(request).is_admin
    except ApiError:
        return False  # the unauthenticated probe, Studio's user: the public view


@endpoint
async def health(request: Request) -> Response:
    """200 {"status": "ok"} when every check passes, 503 {"status": "degraded"} otherwise."""
    checks = await _checks()
    ok = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "degraded"}
    if _is_operator(request):
        body["checks"] = checks
    else:
        body["checks"] = {name: "ok" if c["ok"] else "fail" for name, c in checks.items()}
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def apending_rows() -> int | None:
    """Rows not yet synced with Mem0 (for the metrics gauge); None if the database does not answer."""
    try:
        service = await asyncio.wait_for(asyncio.shield(aservice()), TIMEOUT)
        checks = await asyncio.wait_for(_database(service), TIMEOUT)
    except Exception:
        return None
    return int(checks["pending_rows"]["detail"])


routes = [Route("/brain/health", health, methods=["GET"])]

__all__ = ["EMBEDDER_MAX_AGE", "EMBEDDER_STALE", "TIMEOUT", "apending_rows", "routes"]

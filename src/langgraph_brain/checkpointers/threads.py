"""Which threads belong to whom: one rule, used by erase, the CLI and the saver.

`BrainSaver.aput` stamps the run's owner (`langgraph_brain.identity.thread_owner`: the
authenticated user, else the runtime context, else `configurable`; normalised like entity ids)
into the metadata of every checkpoint it saves, as `user_id` and `company_id`. A thread belongs
to a user (company) when any of its checkpoints names them there.

Checkpoints written before stamping existed carry whatever raw id LangGraph copied from
`configurable`; the lookup therefore normalises each distinct stored value and compares, so a
thread run as "Ana" belongs to the user "ana" and "1" never matches "12".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langgraph_brain.errors import BrainError
from langgraph_brain.identity import normalize_entity_id

from ._upstream import Conn, get_connection

OwnerScope = Literal["user", "company"]
#: Checkpoint-metadata key naming a thread's owner, per scope (indexed by the saver's migrations).
OWNER_KEY: dict[str, str] = {"user": "user_id", "company": "company_id"}

_CHECKPOINTS_EXIST_SQL = "SELECT to_regclass('checkpoints') IS NOT NULL AS e"
_OWNER_VALUES_SQL = "SELECT DISTINCT metadata->>%s AS raw FROM checkpoints WHERE metadata ? %s"
_THREADS_OWNED_SQL = "SELECT DISTINCT thread_id FROM checkpoints WHERE metadata->>%s = ANY(%s)"


async def athreads_of(
    conn: Conn,
    scope: str,
    entity_id: str,
    *,
    normalize: Callable[[str], str] = normalize_entity_id,
) -> list[str]:
    """Ids of the threads owned by this user or company, sorted.

    Args:
        conn: a pool or connection with dict rows (e.g. `saver.conn`).
        scope: "user" or "company".
        entity_id: the owner's id, raw or normalised.
        normalize: the same normaliser the brain uses for this scope.
    """
    if scope not in OWNER_KEY:
        raise ValueError(f"scope must be 'user' or 'company', not {scope!r}")
    key = OWNER_KEY[scope]
    entity = normalize(entity_id)
    async with get_connection(conn) as c:
        row: Any = await (await c.execute(_CHECKPOINTS_EXIST_SQL)).fetchone()
        if not row["e"]:
            return []  # the checkpointer was never set up on this database
        raws = [r["raw"] for r in await (await c.execute(_OWNER_VALUES_SQL, (key, key))).fetchall()]
        matching = [raw for raw in raws if raw is not None and _same(normalize, raw, entity)]
        if not matching:
            return []
        rows = await (await c.execute(_THREADS_OWNED_SQL, (key, matching))).fetchall()
    return sorted(r["thread_id"] for r in rows)


def _same(normalize: Callable[[str], str], raw: str, entity: str) -> bool:
    try:
        return normalize(raw) == entity
    except (BrainError, ValueError):  # a malformed id in old metadata is simply not this owner
        return False


__all__ = ["OWNER_KEY", "OwnerScope", "athreads_of"]

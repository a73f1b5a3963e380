"""SQL of BrainSaver's own operations (pruning to N, run deletion, copying, TTL), by name.

The saver only picks and binds these, as upstream's savers do with theirs.
"""

from __future__ import annotations

from ._upstream import (
    PRUNE_BLOBS_SQL,
    PRUNE_CHECKPOINTS_SQL,
    PRUNE_HEADS_SQL,
    PRUNE_PARENTS_SQL,
    PRUNE_REFERENCED_BLOBS_SQL,
    PRUNE_SNAPSHOT_SQL,
    PRUNE_SUBGRAPH_CALLS_SQL,
    PRUNE_UNKEPT_SQL,
    PRUNE_WRITES_SQL,
    Statements,
    garbage_blobs,
    refuse_delta_threads,
)

# Newest `keep` checkpoints of every namespace of one thread. The thread's rows are few once
# pruning runs every turn, so a window over them is cheap.
LATEST_N_SQL = """
SELECT checkpoint_ns, checkpoint_id FROM (
    SELECT checkpoint_ns, checkpoint_id,
           row_number() OVER (PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
    FROM checkpoints WHERE thread_id = %s
) AS ranked
WHERE rn <= %s
"""

RUN_CHECKPOINTS_SQL = """
DELETE FROM checkpoints WHERE metadata->>'run_id' = ANY(%s)
RETURNING thread_id, checkpoint_ns, checkpoint_id
"""

# Threads whose newest root checkpoint is older than the cutoff. `ts` is an ISO-8601 UTC string
# written by LangGraph, which sorts like the instant it names.
EXPIRED_THREADS_SQL = """
SELECT thread_id FROM checkpoints
WHERE checkpoint_ns = ''
GROUP BY thread_id
HAVING max(checkpoint->>'ts') < %s
"""

COPY_CHECKPOINTS_SQL = """
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
                         checkpoint, metadata)
SELECT %s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata
FROM checkpoints WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""
COPY_BLOBS_SQL = """
INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
SELECT %s, checkpoint_ns, channel, version, type, blob
FROM checkpoint_blobs WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""
COPY_WRITES_SQL = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx,
                               channel, type, blob)
SELECT %s, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
FROM checkpoint_writes WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""


def keep_latest_n(thread_id: str, keep: int) -> Statements:
    """One thread's prune transaction keeping the newest `keep` checkpoints per namespace.

    Upstream's `_keep_latest` generalised from 1 to N; same snapshot, same subgraph-call and
    pending-sends rules, same DeltaChannel refusal, so what a run saves meanwhile is untouched.
    """
    yield PRUNE_SNAPSHOT_SQL, (), False
    heads = yield PRUNE_HEADS_SQL, (thread_id,) * 4, True
    yield from refuse_delta_threads([thread_id])
    latest = yield LATEST_N_SQL, (thread_id, keep), True
    kept: dict[str, list[str]] = {}
    for r in latest:
        kept.setdefault(r["checkpoint_ns"], []).append(r["checkpoint_id"])
    for h in heads:
        # A pre-v4 head reads its pending sends from its parent: keep that one too.
        if h["sends_parent"] and h["sends_parent"] not in kept.setdefault(h["checkpoint_ns"], []):
            kept[h["checkpoint_ns"]].append(h["sends_parent"])
    calls = {
        h["checkpoint_ns"]
        for h in heads
        if ":" in h["checkpoint_ns"] and h["root_saved"] and h["root"] not in kept.get("", ())
    }
    if calls:
        for sql in PRUNE_SUBGRAPH_CALLS_SQL:
            yield sql, (thread_id, list(calls)), False
    for ns, ids in kept.items():
        if ns in calls:
            continue
        unkept = yield PRUNE_UNKEPT_SQL, (thread_id, ns, ids), True
        if unkept:
            deleted = [r["checkpoint_id"] for r in unkept]
            yield PRUNE_WRITES_SQL, (thread_id, ns, deleted), False
        freed = yield PRUNE_CHECKPOINTS_SQL, (thread_id, ns, ids), True
        yield PRUNE_PARENTS_SQL, (thread_id, ns, ids, ids), False
        if freed:
            referenced = yield PRUNE_REFERENCED_BLOBS_SQL, (thread_id, ns), True
            for channel, versions in garbage_blobs(freed, referenced).items():
                yield PRUNE_BLOBS_SQL, (thread_id, ns, channel, versions), False


# After a run's checkpoints are deleted: its children lose the parent link, and blobs that no
# remaining checkpoint of that namespace references go too.
UNLINK_PARENTS_SQL = (
    "UPDATE checkpoints SET parent_checkpoint_id = NULL "
    "WHERE thread_id = %s AND checkpoint_ns = %s AND parent_checkpoint_id = ANY(%s)"
)
UNREFERENCED_BLOBS_SQL = """
DELETE FROM checkpoint_blobs b
WHERE b.thread_id = %s AND b.checkpoint_ns = %s AND NOT EXISTS (
    SELECT 1 FROM checkpoints c
    WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
    AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version
)
"""
DELETE_THREAD_ROWS_SQL = (
    "DELETE FROM checkpoints WHERE thread_id = ANY(%s)",
    "DELETE FROM checkpoint_blobs WHERE thread_id = ANY(%s)",
    "DELETE FROM checkpoint_writes WHERE thread_id = ANY(%s)",
)

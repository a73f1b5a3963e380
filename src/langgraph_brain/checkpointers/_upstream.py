"""Every private name this package takes from langgraph-checkpoint-postgres, in one place.

BrainSaver extends upstream's pruning (keep N instead of 1) with upstream's own statements and
helpers, and the transcript and thread queries accept upstream's "connection or pool" alias.
These are private upstream, so they are imported here only and re-exported under public names;
`langgraph-checkpoint-postgres>=3.2,<4` is pinned for them and the conformance suite covers them.
"""

from __future__ import annotations

from langgraph.checkpoint.postgres import _ainternal
from langgraph.checkpoint.postgres.base import (
    PRUNE_BLOBS_SQL,
    PRUNE_CHECKPOINTS_SQL,
    PRUNE_HEADS_SQL,
    PRUNE_PARENTS_SQL,
    PRUNE_REFERENCED_BLOBS_SQL,
    PRUNE_SNAPSHOT_SQL,
    PRUNE_SUBGRAPH_CALLS_SQL,
    PRUNE_UNKEPT_SQL,
    PRUNE_WRITES_SQL,
)
from langgraph.checkpoint.postgres.base import _aexecute as aexecute
from langgraph.checkpoint.postgres.base import _garbage_blobs as garbage_blobs
from langgraph.checkpoint.postgres.base import _refuse_delta_threads as refuse_delta_threads
from langgraph.checkpoint.postgres.base import _Statements as Statements

#: A pool or a single connection (upstream's alias).
Conn = _ainternal.Conn
#: Async context manager yielding a connection from either.
get_connection = _ainternal.get_connection

__all__ = [
    "PRUNE_BLOBS_SQL",
    "PRUNE_CHECKPOINTS_SQL",
    "PRUNE_HEADS_SQL",
    "PRUNE_PARENTS_SQL",
    "PRUNE_REFERENCED_BLOBS_SQL",
    "PRUNE_SNAPSHOT_SQL",
    "PRUNE_SUBGRAPH_CALLS_SQL",
    "PRUNE_UNKEPT_SQL",
    "PRUNE_WRITES_SQL",
    "Conn",
    "Statements",
    "aexecute",
    "garbage_blobs",
    "get_connection",
    "refuse_delta_threads",
]

"""BrainSaver: the official `AsyncPostgresSaver`, extended for long-lived threads.

What it adds on top of langgraph-checkpoint-postgres:

* runs on a pool with health checks and `prepare_threshold=None` (safe behind PgBouncer);
* `setup()` under an advisory lock, safe from many processes at once, and it also creates
  langgraph-brain's own tables (the `chat_messages` transcript);
* `aprune(..., keep=N)` keeps the newest N checkpoints per namespace (upstream keeps 1);
* `adelete_for_runs`, `acopy_thread`, a thread TTL sweep and `adelete_user`;
* optional automatic pruning at the start of every turn (`keep_checkpoints`), which with
  compaction (see `langgraph_brain.middleware.compaction`) keeps turn cost and disk flat as a thread grows;
* a transcript (`Transcript`) and `aget_session()`, the whole conversation of a thread;
* refuses to silently corrupt text (`BrainSerializer`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from langgraph_brain.db import open_async_pool
from langgraph_brain.db.migrator import MigrationSet, aensure_current
from langgraph_brain.db.pool import DEFAULT_POOL_TIMEOUT
from langgraph_brain.identity import EntityNormalizer, normalize_entity_id, thread_owner

from . import statements as q
from ._upstream import PRUNE_WRITES_SQL, Conn, aexecute, get_connection, refuse_delta_threads
from .bridges import SyncBridges
from .migrations import CHECKPOINTER_MIGRATIONS, asetup, upstream_migration_set
from .pruning import BackgroundPruner
from .serde import BrainSerializer
from .threads import athreads_of
from .transcript import COPY_THREAD_SQL, DELETE_THREADS_SQL, Transcript

logger = logging.getLogger(__name__)


class BrainSaver(SyncBridges, AsyncPostgresSaver):
    """`AsyncPostgresSaver` with pruning, run/thread/user deletion, TTL, and a transcript.

    Args:
        conn: A pool from `langgraph_brain.db.open_async_pool` (shared with the rest of the app)
            or a single autocommit connection with dict rows.
        pipe: Upstream's pipeline option; only with a single connection.
        serde: Serializer; `BrainSerializer` by default (refuses lone surrogates).
        keep_checkpoints: When set, every turn (a root checkpoint with source "input") prunes
            the thread to its newest N checkpoints per namespace, in a background task (see
            `adrain`). None keeps every checkpoint, like stock. Time travel then reaches back
            only N checkpoints.
    """

    def __init__(
        self,
        conn: Conn,
        pipe: Any | None = None,
        serde: SerializerProtocol | None = None,
        *,
        keep_checkpoints: int | None = None,
        owner_normalizer: EntityNormalizer = normalize_entity_id,
        thread_ttl: timedelta | None = None,
    ) -> None:
        super().__init__(conn, pipe=pipe, serde=serde or BrainSerializer())
        self.owner_normalizer = owner_normalizer
        self.thread_ttl = thread_ttl
        if keep_checkpoints is not None and keep_checkpoints < 1:
            raise ValueError("keep_checkpoints must be >= 1 or None")
        self.keep_checkpoints = keep_checkpoints
        self.transcript = Transcript(conn, self.serde)
        self._pruner = BackgroundPruner(self._prune_one)

    # ------------------------------------------------------------------ construction

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        pipeline: bool = False,
        serde: SerializerProtocol | None = None,
        keep_checkpoints: int | None = None,
        min_size: int = 1,
        max_size: int = 10,
        setup: bool = True,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        owner_normalizer: EntityNormalizer = normalize_entity_id,
        thread_ttl: timedelta | None = None,
    ) -> AsyncIterator[BrainSaver]:
        """Open a health-checked pool on `conn_string`, run `setup()`, yield a saver, close the pool.

        Args:
            conn_string: Postgres connection string.
            pipeline: Not supported with a pool; must be False (kept for signature parity).
            serde: Serializer override.
            keep_checkpoints: See the class docstring.
            min_size: Pool minimum size.
            max_size: Pool maximum size.
            setup: Run `setup()` before yielding (safe to repeat, and from many processes).
                False (production, `BRAIN_AUTO_MIGRATE=false`): run no DDL, only check that
                `brain migrate` has run, and raise `DatabaseNotMigratedError` if not.
            pool_timeout: Seconds a call waits for a connection before failing.
            owner_normalizer: See the class docstring.
            thread_ttl: See the class docstring.
        """
        if pipeline:
            raise ValueError("BrainSaver runs on a pool; pipeline mode needs a single connection")
        pool = await open_async_pool(
            conn_string,
            min_size=min_size,
            max_size=max_size,
            name="brain-saver",
            connect_timeout=pool_timeout,
        )
        try:
            saver = cls(
                pool,
                serde=serde,
                keep_checkpoints=keep_checkpoints,
                owner_normalizer=owner_normalizer,
                thread_ttl=thread_ttl,
            )
            if setup:
                await saver.setup()
            else:
                await saver.aensure_setup()
            try:
                yield saver
            finally:
                await saver.adrain()
        finally:
            await pool.close()

    # ------------------------------------------------------------------ setup

    async def setup(self) -> None:
        """Create or upgrade the checkpoint tables and the checkpointer's own, once per database.

        See `migrations.asetup`: upstream's migrations, then this package's; never pgvector or
        the brain's tables; only reads when current; safe from many processes at once.

        Raises:
            DatabaseNotMigratedError: this role may not create the tables (run `brain migrate`
                as the owner); nothing was created.
        """
        async with get_connection(self.conn) as conn:
            await asetup(conn, self.migration_sets())

    async def aensure_setup(self) -> None:
        """Check, without writing anything, that `setup()` has run on this database.

        Raises:
            DatabaseNotMigratedError: naming what is missing and `brain migrate`.
        """
        async with get_connection(self.conn) as conn:
            await aensure_current(conn, self.migration_sets())

    @classmethod
    def migration_sets(cls) -> tuple[MigrationSet, ...]:
        """Upstream's migrations, then this package's, in the order `setup()` applies them."""
        return (upstream_migration_set(cls.MIGRATIONS), CHECKPOINTER_MIGRATIONS)

    # ------------------------------------------------------------------ writes

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint stamped with its thread's owner; at the start of a turn, also prune
        the thread when configured.

        The owner (`langgraph_brain.identity.thread_owner`: authenticated user, else runtime
        context, else `configurable`, normalised) replaces any `user_id` / `company_id` that
        LangGraph copied raw from `configurable`, so erase finds the thread however the identity
        arrived, and a client cannot file its run under someone else's id on a server with auth.
        """
        owner = thread_owner(config, self.owner_normalizer)
        if owner:
            metadata = {**metadata, **owner}  # type: ignore[typeddict-item]
        next_config = await super().aput(config, checkpoint, metadata, new_versions)
        configurable = config["configurable"]
        if (
            self.keep_checkpoints is not None
            and configurable.get("checkpoint_ns", "") == ""
            and metadata.get("source") == "input"
        ):
            # Once per turn, after the turn's first checkpoint is saved, so the chain the running
            # turn writes onto is among the kept ones. In the background: pruning reads one
            # snapshot and never touches what the turn saves meanwhile (upstream's design), so
            # the turn need not wait for it.
            self._pruner.schedule(str(configurable["thread_id"]))
        return next_config

    async def _prune_one(self, thread_id: str) -> None:
        keep = self.keep_checkpoints
        if keep is None:
            return
        try:
            async with self._cursor() as cur, cur.connection.transaction():
                await aexecute(cur, q.keep_latest_n(thread_id, keep))
        except NotImplementedError:
            logger.info("thread %s uses a DeltaChannel; not pruned", thread_id)
        except Exception:
            # A failed prune only leaves extra checkpoints behind; the next turn retries.
            logger.warning("pruning thread %s failed", thread_id, exc_info=True)

    async def adrain(self) -> None:
        """Wait for background pruning to finish (call before closing the pool, and in tests)."""
        await self._pruner.adrain()

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        """Like upstream's, minus the saver-wide lock when running on a pool.

        Upstream serialises every statement of a saver behind one asyncio lock, which a single
        shared connection needs. Each pool checkout is its own connection, so with a pool the
        lock only queues unrelated threads' turns behind one another.
        """
        if self.pipe is not None or not isinstance(self.conn, AsyncConnectionPool):
            async with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        async with self.conn.connection() as conn:
            if pipeline and self.supports_pipeline:
                async with conn.pipeline(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            elif pipeline:
                async with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur

    # ------------------------------------------------------------------ prune / delete / copy

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep: int = 1,
    ) -> None:
        """Prune checkpoints of `thread_ids`.

        Args:
            thread_ids: Threads to prune.
            strategy: "keep_latest" keeps the newest `keep` checkpoints per namespace (with the
                upstream rules for subgraph calls and pending sends); "delete" removes all of
                the threads' checkpoints. The transcript is never touched by pruning.
            keep: How many checkpoints per namespace "keep_latest" keeps (>= 1).

        Raises:
            NotImplementedError: keep_latest on a thread that uses a DeltaChannel.
        """
        if keep < 1:
            raise ValueError("keep must be >= 1")
        if keep == 1 or strategy != "keep_latest":
            await super().aprune(thread_ids, strategy=strategy)
            return
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        ids = [str(t) for t in thread_ids]
        if not ids:
            return
        async with self._cursor() as cur:
            await aexecute(cur, refuse_delta_threads(ids))
        for thread_id in ids:
            async with self._cursor() as cur, cur.connection.transaction():
                await aexecute(cur, q.keep_latest_n(thread_id, keep))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (all namespaces) written by `run_ids`, with their writes.

        Checkpoints of other runs that pointed at a deleted one as parent lose that link, and
        blobs no remaining checkpoint references are removed.
        """
        if isinstance(run_ids, str):
            raise TypeError("run_ids must be a sequence of run IDs, not a str")
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        async with self._cursor() as cur, cur.connection.transaction():
            await cur.execute(q.RUN_CHECKPOINTS_SQL, (runs,))
            deleted = await cur.fetchall()
            by_ns: dict[tuple[str, str], list[str]] = {}
            for r in deleted:
                by_ns.setdefault((r["thread_id"], r["checkpoint_ns"]), []).append(r["checkpoint_id"])
            for (thread_id, ns), cids in by_ns.items():
                await cur.execute(PRUNE_WRITES_SQL, (thread_id, ns, cids))
                await cur.execute(q.UNLINK_PARENTS_SQL, (thread_id, ns, cids))
                await cur.execute(q.UNREFERENCED_BLOBS_SQL, (thread_id, ns))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, blob and write of a thread, and its transcript, to another.

        The whole parent chain is copied, as the base class requires. Rows the target already
        has are left as they are. A missing source copies nothing.
        """
        src, dst = str(source_thread_id), str(target_thread_id)
        if src == dst:
            return
        async with self._cursor() as cur, cur.connection.transaction():
            for sql in (q.COPY_CHECKPOINTS_SQL, q.COPY_BLOBS_SQL, q.COPY_WRITES_SQL, COPY_THREAD_SQL):
                await cur.execute(sql, (dst, src))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, blobs, writes and transcript."""
        await self.adelete_threads([thread_id])

    async def adelete_threads(self, thread_ids: Sequence[str]) -> dict[str, int]:
        """Delete several threads in one transaction (checkpoints, blobs, writes, transcript).

        Returns:
            Rows removed per table ("checkpoints", "checkpoint_blobs", "checkpoint_writes",
            "chat_messages"), for reports such as erase's.
        """
        ids = [str(t) for t in thread_ids]
        tables = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "chat_messages")
        removed = dict.fromkeys(tables, 0)
        if not ids:
            return removed
        async with self._cursor() as cur, cur.connection.transaction():
            for table, sql in zip(tables, (*q.DELETE_THREAD_ROWS_SQL, DELETE_THREADS_SQL), strict=True):
                await cur.execute(sql, (ids,))
                removed[table] = max(cur.rowcount, 0)
        return removed

    async def adelete_user(self, user_id: str) -> list[str]:
        """Delete every thread owned by `user_id` (see `threads.athreads_of`). Returns their ids.

        The id is normalised like on save, so a thread run as "Ana" goes with the user "ana".
        """
        threads = await athreads_of(self.conn, "user", user_id, normalize=self.owner_normalizer)
        await self.adelete_threads(threads)
        return threads

    async def asweep_expired(self, ttl: timedelta | None = None, *, now: datetime | None = None) -> list[str]:
        """Delete threads whose newest root checkpoint is older than `ttl`. Returns their ids.

        Meant for a periodic job (cron, the CLI). `ttl` defaults to the saver's `thread_ttl`
        (`brain_checkpointer` sets it from BRAIN_THREAD_TTL_DAYS); when that is None too,
        nothing expires. Threads are deleted whole: checkpoints, blobs, writes and transcript.
        """
        ttl = ttl if ttl is not None else self.thread_ttl
        if ttl is None:
            return []
        cutoff = (now or datetime.now(UTC)) - ttl
        async with self._cursor() as cur:
            await cur.execute(q.EXPIRED_THREADS_SQL, (cutoff.astimezone(UTC).isoformat(),))
            threads = sorted(r["thread_id"] for r in await cur.fetchall())
        await self.adelete_threads(threads)
        return threads

    # ------------------------------------------------------------------ reading a session

    async def aget_session(self, thread_id: str, *, channel: str = "messages") -> list[BaseMessage]:
        """The whole conversation of a thread: the transcript, then what is still in state.

        Messages are de-duplicated by id, so a message archived by a compaction whose
        checkpoint was never saved (a crash in between) still appears exactly once.
        """
        messages: list[BaseMessage] = []
        seen: set[str] = set()
        async for entry in self.transcript.aiter(str(thread_id)):
            seen.add(entry.message_id)
            messages.append(entry.message)
        tup = await self.aget_tuple({"configurable": {"thread_id": str(thread_id), "checkpoint_ns": ""}})
        if tup is not None:
            for m in tup.checkpoint["channel_values"].get(channel) or []:
                if isinstance(m, BaseMessage) and (m.id is None or m.id not in seen):
                    messages.append(m)
        return messages

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

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres import _ainternal
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
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
    _aexecute,
    _garbage_blobs,
    _refuse_delta_threads,
    _Statements,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from langgraph_brain.db import open_async_pool
from langgraph_brain.db.embedded import embedded_server
from langgraph_brain.db.migrator import MigrationSet, aensure_current
from langgraph_brain.db.pool import DEFAULT_POOL_TIMEOUT
from langgraph_brain.identity import EntityNormalizer, normalize_entity_id, thread_owner
from langgraph_brain.settings import BrainSettings, get_settings

from .migrations import CHECKPOINTER_MIGRATIONS, SETUP_LOCK_KEY
from .serde import BrainSerializer
from .threads import athreads_of
from .transcript import COPY_THREAD_SQL, DELETE_THREADS_SQL, Transcript

logger = logging.getLogger(__name__)


# Newest `keep` checkpoints of every namespace of one thread. The thread's rows are few once
# pruning runs every turn, so a window over them is cheap.
_LATEST_N_SQL = """
SELECT checkpoint_ns, checkpoint_id FROM (
    SELECT checkpoint_ns, checkpoint_id,
           row_number() OVER (PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn
    FROM checkpoints WHERE thread_id = %s
) AS ranked
WHERE rn <= %s
"""

_RUN_CHECKPOINTS_SQL = """
DELETE FROM checkpoints WHERE metadata->>'run_id' = ANY(%s)
RETURNING thread_id, checkpoint_ns, checkpoint_id
"""

# Threads whose newest root checkpoint is older than the cutoff. `ts` is an ISO-8601 UTC string
# written by LangGraph, which sorts like the instant it names.
_EXPIRED_THREADS_SQL = """
SELECT thread_id FROM checkpoints
WHERE checkpoint_ns = ''
GROUP BY thread_id
HAVING max(checkpoint->>'ts') < %s
"""

_COPY_CHECKPOINTS_SQL = """
INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
                         checkpoint, metadata)
SELECT %s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata
FROM checkpoints WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""
_COPY_BLOBS_SQL = """
INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
SELECT %s, checkpoint_ns, channel, version, type, blob
FROM checkpoint_blobs WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""
_COPY_WRITES_SQL = """
INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx,
                               channel, type, blob)
SELECT %s, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
FROM checkpoint_writes WHERE thread_id = %s
ON CONFLICT DO NOTHING
"""


def _keep_latest_n(thread_id: str, keep: int) -> _Statements:
    """One thread's prune transaction keeping the newest `keep` checkpoints per namespace.

    Upstream's `_keep_latest` generalised from 1 to N; same snapshot, same subgraph-call and
    pending-sends rules, same DeltaChannel refusal, so what a run saves meanwhile is untouched.
    """
    yield PRUNE_SNAPSHOT_SQL, (), False
    heads = yield PRUNE_HEADS_SQL, (thread_id,) * 4, True
    yield from _refuse_delta_threads([thread_id])
    latest = yield _LATEST_N_SQL, (thread_id, keep), True
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
            for channel, versions in _garbage_blobs(freed, referenced).items():
                yield PRUNE_BLOBS_SQL, (thread_id, ns, channel, versions), False


class BrainSaver(AsyncPostgresSaver):
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
        conn: _ainternal.Conn,
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
        self._pruning: set[str] = set()
        self._prune_again: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

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

        Runs langgraph-checkpoint-postgres' migrations, then `CHECKPOINTER_MIGRATIONS` (the
        transcript and the thread-owner indexes). Never needs pgvector or the brain's tables.
        When everything is current it only reads. Safe to call from many processes at once:
        the work runs under an advisory lock. Waiters poll `pg_try_advisory_lock` instead of
        blocking in `pg_advisory_lock`, because upstream's migrations use CREATE INDEX
        CONCURRENTLY, which waits for every open transaction, and a blocked
        `pg_advisory_lock` call is one: that would deadlock.

        Raises:
            DatabaseNotMigratedError: this role may not create the tables (run `brain migrate`
                as the owner); nothing was created.
        """
        async with _ainternal.get_connection(self.conn) as conn:
            await self._acquire_setup_lock(conn)
            try:
                for migrations in self.migration_sets():
                    await migrations.aapply(conn, lock=False)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))

    async def aensure_setup(self) -> None:
        """Check, without writing anything, that `setup()` has run on this database.

        Raises:
            DatabaseNotMigratedError: naming what is missing and `brain migrate`.
        """
        async with _ainternal.get_connection(self.conn) as conn:
            await aensure_current(conn, self.migration_sets())

    @classmethod
    def migration_sets(cls) -> tuple[MigrationSet, ...]:
        """Upstream's migrations, then this package's, in the order `setup()` applies them."""
        upstream = MigrationSet(
            name="checkpoints",
            table="checkpoint_migrations",
            lock_key=SETUP_LOCK_KEY,
            migrations=cls.MIGRATIONS,
            outside_transaction=frozenset(
                v for v, stmt in enumerate(cls.MIGRATIONS) if "CONCURRENTLY" in stmt.upper()
            ),
        )
        return (upstream, CHECKPOINTER_MIGRATIONS)

    @staticmethod
    async def _acquire_setup_lock(conn: AsyncConnection[Any]) -> None:
        delay = 0.02
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK_KEY,))
            row: Any = await cur.fetchone()
            if row["ok"] if isinstance(row, dict) else row[0]:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

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
            self._schedule_prune(str(configurable["thread_id"]))
        return next_config

    def _schedule_prune(self, thread_id: str) -> None:
        if self.keep_checkpoints is None:
            return
        # Two prunes of one thread at once can deadlock each other: with one in flight, ask it
        # to run once more when done, so the newest turn is always covered.
        if thread_id in self._pruning:
            self._prune_again.add(thread_id)
            return
        self._pruning.add(thread_id)
        task = asyncio.get_running_loop().create_task(self._prune_loop(thread_id, self.keep_checkpoints))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prune_loop(self, thread_id: str, keep: int) -> None:
        try:
            while True:
                self._prune_again.discard(thread_id)
                await self._prune_one(thread_id, keep)
                if thread_id not in self._prune_again:
                    return
        finally:
            self._pruning.discard(thread_id)

    async def _prune_one(self, thread_id: str, keep: int) -> None:
        try:
            async with self._cursor() as cur, cur.connection.transaction():
                await _aexecute(cur, _keep_latest_n(thread_id, keep))
        except NotImplementedError:
            logger.info("thread %s uses a DeltaChannel; not pruned", thread_id)
        except Exception:
            # A failed prune only leaves extra checkpoints behind; the next turn retries.
            logger.warning("pruning thread %s failed", thread_id, exc_info=True)

    async def adrain(self) -> None:
        """Wait for background pruning to finish (call before closing the pool, and in tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

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
            await _aexecute(cur, _refuse_delta_threads(ids))
        for thread_id in ids:
            async with self._cursor() as cur, cur.connection.transaction():
                await _aexecute(cur, _keep_latest_n(thread_id, keep))

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
            await cur.execute(_RUN_CHECKPOINTS_SQL, (runs,))
            deleted = await cur.fetchall()
            by_ns: dict[tuple[str, str], list[str]] = {}
            for r in deleted:
                by_ns.setdefault((r["thread_id"], r["checkpoint_ns"]), []).append(r["checkpoint_id"])
            for (thread_id, ns), cids in by_ns.items():
                await cur.execute(PRUNE_WRITES_SQL, (thread_id, ns, cids))
                await cur.execute(
                    "UPDATE checkpoints SET parent_checkpoint_id = NULL "
                    "WHERE thread_id = %s AND checkpoint_ns = %s AND parent_checkpoint_id = ANY(%s)",
                    (thread_id, ns, cids),
                )
                await cur.execute(
                    """
                    DELETE FROM checkpoint_blobs b
                    WHERE b.thread_id = %s AND b.checkpoint_ns = %s AND NOT EXISTS (
                        SELECT 1 FROM checkpoints c
                        WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
                        AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version
                    )
                    """,
                    (thread_id, ns),
                )

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, blob and write of a thread, and its transcript, to another.

        The whole parent chain is copied, as the base class requires. Rows the target already
        has are left as they are. A missing source copies nothing.
        """
        src, dst = str(source_thread_id), str(target_thread_id)
        if src == dst:
            return
        async with self._cursor() as cur, cur.connection.transaction():
            for sql in (_COPY_CHECKPOINTS_SQL, _COPY_BLOBS_SQL, _COPY_WRITES_SQL, COPY_THREAD_SQL):
                await cur.execute(sql, (dst, src))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete a thread's checkpoints, blobs, writes and transcript."""
        await self.adelete_threads([thread_id])

    async def adelete_threads(self, thread_ids: Sequence[str]) -> None:
        """Delete several threads in one transaction (checkpoints, blobs, writes, transcript)."""
        ids = [str(t) for t in thread_ids]
        if not ids:
            return
        async with self._cursor() as cur, cur.connection.transaction():
            for sql in (
                "DELETE FROM checkpoints WHERE thread_id = ANY(%s)",
                "DELETE FROM checkpoint_blobs WHERE thread_id = ANY(%s)",
                "DELETE FROM checkpoint_writes WHERE thread_id = ANY(%s)",
                DELETE_THREADS_SQL,
            ):
                await cur.execute(sql, (ids,))

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
            await cur.execute(_EXPIRED_THREADS_SQL, (cutoff.astimezone(UTC).isoformat(),))
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

    # ------------------------------------------------------------------ sync bridges

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Sync bridge to `adelete_for_runs`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("adelete_for_runs")
        asyncio.run_coroutine_threadsafe(self.adelete_for_runs(run_ids), self.loop).result()

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Sync bridge to `acopy_thread`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("acopy_thread")
        asyncio.run_coroutine_threadsafe(
            self.acopy_thread(source_thread_id, target_thread_id), self.loop
        ).result()

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep: int = 1) -> None:
        """Sync bridge to `aprune`; only from a thread other than the saver's loop."""
        self._refuse_on_loop("aprune")
        asyncio.run_coroutine_threadsafe(
            self.aprune(thread_ids, strategy=strategy, keep=keep), self.loop
        ).result()

    def _refuse_on_loop(self, name: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self.loop:
            raise asyncio.InvalidStateError(
                f"Synchronous calls to BrainSaver block its own event loop; use `await saver.{name}(...)`."
            )


@asynccontextmanager
async def brain_checkpointer(settings: BrainSettings | None = None) -> AsyncIterator[BrainSaver]:
    """Factory for `langgraph.json`.

    Name it as `"checkpointer": {"path": "langgraph_brain.checkpointers.brain_checkpointer"}`.
    Connects to `DATABASE_URL`, or starts the embedded Postgres under `BRAIN_DATA_DIR`, runs
    `setup()`, and prunes each thread to `BRAIN_KEEP_CHECKPOINTS` per turn. The LangGraph
    server calls it with no arguments and enters the returned async context manager.

    An embedded server this context started is released when it exits (the LangGraph server
    does that during its shutdown, and SIGTERM skips `atexit`): it stops unless another live
    process still uses it. See `langgraph_brain.db.embedded`.
    """
    s = settings or get_settings()
    server: AbstractContextManager[str] = (
        nullcontext(s.database_url) if s.database_url else embedded_server(Path(s.data_dir))
    )
    # Starting or stopping the embedded server blocks for about a second: not on the event loop.
    url = await asyncio.to_thread(server.__enter__)
    try:
        async with BrainSaver.from_conn_string(
            url,
            keep_checkpoints=s.keep_checkpoints,
            min_size=s.pool_min_size,
            max_size=s.pool_max_size,
            pool_timeout=s.pool_timeout,
            thread_ttl=None if s.thread_ttl_days is None else timedelta(days=s.thread_ttl_days),
            # BRAIN_AUTO_MIGRATE=false: run no DDL, refuse an un-migrated database by name.
            setup=s.auto_migrate,
        ) as saver:
            yield saver
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)

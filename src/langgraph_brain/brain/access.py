"""Access counters without a write per hit: searches and gets note, a background task flushes.

`MemoryService.asearch` and `aget` call `AccessRecorder.note` with the slugs they return. A note
only updates a dict in this process (no I/O, no await), so it adds microseconds to a search and
cannot make it fail. A background task, started by the first note, flushes what was noted every
`flush_seconds`, or sooner once `flush_keys` distinct memories wait: one INSERT ... ON CONFLICT
per tenant (`RECORD_ACCESS_SQL`), in that tenant's transaction, so the application role's
row-level security applies to the counters as to the memories. `aclose` flushes what is left.

What counts: every hit a search returns (any mode) and every get that finds its memory. Not
counted: listings (`alist`, and `alist_core`, whose per-turn memory block would make every core
memory look used on every turn), as-of reads (a past version is an audit of what was true, and
may name a memory that no longer exists), and `aget(track=False)`, a read before a write.

Faults: a flush that fails (Postgres down) puts its counts back for the next one, unless more
than `max_keys` memories are already waiting, in which case they are dropped and counted in
`dropped` (counters are a ranking hint, not an audit; memory stays bounded through an outage).
A process that dies without `aclose` loses at most the last `flush_seconds` of counts.

Counts land in `brain_memory_access` (migration v9): one narrow row per memory ever returned,
keyed by the memory's id and deleted with it (ON DELETE CASCADE), so a forgotten memory's
counters go with it and a slug saved again later starts from 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..db.pool import ASYNC_COMMIT_SQL
from ..db.rls import apipelined
from .rows import Tenancy

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 5.0
#: Distinct memories waiting that wake the flusher before its period is up.
DEFAULT_FLUSH_KEYS = 1_000
#: Distinct memories kept through failed flushes before the oldest batch is given up.
DEFAULT_MAX_KEYS = 100_000

# One statement per tenant: the slugs, counts and last times arrive as three arrays. The join runs
# under the tenant's row-level security (only its own memories match, whatever a slug says) and
# the insert's WITH CHECK admits only that tenant's counters. Memories forgotten since the note
# simply do not match. `greatest` keeps the later time when two processes flush out of order.
RECORD_ACCESS_SQL = b"""
INSERT INTO brain_memory_access AS a (brain_id, scope, entity_id, access_count, last_accessed_at)
SELECT m.id, m.scope, m.entity_id, v.n, v.at
FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[]) AS v (slug, n, at)
JOIN brain_memories m ON m.scope = %s AND m.entity_id = %s AND m.slug = v.slug
ON CONFLICT (brain_id) DO UPDATE
SET access_count = a.access_count + excluded.access_count,
    last_accessed_at = greatest(a.last_accessed_at, excluded.last_accessed_at)
"""

TenantKey = tuple[str, str]


@dataclass
class Pending:
    """What waits for one memory: how many accesses and the latest."""

    count: int
    last: datetime


class AccessRecorder:
    """Counts the searches and gets that return each memory, written in batches.

    Args:
        tenancy: the service's tenant transactions (`rows.Tenancy`); flushes run through it.
        enabled: False makes `note` a no-op (BRAIN_ACCESS_TRACKING=false).
        flush_seconds: period of the background flush (BRAIN_ACCESS_FLUSH_SECONDS).
        flush_keys: this many distinct memories waiting trigger a flush at once.
        max_keys: most distinct memories kept waiting through failed flushes.

    Raises:
        ValueError: a period or limit that is not positive.
    """

    def __init__(
        self,
        tenancy: Tenancy,
        *,
        enabled: bool = True,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        flush_keys: int = DEFAULT_FLUSH_KEYS,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if not flush_seconds > 0 or flush_keys < 1 or max_keys < flush_keys:
            raise ValueError(
                "access flush_seconds must be > 0, flush_keys >= 1 and max_keys >= flush_keys, not"
                f" {flush_seconds!r}, {flush_keys!r}, {max_keys!r}"
            )
        self.tenancy = tenancy
        self.enabled = enabled
        self.flush_seconds = flush_seconds
        self.flush_keys = flush_keys
        self.max_keys = max_keys
        #: Counts given up after failed flushes (see the module docstring).
        self.dropped = 0
        #: Rows written by flushes so far (inserted or updated counters).
        self.flushed = 0
        self._pending: dict[TenantKey, dict[str, Pending]] = {}
        self._size = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Distinct memories noted and not yet flushed."""
        return self._size

    def note(self, scope: str, entity: str, slugs: Iterable[str]) -> None:
        """Count one access to each of `slugs` of one tenant, now. No I/O: O(len(slugs))."""
        if not self.enabled:
            return
        now = datetime.now(UTC)
        tenant = self._pending.setdefault((scope, entity), {})
        for slug in slugs:
            seen = tenant.get(slug)
            if seen is None:
                tenant[slug] = Pending(1, now)
                self._size += 1
            else:
                seen.count += 1
                seen.last = now
        if not tenant:
            del self._pending[(scope, entity)]
            return
        self._ensure_task()
        if self._size >= self.flush_keys:
            self._wake.set()

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="brain-access-flush")

    async def _run(self) -> None:
        """Flush every `flush_seconds` (or when woken), until nothing waits."""
        while self._size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            self._wake.clear()
            try:
                await self.aflush()
            except Exception:  # a flush never raises to a caller; this is the last guard
                logger.exception("access counters: flush failed")
                # A broken database must not turn the loop into a busy retry.
                await asyncio.sleep(self.flush_seconds)

    async def aflush(self) -> int:
        """Write what is waiting now, one statement per tenant; returns the rows written.

        The tenants' transactions share one pooled connection in pipeline mode (a round trip or
        so per tenant, not four). A tenant whose statement fails keeps its counts for the next
        flush (within `max_keys`), as do all when no connection can be had; failures are logged,
        never raised.
        """
        async with self._lock:  # the background flush and aclose's never interleave
            batch, self._pending, self._size = self._pending, {}, 0
            left = dict(batch)
            written = 0
            try:
                async with self.tenancy.pool.connection() as conn, apipelined(conn):
                    for (scope, entity), slugs in batch.items():
                        params = (
                            list(slugs), [p.count for p in slugs.values()], [p.last for p in slugs.values()],
                            scope, entity,
                        )  # fmt: skip
                        try:
                            async with self.tenancy.transaction(conn, scope, entity):
                                # A commit that waits for the disk costs more than the statement;
                                # a crash that loses these counts loses a hint, not a memory.
                                await conn.execute(ASYNC_COMMIT_SQL)
                                cur = await conn.execute(RECORD_ACCESS_SQL, params)
                        except Exception as exc:
                            if conn.broken:
                                raise
                            logger.warning("access counters of %s %s not written (%s); kept for the next"
                                           " flush", scope, entity, type(exc).__name__)  # fmt: skip
                            continue
                        written += max(cur.rowcount, 0)
                        del left[(scope, entity)]
            except Exception as exc:
                logger.warning(
                    "access counters not written (%s); kept for the next flush", type(exc).__name__
                )
            finally:
                for (scope, entity), slugs in left.items():
                    self._restore(scope, entity, slugs)
            self.flushed += written
            return written

    def _restore(self, scope: str, entity: str, slugs: dict[str, Pending]) -> None:
        """Put a failed tenant's counts back, merged with any noted since, unless over `max_keys`."""
        if self._size + len(slugs) > self.max_keys:
            self.dropped += sum(p.count for p in slugs.values())
            return
        tenant = self._pending.setdefault((scope, entity), {})
        for slug, old in slugs.items():
            new = tenant.get(slug)
            if new is None:
                tenant[slug] = old
                self._size += 1
            else:
                new.count += old.count
                new.last = max(new.last, old.last)

    async def aclose(self) -> None:
        """Stop the background task and flush what is left (a clean shutdown loses nothing)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            # Cancel only between flushes: a flush cancelled mid-statement would lose its batch.
            async with self._lock:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._size:
            await self.aflush()


__all__ = ["DEFAULT_FLUSH_SECONDS", "RECORD_ACCESS_SQL", "AccessRecorder"]

"""Prometheus metrics of the memory API, in their own `CollectorRegistry`.

The registry is this module's, not prometheus_client's global one, so nothing else in the server
process (or a second app instance in tests) adds or duplicates series. `/brain/metrics` renders
it for admins, after refreshing the gauges that are read from the database at scrape time.

Series:
    brain_save_seconds{mode}: latency of saves through the API (mode: single, bulk, import).
    brain_search_seconds{mode}: latency of searches through the API (hybrid, vector, keyword).
    brain_http_errors_total{kind}: refused or failed requests by kind (validation, not_found, ...).
    brain_pending_rows: brain rows not (yet) synced with Mem0, read at scrape time.
    brain_reconcile_repairs_total: repairs made by `reconcile` (see `count_repairs`).
    brain_operation_seconds{operation, mode}: every save, search and forget of this process's
        MemoryService, whoever called it (the agents' tools, the store, the API), by search mode.
    brain_operation_failures_total{operation, outcome}: those that failed: not_found, backend
        (Postgres or Mem0 failed), error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
# Buckets from 1 ms to 10 s: an in-process search takes a few ms, a cold Mem0 write hundreds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SAVE_SECONDS = Histogram(
    "brain_save_seconds", "Latency of memory saves through the API.", ["mode"], buckets=_BUCKETS,
    registry=REGISTRY,
)  # fmt: skip
SEARCH_SECONDS = Histogram(
    "brain_search_seconds", "Latency of memory searches through the API.", ["mode"], buckets=_BUCKETS,
    registry=REGISTRY,
)  # fmt: skip
ERRORS = Counter(
    "brain_http_errors", "Refused or failed memory API requests, by kind.", ["kind"], registry=REGISTRY
)
PENDING_ROWS = Gauge(
    "brain_pending_rows", "Brain rows not yet synced with Mem0 (read at scrape).", registry=REGISTRY
)
RECONCILE_REPAIRS = Counter(
    "brain_reconcile_repairs", "Repairs made by reconcile in this process.", registry=REGISTRY
)
OPERATION_SECONDS = Histogram(
    "brain_operation_seconds", "Latency of every MemoryService save, search and forget in this process.",
    ["operation", "mode"], buckets=_BUCKETS, registry=REGISTRY,
)  # fmt: skip
OPERATION_FAILURES = Counter(
    "brain_operation_failures", "Failed MemoryService operations, by outcome.", ["operation", "outcome"],
    registry=REGISTRY,
)  # fmt: skip
CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_operation(operation: str, mode: str, seconds: float, outcome: str) -> None:
    """A `brain.observe.OperationObserver` feeding the operation series (install it on a service)."""
    OPERATION_SECONDS.labels(operation=operation, mode=mode).observe(seconds)
    if outcome != "ok":
        OPERATION_FAILURES.labels(operation=operation, outcome=outcome).inc()


@contextmanager
def timed(histogram: Histogram, mode: str) -> Iterator[None]:
    """Observe the block's duration under `mode` (also when it raises: slow failures count)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(mode=mode).observe(time.perf_counter() - start)


def count_error(kind: str) -> None:
    """Count one refused or failed request."""
    ERRORS.labels(kind=kind).inc()


def count_repairs(n: int) -> None:
    """Add `n` reconcile repairs (called with `ReconcileReport.changes` by whoever reconciles here)."""
    if n > 0:
        RECONCILE_REPAIRS.inc(n)


def render(pending_rows: int | None) -> bytes:
    """The exposition text, with the pending-rows gauge set from the scrape's own reading."""
    if pending_rows is not None:
        PENDING_ROWS.set(pending_rows)
    return generate_latest(REGISTRY)


__all__ = [
    "CONTENT_TYPE",
    "ERRORS",
    "OPERATION_FAILURES",
    "OPERATION_SECONDS",
    "PENDING_ROWS",
    "RECONCILE_REPAIRS",
    "REGISTRY",
    "SAVE_SECONDS",
    "SEARCH_SECONDS",
    "count_error",
    "count_repairs",
    "observe_operation",
    "render",
    "timed",
]

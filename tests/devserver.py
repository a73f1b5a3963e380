"""A real `langgraph dev` server for tests, run outside the checkout.

Not a test module: import it from tests (`from tests.devserver import dev_server, offline_env`).

`dev_server()` writes a `langgraph.json` derived from the repository's into a fresh temporary
directory, optionally merged with extra top-level keys (`auth`, `http`, `store`, ...), starts
`langgraph dev --no-browser --no-reload` there on a free port in its own process group, waits
for `GET /ok`, and yields a `DevServer`. On exit it stops the whole process group (SIGTERM, then
SIGKILL after `stop_timeout` seconds) and removes the directory. The in-memory runtime keeps its
threads, runs and store under `.langgraph_api/` in its working directory; since that is the
temporary directory, every server starts empty and nothing is written into the checkout.

    from tests.devserver import dev_server, offline_env

    with dev_server(offline_env(DATABASE_URL=url), config={"auth": {"path": "tests/my_auth.py:auth"}}) as srv:
        client = get_client(url=srv.url)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
REPO_CONFIG = ROOT / "langgraph.json"

OFFLINE_ENV: dict[str, str] = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "MEM0_TELEMETRY": "False",
    "BRAIN_MODEL": "scripted",
    # No proxies: nothing is allowed to leave the machine, and localhost must stay direct.
    "NO_PROXY": "*",
    "no_proxy": "*",
    "HTTP_PROXY": "",
    "HTTPS_PROXY": "",
    "ALL_PROXY": "",
    "http_proxy": "",
    "https_proxy": "",
    "all_proxy": "",
}
# Never hand credentials to the server: the scripted model and local Mem0 must run.
_DROPPED_PREFIXES = ("OPENAI_", "LANGSMITH_API", "LANGCHAIN_API", "MEM0_API")


class DevServerError(RuntimeError):
    """The server did not start, or did not stop; the message ends with the tail of its log."""


def offline_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment, made offline (see `OFFLINE_ENV`), plus `overrides`.

    An override of `None` removes the variable, e.g. `offline_env(DATABASE_URL=None)` runs the
    server on the embedded Postgres.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(OFFLINE_ENV)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _absolute(spec: str) -> str:
    """A file-path spec ("./x.py:obj", ".", "src/x.py:obj") resolved against the repo root."""
    if "://" in spec:
        return spec  # a URL dependency
    path, sep, attr = spec.partition(":")
    if path.startswith(".") or "/" in path or path.endswith(".py"):
        return str((ROOT / path).resolve()) + sep + attr
    return spec  # a module path ("pkg.mod:obj") or a package requirement


# (section, key) of langgraph.json entries that name code by path or module ("x.py:obj").
_CODE_REFS = (("checkpointer", "path"), ("auth", "path"), ("http", "app"), ("store", "path"))


def derived_config(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The repository's langgraph.json, runnable from another directory, merged with `extra`.

    * `extra` is merged at the top level (a key's value replaces the repo's); a key whose
      value is `None` is removed, e.g. `{"auth": None}` serves without the repo's auth;
    * relative file paths (`dependencies`, graphs, and checkpointer/auth/store `path`, http
      `app`), the repo's or `extra`'s, are resolved against the repository root; module paths
      ("pkg.mod:obj") are kept: the package is installed (editable) in the venv;
    * `env` is dropped when it names a file: the caller's environment is the whole
      environment (a developer's `.env` must not leak keys or a DATABASE_URL into tests).
      A mapping given in `extra` is kept.
    """
    config: dict[str, Any] = json.loads(REPO_CONFIG.read_text())
    if not isinstance(config.get("env"), dict):
        config.pop("env", None)
    for key, value in (extra or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    config["dependencies"] = [_absolute(d) for d in config.get("dependencies", [])]
    config["graphs"] = {name: _absolute(spec) for name, spec in config.get("graphs", {}).items()}
    for section, key in _CODE_REFS:
        entry = config.get(section)
        if isinstance(entry, dict) and isinstance(entry.get(key), str):
            config[section] = {**entry, key: _absolute(entry[key])}
    return config


#: The usual cast of the server tests: two users of one company, one of another, an operator.
USERS_AND_OPERATOR: tuple[tuple[str, str, str | None, bool], ...] = (
    ("ana", "ana", "acme", False),
    ("bruno", "bruno", "acme", False),
    ("carla", "carla", "globex", False),
    ("admin", "ops", None, True),
)


async def acreate_keys(
    database_url: str, specs: Iterable[tuple[str, str, str | None, bool]]
) -> dict[str, str]:
    """Migrate the database and issue one API key per (name, user, company, admin).

    Returns name -> key and name + "_id" -> the key's id (for `arevoke_key`).
    """
    import psycopg

    from langgraph_brain.db import CONNECTION_KWARGS
    from langgraph_brain.migrate import amigrate_all
    from langgraph_brain.server.keys import acreate_key

    out: dict[str, str] = {}
    async with await psycopg.AsyncConnection.connect(database_url, **CONNECTION_KWARGS) as conn:
        await amigrate_all(conn)
        for name, user, company, admin in specs:
            record, out[name] = await acreate_key(conn, user, company, admin=admin)
            out[f"{name}_id"] = record.key_id
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class DevServer:
    """A running `langgraph dev` (yielded by `dev_server`)."""

    url: str
    log_path: Path
    workdir: Path
    config: dict[str, Any]
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        """The server's pid, which is also its process group id."""
        return self.process.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM the process group, wait `timeout` s, then SIGKILL it. Returns the exit code.

        Idempotent. Raises DevServerError if SIGKILL was needed (the server ignored SIGTERM).
        """
        if self.process.returncode is not None:
            return self.process.returncode
        _signal_group(self.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise DevServerError(
                f"langgraph dev did not exit within {timeout}s of SIGTERM; killed:\n{self.log_tail()}"
            ) from None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, sig)


@contextmanager
def dev_server(
    env: Mapping[str, str] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    startup_timeout: float = 120,
    stop_timeout: float = 30,
) -> Iterator[DevServer]:
    """Run `langgraph dev` in a temporary directory for the duration of the `with` block.

    Args:
        env: the server's whole environment (default `offline_env()`).
        config: extra top-level keys merged into the derived langgraph.json (see
            `derived_config`), e.g. `{"auth": {"path": "tests/my_auth.py:auth"}}`; relative
            file paths are taken from the repository root (the server's working directory is
            the temporary directory).
        startup_timeout: seconds to wait for `GET /ok`.
        stop_timeout: seconds between SIGTERM and SIGKILL on exit.

    Raises:
        DevServerError: the server exited or did not answer `/ok` in time (message: log tail).
    """
    exe = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    if exe is None:
        raise DevServerError("langgraph-cli is not installed next to this interpreter")
    workdir = Path(tempfile.mkdtemp(prefix="langgraph-dev-"))
    try:
        full_config = derived_config(config)
        (workdir / "langgraph.json").write_text(json.dumps(full_config, indent=2))
        port = free_port()
        log_path = workdir / "langgraph-dev.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [exe, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
                cwd=workdir,
                env=dict(env) if env is not None else offline_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its children
            )
        server = DevServer(
            url=f"http://127.0.0.1:{port}",
            log_path=log_path,
            workdir=workdir,
            config=full_config,
            process=process,
        )
        try:
            _wait_ready(server, startup_timeout)
            yield server
        finally:
            server.stop(stop_timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: DevServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2, trust_env=False) as http:
        while True:
            if server.process.poll() is not None:
                raise DevServerError(
                    f"langgraph dev exited with {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                if http.get(f"{server.url}/ok").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DevServerError(f"langgraph dev did not answer /ok in {timeout}s:\n{server.log_tail()}")
            time.sleep(0.5)

"""`langgraph dev` end to end: the real dev server, offline, driven through langgraph-sdk.

The servers run through `tests/devserver.py`: in a temporary directory (so the in-memory
runtime's `.langgraph_api/` never lands in the checkout), in their own process group, stopped
with SIGTERM like a deployment stops them.

One server per module serves most tests (it is the slow part). It runs on this module's fresh
database, so the tests can read back what it persisted: checkpoints (BrainSaver) and brain
rows. The lifecycle tests start their own servers on the embedded Postgres (no DATABASE_URL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from tests.devserver import REPO_CONFIG, ROOT, DevServer, dev_server, offline_env

GRAPHS: list[str] = list(json.loads(REPO_CONFIG.read_text())["graphs"])
CHECKOUT_STATE = ROOT / ".langgraph_api"
IDENTITY = {"user_id": "ana", "company_id": "acme"}


pytestmark = pytest.mark.slow


def _snapshot(path: Path) -> dict[str, int] | None:
    """Files under `path` with their mtimes; None if `path` does not exist."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")}


@pytest.fixture(scope="module")
def checkout_state_before() -> dict[str, int] | None:
    # Taken before the module's server starts. A `.langgraph_api/` from a manual
    # `langgraph dev` in the checkout may exist; the tests' servers must not touch it.
    return _snapshot(CHECKOUT_STATE)


@pytest.fixture(scope="module")
def server(database_url: str, checkout_state_before: dict[str, int] | None) -> Iterator[DevServer]:
    with dev_server(offline_env(DATABASE_URL=database_url)) as srv:
        yield srv


async def _ask(client: Any, graph: str, thread_id: str, text: str, **identity: str) -> str:
    result = await client.runs.wait(
        thread_id,
        graph,
        input={"messages": [{"role": "user", "content": text}]},
        context=identity,
    )
    assert isinstance(result, dict) and "messages" in result, result
    content: str = result["messages"][-1]["content"]
    return content


def _get(server: DevServer, path: str) -> httpx.Response:
    """GET from the server; a dropped connection (how the dev server answers an unhandled
    exception) fails the test with the server's log, which holds the traceback."""
    try:
        return httpx.get(f"{server.url}{path}", timeout=120, trust_env=False)
    except httpx.HTTPError as exc:
        pytest.fail(f"GET {path}: {exc!r}\n--- server log ---\n{server.log_tail(6000)}")


async def test_dev_server_serves_both_graphs(server: DevServer) -> None:
    client = get_client(url=server.url)
    graphs = {a["graph_id"] for a in await client.assistants.search()}
    assert set(GRAPHS) <= graphs
    assert {"assistant", "supervisor"} <= graphs


@pytest.mark.parametrize("graph_id", GRAPHS)
async def test_studio_can_render_every_graph(server: DevServer, graph_id: str) -> None:
    """What Studio fetches for a graph: its schemas and its drawing (both answered 500 on
    Python 3.11 while BrainContext was a typing.TypedDict)."""
    client = get_client(url=server.url)
    [assistant] = await client.assistants.search(graph_id=graph_id, limit=1)
    assistant_id = assistant["assistant_id"]

    response = _get(server, f"/assistants/{assistant_id}/schemas")
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{server.log_tail()}"
    schemas = response.json()
    assert schemas["graph_id"] == graph_id
    assert {"user_id", "company_id"} <= set(schemas["context_schema"]["properties"])
    assert "messages" in schemas["state_schema"]["properties"]
    assert schemas["input_schema"] is not None and schemas["output_schema"] is not None

    response = _get(server, f"/assistants/{assistant_id}/graph")
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{server.log_tail()}"
    nodes = {node["id"] for node in response.json()["nodes"]}
    assert {"__start__", "model", "tools"} <= nodes


async def test_two_threads_share_company_memory_and_isolate_user_memory(
    server: DevServer, database_url: str
) -> None:
    client = get_client(url=server.url)
    thread_a = (await client.threads.create())["thread_id"]
    thread_b = (await client.threads.create())["thread_id"]
    ana = {"user_id": "ana", "company_id": "acme"}
    bruno = {"user_id": "bruno", "company_id": "acme"}

    reply = await _ask(client, "assistant", thread_a, "Remember that my name is Ana Rojas", **ana)
    assert reply.startswith("[scripted model]") and "Saved user memory 'name'" in reply
    reply = await _ask(
        client, "supervisor", thread_a, "Remember for the company that our tax regime is Pro Pyme", **ana
    )
    assert "Saved company memory 'company_tax_regime'" in reply

    # Thread B, another user of the same company, through the other specialist.
    reply = await _ask(
        client, "supervisor", thread_b, "Onboarding question: what tax regime does our company use?", **bruno
    )
    assert "onboarding" in reply and "Pro Pyme" in reply
    reply = await _ask(client, "assistant", thread_b, "What is my name?", **bruno)
    assert "Ana" not in reply
    # Studio sends identity as configurable keys; the same graph honours them.
    run = await client.runs.wait(
        thread_b,
        "assistant",
        input={"messages": [{"role": "user", "content": "What is my name?"}]},
        config={"configurable": {"user_id": "ana", "company_id": "acme"}},
    )
    assert isinstance(run, dict) and "Ana Rojas" in run["messages"][-1]["content"]

    # Persisted in Postgres: checkpoints of both threads, and the brain rows.
    with psycopg.connect(database_url) as conn:
        threads = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id = ANY(%s)",
                ([thread_a, thread_b],),
            )
        }
        assert threads == {thread_a, thread_b}
        rows = set(
            conn.execute("SELECT scope, entity_id, slug FROM brain_memories WHERE sync_state = 'synced'")
        )
    assert ("user", "ana", "name") in rows
    assert ("company", "acme", "company_tax_regime") in rows
    assert not any(scope == "user" and entity == "bruno" for scope, entity, _ in rows)

    state = await client.threads.get_state(thread_a)
    texts = [m["content"] for m in state["values"]["messages"]]
    assert "Remember that my name is Ana Rojas" in texts


async def test_missing_identity_fails_the_run(server: DevServer) -> None:
    client = get_client(url=server.url)
    thread = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread, "assistant", input={"messages": [{"role": "user", "content": "What is my name?"}]}
    )
    await client.runs.join(thread, run["run_id"])
    finished = await client.runs.get(thread, run["run_id"])
    assert finished["status"] == "error"


def test_server_state_stays_out_of_the_checkout(
    server: DevServer, checkout_state_before: dict[str, int] | None
) -> None:
    """After the runs above: the runtime's threads/runs/store went to the server's temporary
    directory, and nothing was written under the checkout's `.langgraph_api/` (a leftover one
    leaked its threads into the next server's threads.search)."""
    assert Path(f"/proc/{server.pid}/cwd").resolve() == server.workdir.resolve()
    assert (server.workdir / ".langgraph_api").is_dir()
    assert _snapshot(CHECKOUT_STATE) == checkout_state_before, f"the dev server wrote {CHECKOUT_STATE}"
    if checkout_state_before is None:
        assert not CHECKOUT_STATE.exists()


# ---------------------------------------------------------------- lifecycle on embedded Postgres

# Holds the embedded server for a data dir (like a CLI or a second worker) until stdin closes.
_HOLDER = """
import sys
from pathlib import Path
from langgraph_brain.db.embedded import embedded_database_url
print(embedded_database_url(Path(sys.argv[1])), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def brain_data_dir() -> Iterator[Path]:
    """A fresh BRAIN_DATA_DIR; a postmaster a failed test left running there is stopped."""
    path = Path(tempfile.mkdtemp(prefix="brain-dev-"))
    try:
        yield path
    finally:
        pid = _postmaster_pid(path)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGINT)  # fast shutdown
            _wait_stopped(path, pid, timeout=30)
        shutil.rmtree(path, ignore_errors=True)


def _embedded_env(data_dir: Path) -> dict[str, str]:
    return offline_env(DATABASE_URL=None, BRAIN_DATA_DIR=str(data_dir))


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _wait_stopped(data_dir: Path, pid: int, timeout: float) -> bool:
    """Wait until the postmaster `pid` of `data_dir` is gone (pid file removed or process dead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _postmaster_pid(data_dir) != pid or not _alive(pid):
            return True
        time.sleep(0.25)
    return False


def _handle_pids(data_dir: Path) -> list[int]:
    path = data_dir / "pgdata" / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def _hold(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir)],
        env=_embedded_env(data_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    url = holder.stdout.readline().strip()
    assert url.startswith("postgresql://"), f"holder failed (exit {holder.poll()})"
    return holder, url


async def _one_run(server: DevServer) -> None:
    client = get_client(url=server.url)
    thread = (await client.threads.create())["thread_id"]
    reply = await _ask(client, "assistant", thread, "Remember that my name is Ana", **IDENTITY)
    assert "Saved user memory 'name'" in reply


async def test_sigterm_stops_the_embedded_postgres(brain_data_dir: Path) -> None:
    """Without DATABASE_URL the server starts the embedded Postgres; SIGTERM to the server's
    process group must stop it too (pg_ctl puts it in its own session, and the dev server
    dies of the re-raised SIGTERM without running atexit hooks)."""
    checkout_before = _snapshot(CHECKOUT_STATE)
    with dev_server(_embedded_env(brain_data_dir)) as srv:
        await _one_run(srv)
        pid = _postmaster_pid(brain_data_dir)
        assert pid is not None and _alive(pid)
        assert os.getpgid(pid) != srv.pid  # out of reach of the group's SIGTERM
        srv.stop()
        log = srv.log_tail()
    assert _wait_stopped(brain_data_dir, pid, timeout=30), (
        f"postmaster {pid} still running after the dev server's SIGTERM; handle pids:"
        f" {_handle_pids(brain_data_dir)}\n--- server log ---\n{log}"
    )
    assert srv.pid not in _handle_pids(brain_data_dir)
    # The harness left nothing behind: its directory is gone, the checkout untouched.
    assert not srv.workdir.exists()
    assert _snapshot(CHECKOUT_STATE) == checkout_before


async def test_sigterm_keeps_a_postgres_shared_with_a_live_process(brain_data_dir: Path) -> None:
    """pgserver shares one postmaster per data dir: the dev server's shutdown must not stop it
    under another live process, and that process's normal exit must then stop it."""
    holder, url = _hold(brain_data_dir)
    try:
        pid = _postmaster_pid(brain_data_dir)
        assert pid is not None
        with dev_server(_embedded_env(brain_data_dir)) as srv:
            await _one_run(srv)
            assert _postmaster_pid(brain_data_dir) == pid
            srv.stop()
        assert _alive(pid), "the dev server stopped a Postgres another process was using"
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert _handle_pids(brain_data_dir) == [holder.pid]
    finally:
        holder.communicate(timeout=60)  # closes stdin: the holder exits normally
    assert _wait_stopped(brain_data_dir, pid, timeout=30), "the last user's exit did not stop Postgres"


def test_last_live_user_stops_postgres_despite_a_killed_one(brain_data_dir: Path) -> None:
    """A process that died without cleaning up (SIGKILL, or the old SIGTERM path) leaves its
    pid in pgserver's shared list; the last live user must still stop the server at exit."""
    killed, _ = _hold(brain_data_dir)
    killed.kill()
    killed.wait(timeout=30)
    assert killed.pid in _handle_pids(brain_data_dir)
    pid = _postmaster_pid(brain_data_dir)
    assert pid is not None and _alive(pid)

    last, _ = _hold(brain_data_dir)
    last.communicate(timeout=60)
    assert last.returncode == 0
    assert _wait_stopped(brain_data_dir, pid, timeout=30), (
        f"postmaster kept running; handle pids: {_handle_pids(brain_data_dir)}"
    )

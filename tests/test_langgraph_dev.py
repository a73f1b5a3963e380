"""`langgraph dev` end to end: the real dev server, offline, driven through langgraph-sdk.

One server per module (it is the slow part). It runs on this module's fresh database, so the
test can read back what the server persisted: checkpoints (BrainSaver) and brain rows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
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

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "MEM0_TELEMETRY": "False",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dev_server(database_url: str) -> Iterator[str]:
    exe = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    assert exe, "langgraph-cli is not installed"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGSMITH_API", "MEM0_API"))}
    env.update(OFFLINE_ENV)
    env.update(
        {
            "DATABASE_URL": database_url,
            "BRAIN_MODEL": "scripted",
            # No proxies: nothing is allowed to leave the machine, and localhost must stay direct.
            "NO_PROXY": "*",
            "HTTP_PROXY": "",
            "HTTPS_PROXY": "",
        }
    )
    log = tempfile.NamedTemporaryFile("w+", prefix="langgraph-dev-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [exe, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stopping it stops its children too
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read()[-4000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"langgraph dev did not start:\n{log.read()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


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


async def test_dev_server_serves_both_graphs(dev_server: str) -> None:
    client = get_client(url=dev_server)
    graphs = {a["graph_id"] for a in await client.assistants.search()}
    assert {"assistant", "supervisor"} <= graphs


async def test_two_threads_share_company_memory_and_isolate_user_memory(
    dev_server: str, database_url: str
) -> None:
    client = get_client(url=dev_server)
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


async def test_missing_identity_fails_the_run(dev_server: str) -> None:
    client = get_client(url=dev_server)
    thread = (await client.threads.create())["thread_id"]
    run = await client.runs.create(
        thread, "assistant", input={"messages": [{"role": "user", "content": "What is my name?"}]}
    )
    await client.runs.join(thread, run["run_id"])
    finished = await client.runs.get(thread, run["run_id"])
    assert finished["status"] == "error"

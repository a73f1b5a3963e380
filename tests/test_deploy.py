"""Deployment: migrations as a deliberate step, read-only doctor, the checkpointer without pgvector,
one thread-owner rule, and CLI errors without tracebacks. Real Postgres, real Mem0."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from langgraph_brain.brain import open_memory_service
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.checkpointers.threads import athreads_of
from langgraph_brain.cli import app
from langgraph_brain.db import DatabaseNotMigratedError
from langgraph_brain.errors import BrainConfigurationError
from langgraph_brain.settings import BrainSettings, get_settings
from langgraph_brain.tools import BrainContext

runner = CliRunner()
BRAIN_TABLES = ("brain_memories", "brain_history", "brain_mem0", "brain_migrations")


async def _brain(args: list[str]) -> Any:
    # The CLI runs its own event loop; give it a thread of its own.
    return await asyncio.to_thread(runner.invoke, app, args)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def _superuser(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


@pytest.fixture
def env(database_url: str) -> Iterator[Callable[..., None]]:
    """Point the settings at a database for one test (and restore them afterwards)."""
    with pytest.MonkeyPatch.context() as mp:

        def use(url: str, **extra: str) -> None:
            mp.setenv("DATABASE_URL", url)
            mp.setenv("BRAIN_MODEL", "scripted")
            mp.setenv("COLUMNS", "250")
            for key, value in extra.items():
                mp.setenv(key, value)
            get_settings.cache_clear()

        yield use
    get_settings.cache_clear()


def _login_role(owner_url: str, prefix: str) -> tuple[str, str]:
    """A plain LOGIN role (no CREATE on anything) and its connection string."""
    role, password = f"{prefix}_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'".encode())
        dbname = conn.info.dbname
        conn.execute(f"GRANT CONNECT ON DATABASE {dbname} TO {role}".encode())
        # PG >= 15 gives PUBLIC no CREATE on schema public; make that explicit for older servers.
        conn.execute(b"REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return role, make_conninfo(owner_url, user=role, password=password)


async def test_doctor_writes_nothing_and_later_commands_work(
    fresh_database_url: Callable[[str], str], env: Callable[..., None]
) -> None:
    url = fresh_database_url("doctor")
    env(url)
    result = await _brain(["doctor"])
    assert "schema: brain" in result.output and "not installed" in result.output, result.output
    assert _tables(url) == set(), "doctor created tables"
    # Before the fix, doctor let Mem0 create brain_mem0 and every later command failed.
    result = await _brain(["memories", "list", "-s", "user", "-i", "ana"])
    assert result.exit_code == 0, result.output
    result = await _brain(["sessions", "list"])
    assert result.exit_code == 0, result.output


async def test_auto_migrate_off_refuses_an_unmigrated_database_without_ddl(
    fresh_database_url: Callable[[str], str],
) -> None:
    url = fresh_database_url("nomigrate")
    settings = BrainSettings(DATABASE_URL=url, BRAIN_AUTO_MIGRATE=False)
    with pytest.raises(DatabaseNotMigratedError, match="brain migrate") as info:
        async with open_memory_service(settings):
            pass
    assert "brain: not installed" in str(info.value)
    with pytest.raises(DatabaseNotMigratedError, match="brain migrate"):
        async with BrainSaver.from_conn_string(url, setup=False):
            pass
    assert _tables(url) == set()


async def test_app_role_on_unmigrated_database_gets_one_clear_error_and_no_partial_ddl(
    fresh_database_url: Callable[[str], str],
) -> None:
    owner_url = fresh_database_url("approle")
    _role, app_url = _login_role(owner_url, "plain")
    for auto in (True, False):
        settings = BrainSettings(DATABASE_URL=app_url, BRAIN_AUTO_MIGRATE=auto)
        with pytest.raises(DatabaseNotMigratedError, match="brain migrate"):
            async with open_memory_service(settings):
                pass
        with pytest.raises(DatabaseNotMigratedError, match="brain migrate"):
            async with BrainSaver.from_conn_string(app_url, setup=auto):
                pass
    assert _tables(owner_url) == set(), "a refused migration left tables behind"


async def test_checkpointer_needs_neither_pgvector_nor_the_brain(
    fresh_database_url: Callable[[str], str], superuser_url: str
) -> None:
    url = fresh_database_url("cponly")
    # An operator may have put pgvector in template1 (the external test lane does, as managed
    # services do): take it out of this database, as a superuser, so it has none to lean on.
    dbname = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(superuser_url, dbname=dbname), autocommit=True) as conn:
        conn.execute("DROP EXTENSION IF EXISTS vector")
    async with BrainSaver.from_conn_string(url) as saver:
        graph = _echo_graph().compile(checkpointer=saver)
        await graph.ainvoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t"}})
    tables = _tables(url)
    assert {"checkpoints", "chat_messages", "brain_checkpointer_migrations"} <= tables
    assert not tables & set(BRAIN_TABLES)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone() == (0,)


async def test_migrate_then_brain_after_checkpointer_and_app_role_runs_without_ddl(
    fresh_database_url: Callable[[str], str], env: Callable[..., None]
) -> None:
    url = fresh_database_url("migrate")
    async with BrainSaver.from_conn_string(url):  # the checkpointer came first (chat_messages)
        pass
    env(url, BRAIN_APP_PASSWORD="app-secret-1")
    role = f"brain_app_{uuid.uuid4().hex[:6]}"
    result = await _brain(["migrate", "--app-role", role])
    assert result.exit_code == 0, result.output
    assert "brain: current" in result.output and "auth: current" in result.output
    again = await _brain(["migrate"])
    assert again.exit_code == 0 and again.output.count("—") >= 4, again.output  # nothing pending
    app_url = make_conninfo(url, user=role, password="app-secret-1")
    tenant_key = (await _brain(["migrate", "--tenant-key"])).output.strip()
    assert len(bytes.fromhex(tenant_key)) >= 32
    without_key = BrainSettings(DATABASE_URL=app_url, BRAIN_AUTO_MIGRATE=False)
    with pytest.raises(BrainConfigurationError, match="BRAIN_TENANT_KEY"):
        async with open_memory_service(without_key):
            pass
    settings = BrainSettings(DATABASE_URL=app_url, BRAIN_AUTO_MIGRATE=False, BRAIN_TENANT_KEY=tenant_key)
    async with BrainSaver.from_conn_string(app_url, setup=False) as saver:
        graph = _echo_graph().compile(checkpointer=saver)
        await graph.ainvoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "app"}})
    async with open_memory_service(settings) as svc:
        assert svc.index is not None
    # The application role cannot mint API keys or touch migration state.
    with psycopg.connect(app_url, autocommit=True) as conn:
        for stmt in (
            "INSERT INTO brain_api_keys (key_id, key_hash, user_id) VALUES ('aaaaaaaaaaaa', 'x', 'eve')",
            "DELETE FROM brain_migrations",
            "CREATE TABLE planted (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt.encode())


async def test_foreign_mem0_collection_is_reported_not_clobbered(
    fresh_database_url: Callable[[str], str], env: Callable[..., None]
) -> None:
    url = fresh_database_url("foreign")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE brain_mem0 (id uuid PRIMARY KEY, payload jsonb)")
    env(url)
    doctor = await _brain(["doctor"])
    assert "not created by the brain's migrations" in doctor.output, doctor.output
    result = await _brain(["migrate"])
    assert result.exit_code == 1
    assert "did not create" in result.output and "brain migrate" in result.output
    assert "brain_memories" not in _tables(url), "the failed migration left part of the brain behind"


def _echo_graph() -> StateGraph[Any, Any]:
    async def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("ok")]}

    builder: StateGraph[Any, Any] = StateGraph(MessagesState, context_schema=BrainContext)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder


async def test_thread_owner_is_stamped_however_identity_arrives(database_url: str) -> None:
    """Context only (the README's in-process example), configurable, mixed case: one rule."""
    async with BrainSaver.from_conn_string(database_url) as saver:
        graph = _echo_graph().compile(checkpointer=saver)
        await graph.ainvoke(
            {"messages": [("user", "x")]},
            {"configurable": {"thread_id": "ctx-thread"}},
            context={"user_id": "Ana ", "company_id": "ACME"},
        )
        await graph.ainvoke(
            {"messages": [("user", "x")]},
            {"configurable": {"thread_id": "cfg-thread", "user_id": "ana", "company_id": "acme"}},
        )
        await graph.ainvoke(
            {"messages": [("user", "x")]},
            {"configurable": {"thread_id": "other"}},
            context={"user_id": "anabel"},
        )
        assert await athreads_of(saver.conn, "user", "ANA") == ["cfg-thread", "ctx-thread"]
        assert await athreads_of(saver.conn, "company", "acme") == ["cfg-thread", "ctx-thread"]
        deleted = await saver.adelete_user("Ana")
        assert deleted == ["cfg-thread", "ctx-thread"]
        assert await saver.aget_tuple({"configurable": {"thread_id": "ctx-thread"}}) is None
        assert await saver.aget_tuple({"configurable": {"thread_id": "other"}}) is not None


def test_cli_failures_print_one_line_not_a_traceback(tmp_path: Any) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none", "BRAIN_POOL_TIMEOUT": "2"}
    env.pop("BRAIN_DEBUG", None)
    for args in (["memories", "list", "-s", "user", "-i", "ana"], ["migrate"], ["keys", "list"]):
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_brain.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "Traceback" not in out and "error" in out.lower(), out
    proc = subprocess.run(
        [sys.executable, "-m", "langgraph_brain.cli", "--debug", "keys", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "Traceback" in proc.stderr

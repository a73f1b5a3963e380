"""The `brain` CLI on this module's real database: demo, memories, sessions, chat, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from langgraph_brain.cli import app
from langgraph_brain.settings import get_settings

runner = CliRunner()


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cli_env(database_url: str) -> Iterator[dict[str, str]]:
    env = {
        "DATABASE_URL": database_url,
        "BRAIN_MODEL": "scripted",
        "COLUMNS": "200",
        "MEM0_TELEMETRY": "False",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        yield env
    get_settings.cache_clear()


def brain(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_demo_exits_0_and_shows_recall_across_threads(cli_env: dict[str, str]) -> None:
    exe = Path(sys.executable).parent / "brain"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | cli_env
    proc = subprocess.run(
        [str(exe), "demo"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "scripted model (ScriptedToolCallingModel" in out
    session2 = out[out.index("Session 2") :]
    assert "search_user_memory" in session2
    assert "[scripted model] From your memory: The user's name is Ana Rojas." in session2
    assert "The onboarding specialist says: From company memory: The company's tax regime is Pro Pyme" in out
    assert out.count("✓ yes") == 7 and "✗" not in out
    assert "Mem0 (search index)" in out and "Checkpointer (BrainSaver" in out
    # Memories that form themselves: plain French statements, no save tool, a background worker.
    forming = out[out.index("Session 3 ·") :]
    assert "save_user_memory" not in forming.split("Session 4")[0]
    assert "business_employees" in forming and "summary-demo-" in forming
    assert "compte 5 employés" in forming and "compte 7 employés" in forming


def test_memories_save_list_search_history_forget() -> None:
    code, out = brain(
        "memories", "save", "-s", "company", "-i", "acme", "company_tax_regime", "Acme uses Pro Pyme."
    )
    assert code == 0 and "created" in out
    code, out = brain("memories", "save", "-s", "user", "-i", "ana", "city", "Ana lives in Osorno.", "--pin")
    assert code == 0
    code, out = brain("memories", "list", "-s", "company", "-i", "acme")
    assert code == 0 and "company_tax_regime" in out and "Acme uses Pro Pyme." in out
    code, out = brain("memories", "search", "-s", "user", "-i", "ana", "where does she live")
    assert code == 0 and "Osorno" in out
    code, out = brain("memories", "forget", "-s", "user", "-i", "ana", "city")
    assert code == 0 and "forgotten" in out
    code, out = brain("memories", "history", "-s", "user", "-i", "ana", "city")
    assert code == 0 and "forget" in out and "create" in out and "brain-cli" in out


def test_readable_errors_on_bad_input() -> None:
    code, out = brain("memories", "save", "-s", "company", "-i", "acme", "Company Tax Regime", "x")
    assert code == 2 and "error:" in out and "company_tax_regime" in out and "Traceback" not in out
    code, out = brain("memories", "list", "-s", "team", "-i", "acme")
    assert code == 2 and "scope" in out and "Traceback" not in out
    code, out = brain("memories", "forget", "-s", "user", "-i", "ana", "never_saved")
    assert code == 2 and "never_saved" in out and "Traceback" not in out  # bad input, not a failure
    code, out = brain("memories", "list", "-s", "user", "-i", "")
    assert code == 2 and "must not be empty" in out and "runtime context" not in out
    code, out = brain("memories", "search", "-s", "user", "-i", "ana", "   ")
    assert code == 2 and "empty" in out
    code, out = brain("memories", "import", "/no/such/file.jsonl")
    assert code == 2 and "does not exist" in out.lower()
    code, out = brain("chat", "--user", "ana", "--company", "acme", "--graph", "nope")
    assert code == 2 and "assistant" in out


def test_export_and_import_with_progress_and_summary(tmp_path: Path) -> None:
    brain("memories", "save", "-s", "user", "-i", "exp", "a", "First fact.")
    brain("memories", "save", "-s", "user", "-i", "exp", "b", "Second fact.")
    dump = tmp_path / "dump.jsonl"
    code, _ = brain("memories", "export", "-s", "user", "-i", "exp", "-o", str(dump))
    assert code == 0
    items = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted(i["slug"] for i in items) == ["a", "b"]

    items[0]["entity_id"] = "imp"
    items[1]["entity_id"] = "imp"
    bad = {"scope": "user", "entity_id": "imp", "slug": "Bad Slug", "content": "x"}
    dump.write_text("\n".join([*(json.dumps(i) for i in items), json.dumps(bad), "not json"]) + "\n")
    code, out = brain("memories", "import", str(dump))
    assert code == 1  # some lines failed
    assert "created" in out and "failed" in out
    summary = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") == 3
    }
    assert summary["created"] == "2" and summary["failed"] == "2" and summary["lines"] == "4"
    assert "line 3" in out and "bad_slug" in out and "line 4" in out
    assert "line 3: line 3" not in out and "line 4: line 4" not in out
    code, out = brain("memories", "list", "-s", "user", "-i", "imp")
    assert "First fact." in out and "Second fact." in out


def test_chat_repl_saves_and_recalls() -> None:
    code, out = brain(
        "chat", "--user", "zoe", "--company", "acme", "--thread", "cli-chat-1",
        input="Remember that my name is Zoe Ruiz\nWhat is my name?\n/exit\n",
    )  # fmt: skip
    assert code == 0, out
    assert "scripted model" in out
    assert "From your memory: The user's name is Zoe Ruiz." in out
    assert "--thread cli-chat-1" in out


def test_sessions_list_show_prune(database_url: str) -> None:
    brain(
        "chat", "--user", "Yan", "--company", "acme", "--thread", "cli-sess-1", input="hello\nagain\n/exit\n"
    )
    with psycopg.connect(database_url) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'cli-sess-1' AND checkpoint_ns = ''"
            " ORDER BY checkpoint_id"
        )]  # fmt: skip
    assert len(ids) > 1
    code, out = brain("sessions", "list", "--user", "yan")  # the owner was stamped normalised
    assert code == 0 and "cli-sess-1" in out and "acme" in out
    code, out = brain("sessions", "show", "cli-sess-1")
    assert code == 0 and "hello" in out and "scripted model" in out
    code, out = brain("sessions", "show", "no-such-thread")
    assert code == 1 and "no thread" in out
    code, out = brain("sessions", "prune", "--keep", "1", "--thread", "cli-sess-1")
    assert code == 0 and "kept the newest 1" in out and f"removed {len(ids) - 1}" in out, out
    with psycopg.connect(database_url) as conn:
        kept = [r[0] for r in conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'cli-sess-1' AND checkpoint_ns = ''"
        )]  # fmt: skip
    assert kept == [ids[-1]], "prune must keep exactly the newest checkpoint"
    code, out = brain("sessions", "list", "--user", "yan")
    assert "cli-sess-1" in out
    code, out = brain("sessions", "show", "cli-sess-1")
    assert "hello" in out and "again" in out, "the transcript keeps the whole conversation"


def test_doctor_reports_each_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("BRAIN_MODEL", "openai:gpt-4o-mini")
    get_settings.cache_clear()
    code, out = brain("doctor")
    get_settings.cache_clear()
    assert code == 0, out  # a missing model key is a warning: the scripted model runs
    for name in ("database", "pgvector", "embedder", "mem0", "tokenizer", "model key"):
        assert name in out
    assert "OPENAI_API_KEY is not set" in out and "warning" in out

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    code, out = brain("doctor")
    get_settings.cache_clear()
    assert code == 1 and "missing" in out and "DATABASE_URL" in out

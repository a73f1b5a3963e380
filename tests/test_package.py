"""The top-level package: entry points only, imported lazily. No database needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import langgraph_brain

pytestmark = pytest.mark.lane_independent

DEMO_NAMES = {"create_assistant", "create_supervisor", "ScriptedToolCallingModel", "resolve_chat_model"}


def test_import_loads_neither_langchain_nor_the_database_drivers() -> None:
    code = (
        "import json, sys, langgraph_brain\n"
        "heavy = ('langchain', 'langchain_core', 'langgraph', 'psycopg', 'mem0', 'tiktoken')\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_every_public_name_resolves_and_none_is_a_demo_piece() -> None:
    names = set(langgraph_brain.__all__)
    assert not names & DEMO_NAMES
    for name in names:
        assert getattr(langgraph_brain, name) is not None, name
    assert names <= set(dir(langgraph_brain))
    from langgraph_brain.middleware import create_memory_middleware
    from langgraph_brain.tools import create_memory_tools

    assert langgraph_brain.create_memory_tools is create_memory_tools
    assert langgraph_brain.create_memory_middleware is create_memory_middleware


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="create_assistant"):
        langgraph_brain.create_assistant  # noqa: B018  (demo pieces live in langgraph_brain.demo)


def test_every_setting_is_documented_in_the_readme_and_env_example() -> None:
    from pathlib import Path

    from langgraph_brain.settings import BrainSettings

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    aliases: set[str] = set()
    for field in BrainSettings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        aliases.update(str(c) for c in choices) if choices else aliases.add(str(alias))
    assert len(aliases) > 30
    assert sorted(a for a in aliases if f"`{a}`" not in readme) == []
    # Every BRAIN_ variable a user may set appears in the example file (commented or set).
    example = (root / ".env.example").read_text()
    internal = {"BRAIN_APP_PASSWORD", "BRAIN_SERVER_API_KEY"}  # read by one CLI command each
    missing = sorted(a for a in aliases if a.startswith("BRAIN_") and a not in example and a not in internal)
    assert missing == []

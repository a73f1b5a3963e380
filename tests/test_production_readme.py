"""The README's "Production deployment" section, followed literally.

A fresh database owned by a non-superuser with CREATEROLE (pgvector created once by a superuser,
as the section's table says). The section's bash blocks run as they are written, with only the
"fill in" values supplied; then the server runs in the application's environment and the
section's client snippet talks to it with the issued key. Both test lanes run this: the embedded
server, and the external one over TCP with password authentication.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from tests.devserver import dev_server, offline_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def readme_block(marker: str) -> str:
    """The body of the fenced block that follows `<!-- production: marker -->`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"<!-- production: {marker} -->")
    body = text.index("\n", text.index("```", start)) + 1
    return text[body : text.index("```", body)]


@pytest.fixture(scope="module")
def fresh_server(server_url: str, superuser_url: str) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    owner, owner_pw, dbname = f"brain_owner_{suffix}", uuid.uuid4().hex, f"prod_{suffix}"
    app_pw = uuid.uuid4().hex
    with psycopg.connect(superuser_url, autocommit=True) as su:
        su.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(owner_pw)
            )
        )
        su.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner))
        )
    with psycopg.connect(make_conninfo(superuser_url, dbname=dbname), autocommit=True) as su:
        su.execute("CREATE EXTENSION IF NOT EXISTS vector")  # the section's superuser step
    yield {
        "OWNER_URL": make_conninfo(server_url, user=owner, password=owner_pw, dbname=dbname),
        "BRAIN_APP_PASSWORD": app_pw,
        "APP_URL": make_conninfo(server_url, user="brain_app", password=app_pw, dbname=dbname),
    }


def _shell_env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in offline_env(DATABASE_URL=None).items() if not k.startswith("BRAIN_")}
    env.update(values)
    env.update(
        {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "200", "BRAIN_MODEL": "scripted"}
    )
    return env


def test_the_production_section_works_end_to_end(fresh_server: dict[str, str], tmp_path: Path) -> None:
    out_file = tmp_path / "exported"
    script = "\n".join(
        [
            "set -euo pipefail",
            readme_block("owner"),
            readme_block("app"),
            f'printf "%s\\n%s\\n" "$BRAIN_TENANT_KEY" "$API_KEY" > {out_file}',
        ]
    )
    proc = subprocess.run(
        ["bash", "-c", script], env=_shell_env(fresh_server), capture_output=True, text=True, timeout=600
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "brain: current" in output and "checkpointer: current" in output and "auth: current" in output
    assert "Traceback" not in output
    tenant_key, api_key = out_file.read_text().split()
    assert len(bytes.fromhex(tenant_key)) >= 32 and api_key.startswith("lgb_")

    app_env = {
        "DATABASE_URL": fresh_server["APP_URL"],
        "BRAIN_AUTO_MIGRATE": "false",
        "BRAIN_AUTH": "required",
        "BRAIN_TENANT_KEY": tenant_key,
    }
    # In-process quickstart as the application role: no DDL, signed tenants, real recall.
    quick = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "assistant_quickstart.py")],
        env=_shell_env(app_env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert quick.returncode == 0, (quick.stdout + quick.stderr)[-4000:]
    assert "favourite colour is green" in quick.stdout

    # The LangGraph server in the application's environment, with auth, and the section's client.
    with dev_server(offline_env(**app_env)) as server:
        client = subprocess.run(
            [sys.executable, "-c", readme_block("quickstart")],
            env={**_shell_env(app_env), "SERVER_URL": server.url, "API_KEY": api_key},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert client.returncode == 0, (client.stdout + client.stderr)[-4000:]
        assert "Saved user memory 'name'" in client.stdout
        anonymous = httpx.post(f"{server.url}/threads", json={}, timeout=30, trust_env=False)
        assert anonymous.status_code == 401

    with psycopg.connect(fresh_server["OWNER_URL"]) as owner:
        rows = set(owner.execute("SELECT scope, entity_id, slug FROM brain_memories"))
        owners = {r[0] for r in owner.execute("SELECT DISTINCT metadata->>'user_id' FROM checkpoints")}
        table_owners = {
            r[0] for r in owner.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
    assert ("user", "ana", "name") in rows and ("user", "ana", "favourite_colour") in rows
    assert owners == {"ana"}
    assert table_owners == {conninfo_to_dict(fresh_server["OWNER_URL"])["user"]}, (
        "someone else created tables"
    )

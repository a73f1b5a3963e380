"""The memory HTTP API on a real `langgraph dev` with auth, driven with httpx as two users and one operator.

ana and bruno work for acme, carla for globex, ops holds an admin key. Real Postgres, real Mem0,
real e5 embeddings, the real dev server with `http.app` mounted behind the custom auth. Every
attempt to reach someone else's data or to slip bad input past the API is counted in `ATTACKS`;
each must answer a clear 4xx (never a 500) without the victim's data, and the database is
checked afterwards for writes that should not have happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from starlette.requests import Request
from tests.devserver import USERS_AND_OPERATOR, DevServer, acreate_keys, dev_server, offline_env

from langgraph_brain.identity import AUTH_USER_KIND
from langgraph_brain.server.api.caller import caller_of
from langgraph_brain.server.api.errors import ApiError
from langgraph_brain.server.auth import OPEN_USER_KIND, PROBE_USER_KIND, UI_SHELL_KIND

pytestmark = pytest.mark.slow

HTTP = {"app": "langgraph_brain.server.api:app", "enable_custom_route_auth": True}
ATTACKS: list[str] = []
LEAKS: list[str] = []
#: Text only ana's (and acme's) memories hold; finding it in another caller's answer is a leak.
SECRETS = ("Ana Rojas", "Pro Pyme", "ana-secret-7731")


@pytest.fixture(scope="module")
async def keys(database_url: str) -> dict[str, str]:
    return await acreate_keys(database_url, USERS_AND_OPERATOR)


@pytest.fixture(scope="module")
def server(database_url: str, keys: dict[str, str]) -> Iterator[DevServer]:
    env = offline_env(DATABASE_URL=database_url, BRAIN_AUTH="required")
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "BRAIN_JWT_SECRET"):
        env.pop(name, None)
    with dev_server(env, config={"http": HTTP}) as srv:
        yield srv


@pytest.fixture(scope="module")
def clients(server: DevServer, keys: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    made = {
        name: httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {keys[name]}"},
            timeout=60,
            trust_env=False,
        )
        for name in ("ana", "bruno", "carla", "admin")
    }
    made["anon"] = httpx.Client(base_url=server.url, timeout=60, trust_env=False)
    try:
        yield made
    finally:
        for client in made.values():
            client.close()


def _ask(client: httpx.Client, thread_id: str, text: str, graph: str = "assistant") -> str:
    r = client.post(
        f"/threads/{thread_id}/runs/wait",
        json={"assistant_id": graph, "input": {"messages": [{"role": "user", "content": text}]}},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["messages"][-1]["content"])


@pytest.fixture(scope="module")
def seeded(clients: dict[str, httpx.Client]) -> dict[str, Any]:
    """ana's memories (user and acme's) and one conversation, written the way users write them."""
    ana = clients["ana"]
    r = ana.put("/brain/memories/user/name", json={"content": "My name is Ana Rojas.", "category": "profile"})
    assert r.status_code == 201, r.text
    r = ana.put(
        "/brain/memories/user/secret_note",
        json={"content": "The vault code is ana-secret-7731.", "metadata": {"source": "test"}},
    )
    assert r.status_code == 201, r.text
    r = ana.put(
        "/brain/memories/company/company_tax_regime",
        json={"content": "Our tax regime is Pro Pyme.", "category": "company_tax"},
    )
    assert r.status_code == 201, r.text
    thread = ana.post("/threads", json={}).json()["thread_id"]
    assert "Saved user memory" in _ask(ana, thread, "Remember that I like green tea")
    _ask(ana, thread, "What is my name?")
    return {"thread_id": thread}


def _db(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(sql, params))


def _snapshot(database_url: str) -> tuple[list[tuple[Any, ...]], int]:
    rows = _db(
        database_url, "SELECT scope, entity_id, slug, version, content FROM brain_memories ORDER BY 1, 2, 3"
    )
    history = _db(database_url, "SELECT count(*) FROM brain_history")[0][0]
    return rows, int(history)


def _attack(name: str, response: httpx.Response, expected: tuple[int, ...]) -> None:
    """Count one attempt; it must be refused with a JSON detail and leak nothing."""
    ATTACKS.append(name)
    text = response.text
    for secret in SECRETS:
        if secret in text:
            LEAKS.append(f"{name}: {secret}")
    assert response.status_code in expected, f"{name}: {response.status_code} {text[:300]}"
    assert response.status_code < 500, f"{name}: server error {text[:300]}"
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail, f"{name}: no readable detail: {text[:300]}"


# ------------------------------------------------------------------------------------ memories


def test_memories_crud_and_history(clients: dict[str, httpx.Client], seeded: dict[str, Any]) -> None:
    ana = clients["ana"]
    r = ana.get("/brain/memories/user/name")
    assert r.status_code == 200
    memory = r.json()
    assert memory["content"] == "My name is Ana Rojas." and memory["category"] == "profile"
    assert set(memory) == {
        "scope", "entity_id", "slug", "content", "category", "metadata", "version", "sync_state",
        "created_at", "updated_at", "importance", "access_count", "last_accessed_at",
    }  # fmt: skip
    assert memory["importance"] == 0.7  # profile's derived importance (README "Signals")
    assert memory["entity_id"] == "ana" and memory["sync_state"] == "synced"
    # Same content again: unchanged, 200; omitted category is kept.
    r = ana.put("/brain/memories/user/name", json={"content": "My name is Ana Rojas."})
    assert r.status_code == 200 and r.json()["status"] == "unchanged", r.text
    r = ana.put("/brain/memories/user/name", json={"content": "My name is Ana Rojas Diaz.", "reason": "typo"})
    assert r.json()["status"] == "updated" and r.json()["version"] == 2
    assert ana.get("/brain/memories/user/name").json()["category"] == "profile"
    history = ana.get("/brain/memories/user/name/history").json()["items"]
    assert [h["action"] for h in history] == ["update", "create"], history
    assert history[0]["actor"] == {"agent": "http-api", "user_id": "ana"} and history[0]["reason"] == "typo"
    assert history[0]["old_content"] == "My name is Ana Rojas." and history[0]["new_content"].endswith(
        "Diaz."
    )

    for i in range(3):
        assert (
            ana.put(f"/brain/memories/user/page_{i}", json={"content": f"Page item {i}."}).status_code == 201
        )
    first = ana.get("/brain/memories/user", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["slug"]
    slugs = [m["slug"] for m in first["items"]]
    after: str | None = first["next_after"]
    while after:
        page = ana.get("/brain/memories/user", params={"limit": 2, "after": after}).json()
        slugs += [m["slug"] for m in page["items"]]
        after = page["next_after"]
    assert slugs == sorted(slugs) and {"name", "page_0", "page_1", "page_2", "secret_note"} <= set(slugs)
    profile = ana.get("/brain/memories/user", params={"category": "profile"}).json()["items"]
    assert [m["slug"] for m in profile] == ["name"]

    r = ana.delete("/brain/memories/user/page_2")
    assert r.status_code == 200 and r.json()["slug"] == "page_2"
    assert ana.get("/brain/memories/user/page_2").status_code == 404
    r = ana.delete("/brain/memories/user/page_2")
    assert r.status_code == 404 and "page_2" in r.json()["detail"]
    assert ana.get("/brain/memories/user/page_2/history").json()["items"][0]["action"] == "forget"


def test_company_memories_are_shared_within_the_company_only(
    clients: dict[str, httpx.Client], seeded: dict[str, Any]
) -> None:
    r = clients["bruno"].get("/brain/memories/company/company_tax_regime")
    assert r.status_code == 200 and "Pro Pyme" in r.json()["content"]
    assert clients["carla"].get("/brain/memories/company/company_tax_regime").status_code == 404
    assert clients["carla"].get("/brain/memories/company").json()["items"] == []


def test_search_modes_k_category_and_min_score(
    clients: dict[str, httpx.Client], seeded: dict[str, Any]
) -> None:
    ana = clients["ana"]
    for mode in ("hybrid", "vector", "keyword"):
        r = ana.post("/brain/search/user", json={"query": "what is my name", "mode": mode, "k": 3})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert r.json()["mode"] == mode and 1 <= len(hits) <= 3
        assert set(hits[0]) == {"slug", "content", "category", "score", "updated_at"}
        assert hits[0]["slug"] == "name", (mode, hits)
    r = ana.post("/brain/search/user", json={"query": "name", "category": "profile", "k": 10})
    assert {h["category"] for h in r.json()["hits"]} == {"profile"}
    r = ana.post("/brain/search/user", json={"query": "name", "min_score": 1e9})
    assert r.json()["hits"] == []
    r = clients["bruno"].post("/brain/search/company", json={"query": "tax regime"})
    assert r.json()["hits"][0]["slug"] == "company_tax_regime"
    r = clients["carla"].post("/brain/search/user", json={"query": "Ana Rojas name vault code"})
    assert r.status_code == 200 and r.json()["hits"] == []


# ------------------------------------------------------------------------------------ transfer


def test_bulk_export_and_import_report_bad_items_and_store_good_ones(
    clients: dict[str, httpx.Client], seeded: dict[str, Any], database_url: str
) -> None:
    bruno = clients["bruno"]
    r = bruno.post(
        "/brain/memories/user/bulk",
        json={
            "items": [
                {"slug": "b1", "content": "Bruno likes chess."},
                {"slug": "Bad Slug", "content": "never stored"},
                {
                    "slug": "b2",
                    "content": "Bruno lives in Lima.",
                    "category": "profile",
                    "metadata": {"x": 1},
                },
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["saved_count"], body["failed_count"]) == (2, 1)
    assert body["errors"][0]["index"] == 1 and "slug" in body["errors"][0]["error"]

    r = bruno.get("/brain/memories/user/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    exported = [json.loads(line) for line in r.text.splitlines()]
    assert {e["slug"] for e in exported} == {"b1", "b2"} and all(e["entity_id"] == "bruno" for e in exported)

    lines = [
        json.dumps({"slug": "imp_ok_1", "content": "Imported one."}),
        "{not json",
        json.dumps({"slug": "-bad", "content": "bad slug"}),
        json.dumps({"slug": "imp_foreign", "content": "planted", "entity_id": "ana"}),
        json.dumps({"slug": "imp_unknown", "content": "x", "owner": "ana"}),
        "",
        json.dumps({**exported[0], "slug": "imp_ok_2"}),
        json.dumps({"slug": "imp_scope", "content": "x", "scope": "company"}),
        "[1, 2]",
    ]
    r = bruno.post(
        "/brain/memories/user/import",
        content="\n".join(lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["saved_count"] == 2 and body["failed_count"] == 6, body
    assert [e["line"] for e in body["errors"]] == [2, 3, 4, 5, 8, 9], body
    assert "another owner" in body["errors"][2]["error"] and "unknown field" in body["errors"][3]["error"]
    rows = _db(database_url, "SELECT entity_id, slug FROM brain_memories WHERE slug LIKE 'imp_%%' ORDER BY 2")
    assert rows == [("bruno", "imp_ok_1"), ("bruno", "imp_ok_2")]
    actors = _db(
        database_url, "SELECT DISTINCT actor->>'user_id' FROM brain_history WHERE entity_id = 'bruno'"
    )
    assert actors == [("bruno",)]


# ------------------------------------------------------------------------- context and stats


def test_context_groups_and_system_prompt(clients: dict[str, httpx.Client], seeded: dict[str, Any]) -> None:
    ana = clients["ana"]
    ana.put(
        "/brain/memories/user/goal_marathon", json={"content": "Run a marathon in 2026.", "category": "goal"}
    )
    r = ana.get("/brain/context")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {m["slug"] for m in body["user_profile"]} == {"name"}
    assert {m["slug"] for m in body["goals"]} == {"goal_marathon"}
    assert "company_tax_regime" in {m["slug"] for m in body["business_info"]}
    assert "## Long-term memory (core)" in body["system_prompt"] and "[name]" in body["system_prompt"]
    assert "[company_tax_regime] Our tax regime is Pro Pyme." in body["system_prompt"]
    assert "secret_note" not in body["system_prompt"]  # not core: searched for, not injected
    r = ana.get("/brain/context", params={"query": "vault code"})
    assert "secret_note" in {m["slug"] for m in r.json()["relevant_facts"]}
    carla = clients["carla"].get("/brain/context").json()
    assert carla["system_prompt"] == "" and carla["business_info"] == []


def test_stats(clients: dict[str, httpx.Client], seeded: dict[str, Any]) -> None:
    body = clients["ana"].get("/brain/stats").json()
    assert body["user"]["entity_id"] == "ana" and body["user"]["total"] >= 3
    assert body["user"]["by_category"]["profile"] == 1 and body["user"]["pending"] == 0
    assert body["company"]["entity_id"] == "acme" and body["company"]["by_category"] == {"company_tax": 1}
    assert body["user"]["last_update"] and body["conversations"] >= 1
    carla = clients["carla"].get("/brain/stats").json()
    assert carla["user"]["total"] == 0 and carla["company"]["total"] == 0 and carla["conversations"] == 0


# ------------------------------------------------------------------------------ conversations


def test_conversations_list_page_and_delete(
    clients: dict[str, httpx.Client], seeded: dict[str, Any], database_url: str
) -> None:
    ana = clients["ana"]
    thread = seeded["thread_id"]
    items = ana.get("/brain/conversations").json()["items"]
    assert [i["thread_id"] for i in items] == [thread]
    assert items[0]["title"] == "Remember that I like green tea" and items[0]["updated_at"]
    assert clients["bruno"].get("/brain/conversations").json()["items"] == []

    everything = ana.get(f"/brain/conversations/{thread}/messages", params={"limit": 500}).json()
    assert everything["next_cursor"] is None
    texts = [m["content"] for m in everything["items"]]
    assert texts[0] == "Remember that I like green tea" and "What is my name?" in texts
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = ana.get(f"/brain/conversations/{thread}/messages", params=params).json()
        assert len(page["items"]) <= 1
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [m["id"] for m in paged] == [m["id"] for m in everything["items"]]

    other = ana.post("/threads", json={}).json()["thread_id"]
    _ask(ana, other, "Hello there")
    listed = [i["thread_id"] for i in ana.get("/brain/conversations").json()["items"]]
    assert listed == [other, thread], "newest first"
    r = ana.delete(f"/brain/conversations/{other}")
    assert r.status_code == 200 and r.json()["deleted"]["checkpoints"] >= 1, r.text
    assert ana.get(f"/brain/conversations/{other}/messages").status_code == 404
    assert _db(database_url, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (other,)) == [(0,)]
    assert ana.get(f"/threads/{other}").status_code == 404, "the server's thread record is gone too"


# -------------------------------------------------------------------------------- operators


def test_operator_acts_on_anyone_and_is_recorded(
    clients: dict[str, httpx.Client], keys: dict[str, str], seeded: dict[str, Any], database_url: str
) -> None:
    admin = clients["admin"]
    r = admin.put(
        "/brain/memories/user/ops_note", params={"user_id": "Carla"}, json={"content": "Checked by support."}
    )
    assert r.status_code == 201 and r.json()["entity_id"] == "carla", r.text
    assert clients["carla"].get("/brain/memories/user/ops_note").json()["content"] == "Checked by support."
    history = clients["carla"].get("/brain/memories/user/ops_note/history").json()["items"]
    assert history[0]["actor"] == {"agent": "http-api", "user_id": f"admin:{keys['admin_id']}"}
    r = admin.get("/brain/memories/company/company_tax_regime", params={"company_id": "acme"})
    assert r.status_code == 200
    r = admin.get("/brain/memories/company")
    assert r.status_code == 400 and "company_id" in r.json()["detail"]
    r = admin.get("/brain/conversations", params={"user_id": "ana"})
    assert seeded["thread_id"] in {i["thread_id"] for i in r.json()["items"]}
    r = admin.delete("/brain/memories/user/ops_note", params={"user_id": "carla"})
    assert r.status_code == 200
    actors = _db(
        database_url,
        "SELECT action, actor->>'user_id' FROM brain_history WHERE slug = 'ops_note' ORDER BY id",
    )
    assert actors == [("create", f"admin:{keys['admin_id']}"), ("forget", f"admin:{keys['admin_id']}")]


def test_metrics_are_for_operators(clients: dict[str, httpx.Client], seeded: dict[str, Any]) -> None:
    clients["ana"].post("/brain/search/user", json={"query": "name", "mode": "keyword"})
    r = clients["admin"].get("/brain/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'brain_search_seconds_count{mode="keyword"}' in text
        and 'brain_save_seconds_count{mode="single"}' in text
    )
    assert "brain_pending_rows 0.0" in text and "brain_http_errors_total" in text
    assert "brain_reconcile_repairs_total" in text
    # Every save of the process's service is measured, not only the API's: the seeded agent turn
    # saved through its tool, so there is at least one more save than API single saves.
    counts = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if "_count{" in line
    }
    api_saves = counts['brain_save_seconds_count{mode="single"}']
    assert counts['brain_operation_seconds_count{mode="",operation="save"}'] >= api_saves + 1
    assert counts['brain_operation_seconds_count{mode="keyword",operation="search"}'] >= 1
    assert clients["ana"].get("/brain/metrics").status_code == 403
    assert clients["anon"].get("/brain/metrics").status_code == 401


def test_health_without_credentials_shows_status_only(clients: dict[str, httpx.Client]) -> None:
    r = clients["anon"].get("/brain/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(
        ("database", "pgvector", "mem0_index", "migrations", "pending_rows", "embedder"), "ok"
    )
    assert r.headers["cache-control"] == "no-store"
    details = clients["admin"].get("/brain/health").json()["checks"]
    assert details["pgvector"]["ok"] and details["pending_rows"]["detail"] == 0
    assert "current" in details["migrations"]["detail"] and "dimensions" in details["embedder"]["detail"]
    assert clients["ana"].get("/brain/health").json()["checks"]["database"] == "ok"  # public view
    # The bypass is exactly GET /brain/health: other methods and paths still need credentials.
    assert clients["anon"].post("/brain/health").status_code == 401
    assert clients["anon"].get("/brain/health/").status_code in (401, 404)
    bad = clients["anon"].get("/brain/health", headers={"Authorization": "Bearer lgb_0_nope"})
    assert bad.status_code == 401, "a bad credential is refused, not treated as a probe"


def test_openapi_and_unknown_routes(clients: dict[str, httpx.Client]) -> None:
    spec = clients["ana"].get("/brain/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/brain/search/{scope}" in spec["paths"]
    assert spec["components"]["schemas"]["PutMemory"]["additionalProperties"] is False
    r = clients["ana"].get("/brain/nope")
    assert r.status_code == 404 and "detail" in r.json()
    r = clients["ana"].patch("/brain/memories/user/name", json={"content": "x"})
    assert r.status_code == 405 and "PUT" in r.headers["allow"] and "detail" in r.json()


# -------------------------------------------------------------------------------- attacks


def test_attacks_are_refused_without_leaks_or_writes(
    clients: dict[str, httpx.Client], seeded: dict[str, Any], database_url: str
) -> None:
    ana_thread = seeded["thread_id"]
    before = _snapshot(database_url)
    for attacker in ("bruno", "carla"):
        eve = clients[attacker]
        a = f"{attacker}: "
        _attack(
            a + "read ana by ?user_id=",
            eve.get("/brain/memories/user/name", params={"user_id": "ana"}),
            (403,),
        )
        _attack(
            a + "list ana by ?user_id=", eve.get("/brain/memories/user", params={"user_id": "ana"}), (403,)
        )
        _attack(
            a + "write ana by ?user_id=",
            eve.put("/brain/memories/user/name", params={"user_id": "ANA "}, json={"content": "hacked"}),
            (403,),
        )
        _attack(
            a + "forget ana by ?user_id=",
            eve.delete("/brain/memories/user/name", params={"user_id": "ana"}),
            (403,),
        )
        _attack(
            a + "search ana by ?user_id=",
            eve.post("/brain/search/user", params={"user_id": "ana"}, json={"query": "name"}),
            (403,),
        )
        _attack(
            a + "history of ana",
            eve.get("/brain/memories/user/name/history", params={"user_id": "ana"}),
            (403,),
        )
        _attack(a + "export ana", eve.get("/brain/memories/user/export", params={"user_id": "ana"}), (403,))
        _attack(a + "context of ana", eve.get("/brain/context", params={"user_id": "ana"}), (403,))
        _attack(a + "stats of ana", eve.get("/brain/stats", params={"user_id": "ana"}), (403,))
        _attack(
            a + "repeated ?user_id=",
            eve.get("/brain/memories/user?user_id=ana&user_id=" + attacker),
            (400, 403),
        )
        _attack(
            a + "identity headers",
            eve.get("/brain/memories/user/secret_note", headers={"X-User-Id": "ana", "X-Company-Id": "acme"}),
            (404,),
        )
        _attack(
            a + "identity in put body",
            eve.put("/brain/memories/user/x", json={"content": "x", "user_id": "ana", "scope": "user"}),
            (422,),
        )
        _attack(
            a + "identity in search body",
            eve.post("/brain/search/user", json={"query": "vault code", "user_id": "ana"}),
            (422,),
        )
        _attack(
            a + "identity in bulk item",
            eve.post(
                "/brain/memories/user/bulk",
                json={"items": [{"slug": "x", "content": "x", "entity_id": "ana"}]},
            ),
            (422,),
        )
        _attack(a + "ana's slug as own", eve.get("/brain/memories/user/secret_note"), (404,))
        _attack(a + "ana's history as own", eve.get("/brain/memories/user/secret_note/history"), (404,))
        _attack(a + "forget ana's slug as own", eve.delete("/brain/memories/user/secret_note"), (404,))
        hits = eve.post(
            "/brain/search/user", json={"query": "Ana Rojas vault code ana-secret-7731", "k": 100}
        )
        _attack(a + "search for ana's content", hits, (200,))
        _attack(
            a + "search injection",
            eve.post("/brain/search/user", json={"query": "' OR 1=1 --", "k": 100}),
            (200,),
        )
        _attack(
            a + "keyword injection",
            eve.post("/brain/search/user", json={"query": "a | !b & (c", "mode": "keyword"}),
            (200,),
        )
        _attack(a + "ana's thread messages", eve.get(f"/brain/conversations/{ana_thread}/messages"), (404,))
        _attack(a + "delete ana's thread", eve.delete(f"/brain/conversations/{ana_thread}"), (404,))
        missing = eve.get("/brain/conversations/00000000-0000-0000-0000-000000000000/messages")
        foreign = eve.get(f"/brain/conversations/{ana_thread}/messages")
        _attack(a + "missing thread", missing, (404,))
        assert missing.json() == foreign.json(), "a foreign thread must look exactly like a missing one"
        _attack(
            a + "ana's thread via ?user_id=",
            eve.get(f"/brain/conversations/{ana_thread}/messages", params={"user_id": "ana"}),
            (403,),
        )
        _attack(a + "metrics", eve.get("/brain/metrics"), (403,))
    carla = clients["carla"]
    _attack(
        "carla: acme by ?company_id=",
        carla.get("/brain/memories/company", params={"company_id": "acme"}),
        (403,),
    )
    _attack("carla: acme's slug as own", carla.get("/brain/memories/company/company_tax_regime"), (404,))
    _attack(
        "carla: acme search",
        carla.post("/brain/search/company", json={"query": "Pro Pyme tax regime"}),
        (200,),
    )

    eve = clients["bruno"]
    bad_input: list[tuple[str, Any, tuple[int, ...]]] = [
        ("slug injection", lambda: eve.get("/brain/memories/user/name' OR '1'='1"), (422,)),
        ("slug with spaces", lambda: eve.put("/brain/memories/user/Bad Slug", json={"content": "x"}), (422,)),
        ("slug starting with '-'", lambda: eve.put("/brain/memories/user/-x", json={"content": "x"}), (422,)),
        (
            "slug too long",
            lambda: eve.put("/brain/memories/user/" + "a" * 129, json={"content": "x"}),
            (422,),
        ),
        ("slug '..'", lambda: eve.get("/brain/memories/user/%2e%2e"), (404, 422)),
        (
            "traversal ../company",
            lambda: eve.get("/brain/memories/user/..%2F..%2Fcompany%2Fcompany_tax_regime"),
            (404,),
        ),
        (
            "traversal to ana",
            lambda: eve.get("/brain/memories/user/%2e%2e/user/name?user_id=ana"),
            (403, 404),
        ),
        ("unknown scope", lambda: eve.get("/brain/memories/admin"), (404,)),
        ("scope 'users'", lambda: eve.put("/brain/memories/users/x", json={"content": "x"}), (404,)),
        (
            "category injection",
            lambda: eve.get("/brain/memories/user", params={"category": "fact' OR '1'='1"}),
            (422,),
        ),
        (
            "category in put",
            lambda: eve.put("/brain/memories/user/x", json={"content": "x", "category": "Fact;DROP"}),
            (422,),
        ),
        ("after injection", lambda: eve.get("/brain/memories/user", params={"after": "' OR 1=1"}), (422,)),
        ("limit 0", lambda: eve.get("/brain/memories/user", params={"limit": 0}), (422,)),
        ("limit 501", lambda: eve.get("/brain/memories/user", params={"limit": 501}), (422,)),
        ("limit text", lambda: eve.get("/brain/memories/user", params={"limit": "ten"}), (422,)),
        ("k 0", lambda: eve.post("/brain/search/user", json={"query": "x", "k": 0}), (422,)),
        ("k 101", lambda: eve.post("/brain/search/user", json={"query": "x", "k": 101}), (422,)),
        ("k as text", lambda: eve.post("/brain/search/user", json={"query": "x", "k": "5"}), (422,)),
        ("k as float", lambda: eve.post("/brain/search/user", json={"query": "x", "k": 2.5}), (422,)),
        ("mode unknown", lambda: eve.post("/brain/search/user", json={"query": "x", "mode": "sql"}), (422,)),
        ("empty query", lambda: eve.post("/brain/search/user", json={"query": "  "}), (422,)),
        ("query NUL", lambda: eve.post("/brain/search/user", json={"query": "a\u0000b"}), (422,)),
        ("empty content", lambda: eve.put("/brain/memories/user/x", json={"content": " "}), (422,)),
        ("content NUL", lambda: eve.put("/brain/memories/user/x", json={"content": "a\u0000b"}), (422,)),
        (
            "content lone surrogate",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=b'{"content": "a\\ud800"}',
                headers={"Content-Type": "application/json"},
            ),
            (422,),
        ),
        ("content too long", lambda: eve.put("/brain/memories/user/x", json={"content": "x" * 9000}), (422,)),
        ("content not text", lambda: eve.put("/brain/memories/user/x", json={"content": 5}), (422,)),
        (
            "metadata not object",
            lambda: eve.put("/brain/memories/user/x", json={"content": "x", "metadata": [1]}),
            (422,),
        ),
        (
            "metadata NaN",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=b'{"content": "x", "metadata": {"a": NaN}}',
                headers={"Content-Type": "application/json"},
            ),
            (422,),
        ),
        (
            "unknown field",
            lambda: eve.put("/brain/memories/user/x", json={"content": "x", "pinned": True}),
            (422,),
        ),
        (
            "unknown search field",
            lambda: eve.post("/brain/search/user", json={"query": "x", "limit": 5}),
            (422,),
        ),
        ("body is a list", lambda: eve.put("/brain/memories/user/x", json=["content"]), (422,)),
        (
            "malformed JSON",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=b'{"content": "x",',
                headers={"Content-Type": "application/json"},
            ),
            (400,),
        ),
        (
            "not UTF-8",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=b'{"content": "\xff"}',
                headers={"Content-Type": "application/json"},
            ),
            (400,),
        ),
        (
            "empty body",
            lambda: eve.put(
                "/brain/memories/user/x", content=b"", headers={"Content-Type": "application/json"}
            ),
            (400,),
        ),
        (
            "text/plain body",
            lambda: eve.put(
                "/brain/memories/user/x", content=b'{"content": "x"}', headers={"Content-Type": "text/plain"}
            ),
            (415,),
        ),
        ("form body", lambda: eve.post("/brain/search/user", data={"query": "x"}), (415,)),
        ("no content type", lambda: eve.put("/brain/memories/user/x", content=b'{"content": "x"}'), (415,)),
        (
            "import as JSON",
            lambda: eve.post("/brain/memories/user/import", json={"slug": "x", "content": "x"}),
            (415,),
        ),
        (
            "empty import",
            lambda: eve.post(
                "/brain/memories/user/import",
                content=b"\n\n",
                headers={"Content-Type": "application/x-ndjson"},
            ),
            (422,),
        ),
        (
            "oversized body",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=b'{"content": "' + b"x" * (1024 * 1024) + b'"}',
                headers={"Content-Type": "application/json"},
            ),
            (413,),
        ),
        (
            "oversized chunked body",
            lambda: eve.put(
                "/brain/memories/user/x",
                content=iter([b'{"content": "', b"x" * (1024 * 1024), b'"}']),
                headers={"Content-Type": "application/json"},
            ),
            (413,),
        ),
        (
            "oversized import",
            lambda: eve.post(
                "/brain/memories/user/import",
                content=(json.dumps({"slug": "x", "content": "y" * 100}) + "\n").encode() * 9000,
                headers={"Content-Type": "application/x-ndjson"},
            ),
            (413,),
        ),
        (
            "too many bulk items",
            lambda: eve.post(
                "/brain/memories/user/bulk", json={"items": [{"slug": "x", "content": "x"}] * 1001}
            ),
            (422,),
        ),
        (
            "bad cursor",
            lambda: eve.get(f"/brain/conversations/{ana_thread}/messages", params={"cursor": "t1; DROP"}),
            (404, 422),
        ),
        ("bad ?user_id=", lambda: eve.get("/brain/memories/user", params={"user_id": "\u0001"}), (403, 422)),
        ("unknown route", lambda: eve.get("/brain/memories/user/name/history/extra"), (404,)),
        ("wrong method", lambda: eve.post("/brain/memories/user/name", json={"content": "x"}), (405,)),
        ("unauthenticated read", lambda: clients["anon"].get("/brain/memories/user/name"), (401,)),
        (
            "unauthenticated open-mode style ?user_id=",
            lambda: clients["anon"].get("/brain/memories/user/name", params={"user_id": "ana"}),
            (401,),
        ),
        (
            "unauthenticated write",
            lambda: clients["anon"].put("/brain/memories/user/name", json={"content": "x"}),
            (401,),
        ),
        (
            "unknown key",
            lambda: clients["anon"].get(
                "/brain/memories/user/name",
                headers={"Authorization": "Bearer lgb_000000000000_nope"},
            ),
            (401,),
        ),
        (
            "x-api-key empty",
            lambda: clients["anon"].get("/brain/memories/user/name", headers={"X-Api-Key": ""}),
            (401,),
        ),
        ("health probe on other path", lambda: clients["anon"].get("/brain/context"), (401,)),
    ]
    for name, call, expected in bad_input:
        _attack(f"bad input: {name}", call(), expected)
    after = _snapshot(database_url)
    assert after == before, "a refused request wrote something"
    assert LEAKS == []


def _request(query: bytes, user: dict[str, Any] | None) -> Request:
    """A real Starlette request carrying the dict `authenticate` returns as its user (the server wraps
    that dict in a proxy with the same `.get`; the dev-server tests above cover that path)."""
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/brain/stats", "query_string": query}
    scope["headers"] = []
    if user is not None:
        scope["user"] = user
    return Request(scope)


def test_open_mode_and_identity_rules_of_the_caller() -> None:
    """Open mode must name ids (logged as unauthenticated); users cannot; the probe is nobody."""
    opened = {"identity": "anonymous", "kind": OPEN_USER_KIND, "permissions": []}
    caller = caller_of(_request(b"user_id=Ana&company_id=ACME", opened))
    assert caller.open_mode and caller.actor == {"agent": "http-api", "user_id": "unauthenticated"}
    assert caller.entity(_request(b"user_id=Ana", opened), "user") == "ana"
    ATTACKS.append("open mode without ?user_id=")
    with pytest.raises(ApiError) as refused:
        caller.entity(_request(b"", opened), "user")
    assert refused.value.status == 400
    ana = {
        "identity": "ana",
        "kind": AUTH_USER_KIND,
        "user_id": "ana",
        "company_id": "acme",
        "is_admin": False,
    }
    user = caller_of(_request(b"", ana))
    assert user.entity(_request(b"user_id=%20ANA", ana), "user") == "ana", "naming yourself is harmless"
    ATTACKS.append("user naming another company")
    with pytest.raises(ApiError) as refused:
        user.entity(_request(b"company_id=globex", ana), "company")
    assert refused.value.status == 403
    for name, who in (
        ("health probe as caller", {"identity": "", "kind": PROBE_USER_KIND, "is_authenticated": False}),
        ("ui shell as caller", {"identity": "", "kind": UI_SHELL_KIND, "is_authenticated": False}),
        ("studio user as caller", {"identity": "langgraph-studio-user", "kind": "StudioUser"}),
        ("no user at all", None),
    ):
        ATTACKS.append(name)
        with pytest.raises(ApiError) as refused:
            caller_of(_request(b"user_id=ana", who))
        assert refused.value.status in (401, 403), name


def test_attack_count() -> None:
    """Every attempt above ran and leaked nothing (a leak fails its own test first)."""
    print(f"\nHTTP API attack attempts: {len(ATTACKS)}, leaks: {len(LEAKS)}")
    assert len(ATTACKS) >= 100
    assert LEAKS == []

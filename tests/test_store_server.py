"""The brain as the LangGraph server's store: `/store` through a real `langgraph dev` with auth.

`langgraph.json` names `langgraph_brain.store.brain_store`, so the server's store endpoints (and
Studio's memory view, which calls them) read and write brain memories, and the
`@auth.on.store` handler confines every call to the caller's user and company. Driven with
langgraph-sdk's store client as two users of one company, one of another, and an admin.
Every cross-user attempt is counted in `ATTEMPTS`; each must be refused or return only the
caller's own data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from tests.devserver import USERS_AND_OPERATOR, DevServer, acreate_keys, dev_server, offline_env

pytestmark = pytest.mark.slow

ATTEMPTS: list[str] = []
LEAKS: list[str] = []


@pytest.fixture(scope="module")
async def keys(database_url: str) -> dict[str, str]:
    return await acreate_keys(database_url, USERS_AND_OPERATOR)


@pytest.fixture(scope="module")
def server(database_url: str, keys: dict[str, str]) -> Iterator[DevServer]:
    with dev_server(offline_env(DATABASE_URL=database_url, BRAIN_AUTH="required")) as srv:
        yield srv


def _client(server: DevServer, key: str) -> Any:
    return get_client(url=server.url, headers={"Authorization": f"Bearer {key}"})


async def _status(call: Awaitable[Any]) -> int:
    try:
        await call
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code
    return 200


def _rows(database_url: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return set(
            conn.execute(f"SELECT scope, entity_id, slug, content FROM brain_memories WHERE {where}", params)
        )


async def test_store_endpoints_read_and_write_the_brain(
    server: DevServer, keys: dict[str, str], database_url: str
) -> None:
    ana = _client(server, keys["ana"])
    await ana.store.put_item(("user", "ana"), "city", {"content": "Ana lives in Oran", "category": "profile"})
    await ana.store.put_item(("company", "acme", "company_policy"), "hours", {"content": "Open 8am to 6pm"})
    assert ("user", "ana", "city", "Ana lives in Oran") in _rows(database_url)
    with psycopg.connect(database_url) as conn:
        agents = {r[0] for r in conn.execute("SELECT actor->>'agent' FROM brain_history WHERE slug = 'city'")}
        synced = conn.execute("SELECT sync_state FROM brain_memories WHERE slug = 'city'").fetchone()
    assert agents == {"langgraph-store"} and synced == ("synced",)

    item = await ana.store.get_item(("user", "ana"), "city")
    assert item["value"] == {"content": "Ana lives in Oran", "category": "profile", "metadata": {}}
    assert item["namespace"] == ["user", "ana", "profile"]
    found = await ana.store.search_items(("user", "ana"), query="where does Ana live?")
    assert found["items"][0]["key"] == "city" and found["items"][0]["score"] is not None
    # Studio's memory view lists namespaces without a prefix: the handler narrows it to the caller.
    listed = await ana.store.list_namespaces()
    assert listed["namespaces"] == [["user", "ana", "profile"]]
    assert (await ana.store.list_namespaces(prefix=["company", "acme"]))["namespaces"] == [
        ["company", "acme", "company_policy"]
    ]
    # Company memory is shared within the company.
    bruno = _client(server, keys["bruno"])
    shared = await bruno.store.get_item(("company", "acme"), "hours")
    assert shared["value"]["content"] == "Open 8am to 6pm"

    await ana.store.delete_item(("user", "ana"), "city")
    assert await ana.store.get_item(("user", "ana"), "city") is None
    assert not _rows(database_url, "slug = 'city'")


async def test_bad_store_input_gets_a_4xx_and_stores_nothing(
    server: DevServer, keys: dict[str, str], database_url: str
) -> None:
    ana = _client(server, keys["ana"])
    before = _rows(database_url)
    bad = {
        "unknown value keys": ana.store.put_item(("user", "ana"), "k1", {"text": "no content key"}),
        "empty content": ana.store.put_item(("user", "ana"), "k2", {"content": "  "}),
        "bad slug": ana.store.put_item(("user", "ana"), "Bad Slug!", {"content": "x"}),
        "bad category label": ana.store.put_item(("user", "ana", "Bad-Cat"), "k3", {"content": "x"}),
        "too deep": ana.store.put_item(("user", "ana", "fact", "more"), "k4", {"content": "x"}),
        "ttl": ana.store.put_item(("user", "ana"), "k5", {"content": "x"}, ttl=5),
        "unknown filter operator": ana.store.search_items(("user", "ana"), filter={"x": {"$regex": "a"}}),
        "oversized content": ana.store.put_item(("user", "ana"), "k6", {"content": "x" * 100_000}),
    }
    for name, call in bad.items():
        status = await _status(call)
        assert 400 <= status < 500, f"{name}: {status}"
    assert _rows(database_url) == before


@pytest.mark.parametrize("attacker", ["bruno", "carla"])
async def test_cross_user_store_attempts_all_fail(
    server: DevServer, keys: dict[str, str], attacker: str, database_url: str
) -> None:
    ana = _client(server, keys["ana"])
    await ana.store.put_item(("user", "ana", "profile"), "secret", {"content": "Ana's PIN is 4321"})
    before = _rows(database_url, "entity_id = 'ana'")
    eve = _client(server, keys[attacker])

    async def expect_denied(name: str, call: Awaitable[Any]) -> None:
        ATTEMPTS.append(f"{attacker}: {name}")
        status = await _status(call)
        if status == 200:
            LEAKS.append(f"{attacker}: {name}")
        assert status in (403, 404, 422), f"{attacker} {name}: got {status}"

    targets = [("user", "ana"), ("user", "ana", "profile"), ("user", "ANA"), ("user", " ana")]
    for ns in targets:
        await expect_denied(f"get {ns}", eve.store.get_item(ns, "secret"))
        await expect_denied(f"search {ns}", eve.store.search_items(ns, query="PIN"))
        await expect_denied(f"list {ns}", eve.store.search_items(ns))
        await expect_denied(f"put {ns}", eve.store.put_item(ns, "secret", {"content": "overwritten"}))
        await expect_denied(f"delete {ns}", eve.store.delete_item(ns, "secret"))
        await expect_denied(f"list_namespaces {ns}", eve.store.list_namespaces(prefix=list(ns)))
    await expect_denied("search every user", eve.store.search_items(("user",)))
    await expect_denied("list_namespaces of every user", eve.store.list_namespaces(prefix=["user"]))
    await expect_denied("wildcard namespace", eve.store.search_items(("*", "ana")))
    # The SDK refuses labels with periods client-side; an attacker sends the request by hand.
    raw = httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {keys[attacker]}"})
    async with raw:
        for name, request in {
            "put label with a period": raw.put(
                "/store/items",
                json={"namespace": ["user", f"{attacker}.ana"], "key": "k", "value": {"content": "x"}},
            ),
            "get dotted namespace": raw.get(
                "/store/items", params={"namespace": "user.ana", "key": "secret"}
            ),
            "get dotted own.ana": raw.get(
                "/store/items", params={"namespace": f"user.{attacker}.ana", "key": "secret"}
            ),
            "search with namespace injection": raw.post(
                "/store/items/search", json={"namespace_prefix": ["user", "ana' OR '1'='1"], "query": "PIN"}
            ),
        }.items():
            ATTEMPTS.append(f"{attacker}: {name}")
            response = await request
            if response.status_code == 200 and "4321" in response.text:
                LEAKS.append(f"{attacker}: {name}")
            assert response.status_code in (403, 404, 422) or "4321" not in response.text, (
                name,
                response.text,
            )
    if attacker == "carla":
        await expect_denied("another company", eve.store.get_item(("company", "acme"), "hours"))
        await expect_denied("another company search", eve.store.search_items(("company", "acme"), query="x"))

    # Reads that answer 200 hold only the caller's own data.
    ATTEMPTS.append(f"{attacker}: list_namespaces without prefix")
    listed = (await eve.store.list_namespaces())["namespaces"]
    if any(ns[1] != attacker for ns in listed):
        LEAKS.append(f"{attacker}: list_namespaces {listed}")
    ATTEMPTS.append(f"{attacker}: own search for ana's words")
    own = (await eve.store.search_items(("user", attacker), query="Ana's PIN"))["items"]
    if any("4321" in str(item["value"]) for item in own):
        LEAKS.append(f"{attacker}: own search")
    assert _rows(database_url, "entity_id = 'ana'") == before


async def test_admin_sees_every_namespace(server: DevServer, keys: dict[str, str]) -> None:
    admin = _client(server, keys["admin"])
    listed = {tuple(ns) for ns in (await admin.store.list_namespaces(max_depth=2, limit=1000))["namespaces"]}
    assert {("user", "ana"), ("company", "acme")} <= listed


def test_attack_count_is_reported() -> None:
    print(f"\nstore attacks: {len(ATTEMPTS)} attempts, {len(LEAKS)} leaks")
    assert len(ATTEMPTS) >= 50
    assert LEAKS == []

"""The search API's ranking knobs (`importance_weight`, `recency_weight`, `recency_half_life_days`)
on a real `langgraph dev` with auth, driven with httpx (real Postgres, Mem0, e5).

A knob changes only this search's order; unusable values are a 422 with a readable detail and
nothing written; the knobs never widen what a caller can see. Every hostile attempt is counted
in `ATTACKS`, and the text only ana holds must never reach another caller (`LEAKS`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from tests.devserver import USERS_AND_OPERATOR, acreate_keys, dev_server, offline_env

pytestmark = pytest.mark.slow

HTTP = {"app": "langgraph_brain.server.api:app", "enable_custom_route_auth": True}
ATTACKS: list[str] = []
LEAKS: list[str] = []
SECRET = "ana-private-4410"
Q = "Which city does ana live in? Where does she live?"


@pytest.fixture(scope="module")
async def keys(database_url: str) -> dict[str, str]:
    return await acreate_keys(database_url, USERS_AND_OPERATOR)


@pytest.fixture(scope="module")
def clients(database_url: str, keys: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    """ana and carla on a dev server with required auth (no other credentials in its environment)."""
    dropped = ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "BRAIN_JWT_SECRET")
    env = {
        k: v
        for k, v in offline_env(DATABASE_URL=database_url, BRAIN_AUTH="required").items()
        if k not in dropped
    }
    with dev_server(env, config={"http": HTTP}) as srv, contextlib.ExitStack() as stack:
        yield {
            who: stack.enter_context(
                httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {keys[who]}"},
                             trust_env=False, timeout=60)
            )
            for who in ("ana", "carla")
        }  # fmt: skip


def _db(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(sql, params))


@pytest.fixture(scope="module")
def seeded(clients: dict[str, httpx.Client], database_url: str) -> None:
    """ana: an old, wordier city memory, a new one, and a secret; the old one aged 700 days."""
    ana = clients["ana"]
    for slug, content in (
        ("city-old", "ana lives in the city of Madrid, she lives downtown."),
        ("city-new", "ana lives in Lisbon."),
        ("secret", f"The locker code is {SECRET}."),
    ):
        r = ana.put(f"/brain/memories/user/{slug}", json={"content": content})
        assert r.status_code == 201, r.text
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE brain_memories SET updated_at = %s WHERE entity_id = 'ana' AND slug = 'city-old'",
            (datetime.now(UTC) - timedelta(days=700),),
        )
        conn.execute(
            "UPDATE brain_memories SET updated_at = %s WHERE entity_id = 'ana' AND slug = 'secret'",
            (datetime.now(UTC) - timedelta(days=300),),
        )


def _search(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/brain/search/user", json={"query": Q, "mode": "vector", **body})


def _attack(name: str, response: httpx.Response, expected: tuple[int, ...], words: str = "") -> None:
    ATTACKS.append(name)
    if SECRET in response.text:
        LEAKS.append(name)
    assert response.status_code in expected, f"{name}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and words in detail, f"{name}: {detail!r}"


def test_knobs_change_this_search_only(clients: dict[str, httpx.Client], seeded: None) -> None:
    ana = clients["ana"]
    slugs = [h["slug"] for h in _search(ana).json()["hits"]]
    assert slugs[0] == "city-old", slugs
    r = _search(ana, recency_weight=0.6, recency_half_life_days=30)
    assert r.status_code == 200, r.text
    assert r.json()["hits"][0]["slug"] == "city-new"
    assert [h["slug"] for h in _search(ana).json()["hits"]] == slugs  # the server's defaults are untouched
    # each knob alone is accepted and merged with the server's others
    assert _search(ana, importance_weight=0.2).status_code == 200
    assert _search(ana, recency_half_life_days=7).json()["hits"][0]["slug"] == "city-old"  # weight still 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"importance_weight": -0.5}, "importance_weight must be a number between 0 and 1"),
        ({"importance_weight": 2}, "importance_weight must be a number between 0 and 1"),
        ({"recency_weight": 1.01}, "recency_weight must be a number between 0 and 1"),
        ({"importance_weight": 0.7, "recency_weight": 0.7}, "at most 1"),
        ({"recency_half_life_days": 0}, "recency_half_life_days must be a positive number"),
        ({"recency_half_life_days": -30}, "recency_half_life_days must be a positive number"),
        ({"recency_weight": "0.5"}, "recency_weight"),
        ({"recency_weight": True}, "recency_weight"),
        ({"recency_weight": [0.5]}, "recency_weight"),
        ({"recency_weight": {"$gt": 0}}, "recency_weight"),
        ({"recency_weight": "0.5; DROP TABLE brain_memories"}, "recency_weight"),
        ({"importance": 0.5}, "unknown field"),
        ({"half_life": 30}, "unknown field"),
    ],
)
def test_unusable_knobs_are_a_422_with_words_and_write_nothing(
    clients: dict[str, httpx.Client], seeded: None, database_url: str, body: dict[str, Any], words: str
) -> None:
    before = _db(database_url, "SELECT slug, version, updated_at FROM brain_memories ORDER BY slug")
    _attack(f"bad knob {body}", _search(clients["ana"], **body), (422,), words)
    assert _db(database_url, "SELECT slug, version, updated_at FROM brain_memories ORDER BY slug") == before


def test_nan_and_infinity_literals_are_refused(clients: dict[str, httpx.Client], seeded: None) -> None:
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):  # 1e400 parses as infinity
        for knob in ("importance_weight", "recency_weight", "recency_half_life_days"):
            raw = f'{{"query": "city", "{knob}": {literal}}}'
            r = clients["ana"].post(
                "/brain/search/user", content=raw, headers={"Content-Type": "application/json"}
            )
            _attack(f"{knob}={literal}", r, (400, 422))


def test_knobs_never_widen_what_a_caller_sees(clients: dict[str, httpx.Client], seeded: None) -> None:
    carla = clients["carla"]
    for body in (
        {"importance_weight": 1.0},
        {"recency_weight": 1.0, "recency_half_life_days": 1e-9},
        {"importance_weight": 0.5, "recency_weight": 0.5, "k": 100},
        {"recency_weight": 1.0, "entity_id": "ana"},
        {"recency_weight": 1.0, "user_id": "ana"},
    ):
        r = carla.post("/brain/search/user", json={"query": f"locker code {SECRET} city", **body})
        _attack(f"carla with {body}", r, (200, 422))
        if r.status_code == 200:
            assert r.json()["hits"] == []
    r = carla.post("/brain/search/user?user_id=ana", json={"query": "locker code", "recency_weight": 1.0})
    _attack("carla names ana in the query string", r, (200, 400, 403, 422))
    if r.status_code == 200:
        assert r.json()["hits"] == []


def test_attack_count() -> None:
    """Every attempt above ran and leaked nothing."""
    print(f"\nsearch ranking knobs: attack attempts {len(ATTACKS)}, leaks {len(LEAKS)}")
    assert len(ATTACKS) >= 30
    assert LEAKS == []

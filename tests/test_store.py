"""BrainStore: LangGraph's BaseStore over the brain, on real Postgres, Mem0 and e5.

The behaviours follow LangGraph's own store tests (`libs/checkpoint/tests/test_store.py` and
`libs/checkpoint-postgres/tests/test_async_store.py`): batch order and alignment, get/put/delete,
search with and without a query, filters with operators, pagination, namespace listing with
prefix/suffix/wildcards/max_depth. Namespaces are the brain's: ('user' | 'company', id[, category]).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)

from langgraph_brain.brain import MemoryService, MemoryValidationError
from langgraph_brain.store import CONTENT_FORMAT_KEY, STORE_ACTOR, BrainStore


@pytest.fixture(scope="module")
def store(service: MemoryService) -> BrainStore:
    return BrainStore(service)


def _user() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


async def _brain_row(service: MemoryService, scope: str, entity: str, slug: str) -> dict | None:
    async with service.admin_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT content, category, metadata, sync_state, memory_id FROM brain_memories"
            " WHERE scope = %s AND entity_id = %s AND slug = %s",
            (scope, entity, slug),
        )
        return await cur.fetchone()


async def test_put_get_delete_is_the_brain_save_protocol(store: BrainStore, service: MemoryService) -> None:
    user = _user()
    await store.aput(("user", user), "favourite_food", {"content": "Ana loves ramen"})
    row = await _brain_row(service, "user", user, "favourite_food")
    assert row is not None and row["sync_state"] == "synced" and row["memory_id"]
    assert row["category"] == "fact"

    item = await store.aget(("user", user), "favourite_food")
    assert isinstance(item, Item)
    assert item.value == {"content": "Ana loves ramen", "category": "fact", "metadata": {}}
    assert item.namespace == ("user", user, "fact") and item.key == "favourite_food"

    # A second put of the same key updates that memory: one row, one Mem0 id, history records both.
    await store.aput(("user", user), "favourite_food", {"content": "Ana now prefers udon"})
    again = await _brain_row(service, "user", user, "favourite_food")
    assert again is not None and again["memory_id"] == row["memory_id"]
    assert again["content"] == "Ana now prefers udon"
    history = await service.ahistory("user", user, "favourite_food")
    assert [h.new_content for h in history][:2] == ["Ana now prefers udon", "Ana loves ramen"]
    assert all(h.actor.get("agent") == STORE_ACTOR["agent"] for h in history)

    await store.adelete(("user", user), "favourite_food")
    assert await store.aget(("user", user), "favourite_food") is None
    assert await _brain_row(service, "user", user, "favourite_food") is None
    await store.adelete(("user", user), "favourite_food")  # deleting a missing item: no-op
    await store.aput(("user", user), "x", {"content": "gone soon"})
    await store.aput(("user", user), "x", None)  # put of None is a delete
    assert await store.aget(("user", user), "x") is None


async def test_category_namespace_is_a_view_of_the_entity(store: BrainStore) -> None:
    user = _user()
    await store.aput(("user", user, "preference"), "tea", {"content": "Likes green tea"})
    assert (await store.aget(("user", user), "tea")).namespace == ("user", user, "preference")  # type: ignore[union-attr]
    assert await store.aget(("user", user, "preference"), "tea") is not None
    assert await store.aget(("user", user, "goal"), "tea") is None
    # A delete through another category's view leaves the memory alone.
    await store.adelete(("user", user, "goal"), "tea")
    assert await store.aget(("user", user), "tea") is not None
    # The slug is unique per entity: putting it under another category moves it.
    await store.aput(("user", user, "goal"), "tea", {"content": "Drink less tea"})
    moved = await store.aget(("user", user), "tea")
    assert moved is not None and moved.namespace == ("user", user, "goal")
    with pytest.raises(MemoryValidationError, match="contradicts"):
        await store.aput(("user", user, "goal"), "tea", {"content": "x", "category": "profile"})


async def test_abatch_order_and_alignment(store: BrainStore) -> None:
    user = _user()
    await store.aput(("user", user, "profile"), "key1", {"content": "value one about bread"})
    await store.aput(("user", user, "goal"), "key2", {"content": "value two about trains"})
    ops = [
        GetOp(namespace=("user", user), key="key1"),
        PutOp(namespace=("user", user, "goal"), key="key2", value={"content": "value two about trains"}),
        SearchOp(namespace_prefix=("user", user), filter={"category": "profile"}, limit=10, offset=0),
        ListNamespacesOp(
            match_conditions=(MatchCondition("prefix", ("user", user)),), max_depth=None, limit=10, offset=0
        ),
        GetOp(namespace=("user", user), key="key3"),
    ]
    results = await store.abatch(ops)
    assert len(results) == 5
    assert isinstance(results[0], Item) and results[0].value["content"] == "value one about bread"
    assert results[1] is None
    assert isinstance(results[2], list) and [i.key for i in results[2]] == ["key1"]
    assert results[3] == [("user", user, "goal"), ("user", user, "profile")]
    assert results[4] is None

    # Later ops see earlier ones of the same batch.
    results = await store.abatch(
        [PutOp(("user", user), "key3", {"content": "three"}), GetOp(("user", user), "key3")]
    )
    assert results[0] is None and isinstance(results[1], Item) and results[1].value["content"] == "three"


async def test_a_bad_op_fails_the_whole_batch_before_anything_is_written(
    store: BrainStore, service: MemoryService
) -> None:
    user = _user()
    bad_batches = [
        [
            PutOp(("user", user), "ok1", {"content": "fine"}),
            PutOp(("user", user), "Bad Slug!", {"content": "x"}),
        ],
        [PutOp(("user", user), "ok1", {"content": "fine"}), PutOp(("user", user), "k", {"content": ""})],
        [
            PutOp(("user", user), "ok1", {"content": "fine"}),
            PutOp(("user", user), "k", {"text": "no content"}),
        ],
        [PutOp(("user", user), "ok1", {"content": "fine"}), PutOp(("team", user), "k", {"content": "x"})],
        [PutOp(("user", user), "ok1", {"content": "fine"}), SearchOp(("user", user), {"n": {"$regex": 1}})],
        [
            PutOp(("user", user), "ok1", {"content": "fine"}),
            PutOp(("user", user, "Bad Cat"), "k", {"content": "x"}),
        ],
    ]
    for ops in bad_batches:
        with pytest.raises((MemoryValidationError, InvalidNamespaceError)):
            await store.abatch(ops)
    assert await _brain_row(service, "user", user, "ok1") is None


async def test_invalid_namespaces_say_what_to_use(store: BrainStore) -> None:
    cases = [
        (("memories", "ana"), "start with 'user' or 'company'"),
        (("user", "ana", "fact", "deeper"), "at most 3 labels"),
        (("user", "a.b"), "may not contain"),
        (("user", ""), "non-empty"),
        (("user",), "naming one entity"),
    ]
    for namespace, message in cases:
        with pytest.raises(InvalidNamespaceError, match=message):
            await store.abatch([GetOp(namespace, "key")])
    with pytest.raises(InvalidNamespaceError, match="naming one entity"):
        await store.asearch(("user",), query="anything")
    with pytest.raises(NotImplementedError, match="does not expire"):
        await store.aput(("user", "ana"), "k", {"content": "x"}, ttl=5)


async def test_search_with_query_ranks_with_the_brain(store: BrainStore) -> None:
    user = _user()
    docs = {
        "red_apple": ("red apple from the orchard", "fact", 4.5),
        "red_car": ("a red sports car", "fact", 3.0),
        "green_apple": ("green apple pie recipe", "preference", 4.0),
        "blue_car": ("blue family car", "fact", 3.5),
    }
    await store.abatch(
        [
            PutOp(("user", user), key, {"content": text, "category": cat, "metadata": {"score": score}})
            for key, (text, cat, score) in docs.items()
        ]
    )
    results = await store.asearch(("user", user), query="apple")
    assert {r.key for r in results[:2]} == {"red_apple", "green_apple"}
    assert all(isinstance(r, SearchItem) and r.score is not None for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)

    cars = await store.asearch(("user", user), query="car", filter={"metadata.score": {"$gt": 3.2}})
    assert {r.key for r in cars} <= {"red_apple", "green_apple", "blue_car"} and cars
    assert "red_car" not in {r.key for r in cars}
    assert cars[0].key == "blue_car"
    exact = await store.asearch(("user", user), query="car", filter={"metadata": {"score": 3.0}})
    assert [r.key for r in exact] == ["red_car"]
    prefs = await store.asearch(("user", user, "preference"), query="apple")
    assert [r.key for r in prefs] == ["green_apple"]
    both = await store.asearch(
        ("user", user), query="apple", filter={"metadata.score": {"$gte": 4.0}, "category": "preference"}
    )
    assert [r.key for r in both] == ["green_apple"]

    page1 = await store.asearch(("user", user), query="fruit and cars", limit=2)
    page2 = await store.asearch(("user", user), query="fruit and cars", limit=2, offset=2)
    assert len(page1) == len(page2) == 2 and not {r.key for r in page1} & {r.key for r in page2}
    # Another user's memories never come back, whatever the query.
    other = _user()
    await store.aput(("user", other), "red_apple", {"content": "red apple from the orchard"})
    assert {r.namespace[1] for r in await store.asearch(("user", user), query="red apple")} == {user}


async def test_search_without_query_lists_newest_first(store: BrainStore) -> None:
    user = _user()
    for i in range(5):
        await store.aput(("user", user), f"doc{i}", {"content": f"document number {i}", "metadata": {"n": i}})
    listed = await store.asearch(("user", user))
    assert [r.key for r in listed] == ["doc4", "doc3", "doc2", "doc1", "doc0"]
    assert all(r.score is None for r in listed)
    assert [r.key for r in await store.asearch(("user", user), query="  ")] == [r.key for r in listed]
    assert [r.key for r in await store.asearch(("user", user), limit=2, offset=1)] == ["doc3", "doc2"]
    odd = await store.asearch(("user", user), filter={"metadata.n": {"$in": [1, 3]}})
    assert [r.key for r in odd] == ["doc3", "doc1"]
    assert [r.key for r in await store.asearch(("user", user), filter={"metadata.n": 2})] == ["doc2"]
    assert await store.asearch(("user", user), filter={"metadata.missing": 2}) == []
    assert await store.asearch(("user", user), filter={"metadata.n": {"$ne": 2}, "category": "fact"}, limit=1)
    assert await store.asearch(("user", user, "goal")) == []


async def test_list_namespaces_prefix_suffix_depth(store: BrainStore) -> None:
    user = _user()
    await store.aput(("user", user, "profile"), "a", {"content": "name Ana"})
    await store.aput(("user", user, "goal"), "b", {"content": "open a shop"})
    assert await store.alist_namespaces(prefix=("user", user)) == [
        ("user", user, "goal"),
        ("user", user, "profile"),
    ]
    assert await store.alist_namespaces(prefix=("user", user), max_depth=2) == [("user", user)]
    assert await store.alist_namespaces(prefix=("user", user), suffix=("goal",)) == [("user", user, "goal")]
    assert await store.alist_namespaces(prefix=("user", user), limit=1, offset=1) == [
        ("user", user, "profile")
    ]
    everyone = await store.alist_namespaces(prefix=("user",), suffix=("*",), limit=10_000)
    assert ("user", user, "goal") in everyone and all(ns[0] == "user" for ns in everyone)
    assert ("user", user, "goal") in await store.alist_namespaces(prefix=("*", user), limit=10_000)
    with pytest.raises(InvalidNamespaceError):
        await store.alist_namespaces(prefix=("team",))


async def test_langmem_values_round_trip(store: BrainStore, service: MemoryService) -> None:
    """langmem stores {"content": ...} under uuid keys, with structured content as a dict."""
    user = _user()
    key = str(uuid.uuid4())
    structured = {"name": "Ana", "likes": ["ramen", "jazz"]}
    await store.aput(("user", user), key, {"content": structured})
    item = await store.aget(("user", user), key)
    assert item is not None and item.value["content"] == structured
    assert CONTENT_FORMAT_KEY not in item.value["metadata"]
    row = await _brain_row(service, "user", user, key)
    assert row is not None and json.loads(row["content"]) == structured
    hits = await store.asearch(("user", user), query="who likes jazz?")
    assert hits and hits[0].key == key and hits[0].value["content"] == structured


async def test_sync_twins_from_a_worker_thread(store: BrainStore) -> None:
    user = _user()

    def work() -> list[str]:
        store.put(("user", user), "sync_key", {"content": "written from a thread"})
        found = store.search(("user", user), query="written from a thread")
        store.delete(("user", user), "sync_key")
        return [i.key for i in found]

    assert await asyncio.to_thread(work) == ["sync_key"]
    assert await store.aget(("user", user), "sync_key") is None
    with pytest.raises(RuntimeError, match="await the a-method"):
        store.get(("user", user), "sync_key")


async def test_langmem_tools_work_unchanged_on_the_brain(store: BrainStore, service: MemoryService) -> None:
    from langmem import create_manage_memory_tool, create_search_memory_tool

    user = _user()
    namespace = ("user", "{user_id}")
    manage = create_manage_memory_tool(namespace, store=store)
    search = create_search_memory_tool(namespace, store=store)
    config = {"configurable": {"user_id": user}}

    created = await manage.ainvoke({"content": "Ana's bakery opens at 6am"}, config=config)
    memory_id = created.split()[-1]
    row = await _brain_row(service, "user", user, memory_id)
    assert row is not None and row["sync_state"] == "synced"

    found = json.loads(await search.ainvoke({"query": "when does the bakery open?"}, config=config))
    assert found[0]["key"] == memory_id and found[0]["value"]["content"] == "Ana's bakery opens at 6am"
    assert found[0]["namespace"] == ["user", user, "fact"] and found[0]["score"] is not None

    await manage.ainvoke(
        {"content": "Ana's bakery opens at 7am", "action": "update", "id": memory_id}, config=config
    )
    history = await service.ahistory("user", user, memory_id)
    assert [h.new_content for h in history][:2] == ["Ana's bakery opens at 7am", "Ana's bakery opens at 6am"]
    await manage.ainvoke({"action": "delete", "id": memory_id}, config=config)
    assert await _brain_row(service, "user", user, memory_id) is None
    # Another user's configurable reads only that user's (empty) namespace.
    other = json.loads(
        await search.ainvoke({"query": "bakery"}, config={"configurable": {"user_id": _user()}})
    )
    assert other == []


async def test_runtime_store_in_a_graph_node(store: BrainStore) -> None:
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime
    from typing_extensions import TypedDict

    class State(TypedDict):
        user: str
        answer: str

    async def remember_and_recall(state: State, runtime: Runtime) -> dict[str, str]:
        assert runtime.store is not None
        await runtime.store.aput(
            ("user", state["user"]), "city", {"content": "Lives in Oran", "category": "profile"}
        )
        hits = await runtime.store.asearch(("user", state["user"]), query="where does the user live?")
        return {"answer": hits[0].value["content"]}

    graph = StateGraph(State).add_node("node", remember_and_recall)
    graph.add_edge(START, "node").add_edge("node", END)
    result = await graph.compile(store=store).ainvoke({"user": _user(), "answer": ""})
    assert result["answer"] == "Lives in Oran"

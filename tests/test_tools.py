"""Memory tools on real Postgres + Mem0: schemas, identity from the runtime only, error handling."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_brain.brain import BrainConfigurationError, MemoryService, open_memory_service
from langgraph_brain.db import Database
from langgraph_brain.tools import READ_ONLY_COMPANY, BrainContext, create_memory_tools

IDENTITY_WORDS = ("user", "company", "entity", "tenant", "owner")


def _graph(tools: list[Any]) -> Any:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "tools")
    return g.compile()


async def _call(
    service: MemoryService,
    name: str,
    args: dict[str, Any],
    *,
    context: dict[str, str] | None = None,
    configurable: dict[str, str] | None = None,
) -> ToolMessage:
    graph = _graph(create_memory_tools(service))
    call_id = uuid.uuid4().hex
    out = await graph.ainvoke(
        {"messages": [AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])]},
        context=context,
        config={"configurable": configurable or {}},
    )
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == call_id
    return msg


def test_no_identity_field_in_any_model_visible_schema(service: MemoryService) -> None:
    tools = create_memory_tools(service)
    assert [t.name for t in tools] == [
        "search_user_memory",
        "save_user_memory",
        "search_company_memory",
        "save_company_memory",
        "forget_memory",
    ]
    for tool in tools:
        visible = tool.tool_call_schema.model_json_schema()
        openai_params = convert_to_openai_tool(tool)["function"]["parameters"]
        for schema in (visible, openai_params):
            props = set(schema.get("properties", {}))
            assert not {p for p in props if any(w in p.lower() for w in IDENTITY_WORDS)}, (tool.name, props)
            assert "runtime" not in props
    assert set(tools[0].tool_call_schema.model_json_schema()["properties"]) == {
        "query",
        "k",
        "category",
        "as_of",
    }
    assert set(tools[1].tool_call_schema.model_json_schema()["properties"]) == {
        "slug",
        "content",
        "category",
        "importance",
    }
    assert set(tools[4].tool_call_schema.model_json_schema()["properties"]) == {"scope", "slug"}


async def test_save_then_search_uses_context_identity(service: MemoryService) -> None:
    ctx = {"user_id": "ana", "company_id": "acme"}
    saved = await _call(
        service,
        "save_user_memory",
        {"slug": "favourite_colour", "content": "Ana's favourite colour is green.", "category": "preference"},
        context=ctx,
    )
    assert saved.status != "error", saved.content
    assert "Saved user memory 'favourite_colour'" in saved.content
    record = await service.aget("user", "ana", "favourite_colour")
    assert record is not None and record.category == "preference"
    history = await service.ahistory("user", "ana", "favourite_colour")
    assert history[0].actor.get("user_id") == "ana"

    found = await _call(service, "search_user_memory", {"query": "favourite colour"}, context=ctx)
    assert "[favourite_colour]" in found.content
    assert found.artifact[0]["slug"] == "favourite_colour"


async def test_model_resave_without_category_keeps_category_and_metadata(service: MemoryService) -> None:
    ctx = {"user_id": "bea", "company_id": "acme"}
    await service.asave(
        "user", "bea", "name", "Bea's name is Beatriz.", category="profile", metadata={"pinned": True}
    )
    again = await _call(
        service, "save_user_memory", {"slug": "name", "content": "Bea's name is Beatriz."}, context=ctx
    )
    assert again.artifact["status"] == "unchanged", again.content
    changed = await _call(
        service, "save_user_memory", {"slug": "name", "content": "Bea goes by Bea."}, context=ctx
    )
    assert changed.artifact["status"] == "updated", changed.content
    record = await service.aget("user", "bea", "name")
    assert record is not None and (record.category, record.metadata) == ("profile", {"pinned": True})


async def test_forged_identity_in_arguments_changes_nothing(service: MemoryService) -> None:
    await service.asave("user", "victim", "secret_plan", "The victim's secret plan is to sail to Chiloé.")
    mallory = {"user_id": "mallory", "company_id": "evilcorp"}
    # The model forges identity fields and even tries to supply the injected runtime itself.
    forged = {"query": "secret plan", "user_id": "victim", "company_id": "acme", "runtime": {"context": {}}}
    msg = await _call(service, "search_user_memory", forged, context=mallory)
    assert "Chiloé" not in msg.content
    assert msg.artifact == []

    write = {"slug": "secret_plan", "content": "overwritten by mallory", "user_id": "victim"}
    msg = await _call(service, "save_user_memory", write, context=mallory)
    assert msg.status != "error"
    victim = await service.aget("user", "victim", "secret_plan")
    assert victim is not None and "Chiloé" in victim.content
    assert (await service.aget("user", "mallory", "secret_plan")) is not None

    msg = await _call(
        service,
        "forget_memory",
        {"scope": "user", "slug": "secret_plan", "user_id": "victim"},
        context=mallory,
    )
    assert msg.status != "error"
    assert (await service.aget("user", "victim", "secret_plan")) is not None
    assert (await service.aget("user", "mallory", "secret_plan")) is None


async def test_company_memory_is_shared_and_user_memory_is_not(service: MemoryService) -> None:
    ana = {"user_id": "ana2", "company_id": "globex"}
    bruno = {"user_id": "bruno2", "company_id": "globex"}
    await _call(
        service,
        "save_company_memory",
        {"slug": "company_tax_regime", "content": "Globex is under the Pro Pyme tax regime."},
        context=ana,
    )
    await _call(
        service, "save_user_memory", {"slug": "pet", "content": "Ana has a cat named Miso."}, context=ana
    )
    shared = await _call(service, "search_company_memory", {"query": "tax regime"}, context=bruno)
    assert "Pro Pyme" in shared.content
    private = await _call(service, "search_user_memory", {"query": "cat"}, context=bruno)
    assert "Miso" not in private.content and private.artifact == []
    own = await _call(service, "search_user_memory", {"query": "cat"}, context=ana)
    assert "Miso" in own.content


async def test_configurable_identity_for_langgraph_dev(service: MemoryService) -> None:
    conf = {"user_id": "Carla ", "company_id": "acme", "thread_id": "studio-thread"}
    msg = await _call(
        service,
        "save_user_memory",
        {"slug": "city", "content": "Carla lives in Valdivia."},
        configurable=conf,
    )
    assert msg.status != "error" and "city" in msg.text
    row = await service.aget("user", "carla", "city")  # normalised like every entity id
    assert row is not None and row.content == "Carla lives in Valdivia." and row.sync_state == "synced"
    history = await service.ahistory("user", "carla", "city")
    assert (
        history[-1].actor.get("user_id") == "Carla " and history[-1].actor.get("thread_id") == "studio-thread"
    )
    # The same identity reads it back through the search tool; another configurable user does not.
    found = await _call(service, "search_user_memory", {"query": "where does she live"}, configurable=conf)
    assert "Valdivia" in found.text
    other = await _call(
        service, "search_user_memory", {"query": "where does she live"}, configurable={"user_id": "dora"}
    )
    assert "Valdivia" not in other.text


async def test_context_wins_over_configurable(service: MemoryService) -> None:
    await _call(
        service,
        "save_user_memory",
        {"slug": "team", "content": "Dora works on the data team."},
        context={"user_id": "dora", "company_id": "acme"},
        configurable={"user_id": "someone_else"},
    )
    assert (await service.aget("user", "dora", "team")) is not None
    assert (await service.aget("user", "someone_else", "team")) is None


async def test_model_fixable_errors_are_tool_messages(service: MemoryService) -> None:
    ctx = {"user_id": "eve", "company_id": "acme"}
    bad = await _call(
        service, "save_company_memory", {"slug": "Company Tax Regime", "content": "x"}, context=ctx
    )
    assert bad.status == "error"
    assert "company_tax_regime" in bad.content and "slug" in bad.content
    empty = await _call(service, "save_user_memory", {"slug": "ok", "content": "   "}, context=ctx)
    assert empty.status == "error" and "empty" in empty.content
    missing = await _call(service, "forget_memory", {"scope": "user", "slug": "never_saved"}, context=ctx)
    assert missing.status == "error" and "never_saved" in missing.content
    too_many = await _call(service, "search_user_memory", {"query": "x", "k": 500}, context=ctx)
    assert too_many.status == "error"
    assert (await service.alist("user", "eve")) == []


async def test_missing_identity_is_raised_not_swallowed(service: MemoryService) -> None:
    with pytest.raises(BrainConfigurationError, match="user_id"):
        await _call(service, "search_user_memory", {"query": "anything"}, context={"company_id": "acme"})
    with pytest.raises(BrainConfigurationError, match="company_id"):
        await _call(service, "save_company_memory", {"slug": "a", "content": "b"}, context={"user_id": "x"})
    with pytest.raises(BrainConfigurationError):
        await _call(service, "search_user_memory", {"query": "anything"}, context={"user_id": "  "})


async def test_backend_outage_is_a_tool_message(database: Database) -> None:
    async with open_memory_service(database=database) as broken:
        await broken.asave("user", "frank", "note", "Frank likes tea.")
        # A real outage of Mem0's connection pool (not a fake): search and save must fail soft.
        # Searches normally share the application's pool; send them to the closed one.
        broken.index.sync_pool.close()  # type: ignore[attr-defined]
        broken.index.async_pool = None  # type: ignore[attr-defined]
        ctx = {"user_id": "frank", "company_id": "acme"}
        msg = await _call(broken, "search_user_memory", {"query": "tea"}, context=ctx)
        assert msg.status == "error" and "unavailable" in msg.content
        msg = await _call(broken, "save_user_memory", {"slug": "note2", "content": "More tea."}, context=ctx)
        assert msg.status == "error" and "unavailable" in msg.content


async def test_read_only_company_memory_can_be_neither_saved_nor_forgotten(service: MemoryService) -> None:
    await service.asave("company", "initech", "tax_regime", "Initech is under the general tax regime.")
    tools = create_memory_tools(service, permissions=READ_ONLY_COMPANY)
    assert [t.name for t in tools] == [
        "search_user_memory",
        "save_user_memory",
        "search_company_memory",
        "forget_memory",
    ]
    # The model is offered no company write: no company save tool, and forget's scope is user only.
    for tool in tools:
        assert (tool.metadata or {}).get("brain_scope") != "company" or tool.name.startswith("search_")
    forget_params = convert_to_openai_tool(tools[-1])["function"]["parameters"]
    assert forget_params["properties"]["scope"]["enum"] == ["user"]
    assert "company" not in tools[-1].description

    ctx = {"user_id": "milton", "company_id": "initech"}
    graph = _graph(tools)
    for name, args in (
        ("forget_memory", {"scope": "company", "slug": "tax_regime"}),
        ("save_company_memory", {"slug": "tax_regime", "content": "Initech pays no tax."}),
    ):
        out = await graph.ainvoke(
            {"messages": [AIMessage("", tool_calls=[{"name": name, "args": args, "id": "forced"}])]},
            context=ctx,
        )
        refusal = out["messages"][-1]
        assert isinstance(refusal, ToolMessage) and refusal.status == "error", refusal
        assert "Forgot" not in refusal.content and "Saved" not in refusal.content
    # The body checks again, for callers that bypass the schema.
    forget = tools[-1]
    assert forget.coroutine is not None
    with pytest.raises(ToolException, match="may not forget company memory"):
        await forget.coroutine(scope="company", slug="tax_regime", runtime=None)

    record = await service.aget("company", "initech", "tax_regime")
    assert record is not None and "general tax regime" in record.content
    # User memory is still fully writable, with the narrowed forget tool.
    await service.asave("user", "milton", "stapler", "Milton has a red stapler.")
    out = await graph.ainvoke(
        {
            "messages": [
                AIMessage(
                    "",
                    tool_calls=[{"name": "forget_memory", "args": {"slug": "stapler"}, "id": "ok"}],
                )
            ]
        },
        context=ctx,
    )
    assert out["messages"][-1].status != "error", out["messages"][-1].content
    assert await service.aget("user", "milton", "stapler") is None


def test_permissions_are_validated_and_narrow_the_tool_set(service: MemoryService) -> None:
    assert [t.name for t in create_memory_tools(service, permissions={"company": ["search"]})] == [
        "search_company_memory"
    ]
    assert create_memory_tools(service, permissions={}) == []
    with pytest.raises(ValueError, match="'delete'"):
        create_memory_tools(service, permissions={"user": ("search", "delete")})
    with pytest.raises(ValueError, match="'team'"):
        create_memory_tools(service, permissions={"team": ("search",)})

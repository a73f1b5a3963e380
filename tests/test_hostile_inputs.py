"""Hostile inputs, table-driven, through the MemoryService and through the memory tools.

Every input either gets a clear error (and then neither Postgres nor Mem0 changed at all) or a
safe result (stored verbatim and returned only to its own entity). Real Postgres and Mem0.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from langgraph_brain.brain import (
    BrainConfigurationError,
    MemoryNotFoundError,
    MemoryService,
    MemoryValidationError,
)
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.tools import BrainContext, create_memory_tools

TEN_MB = "x" * (10 * 1024 * 1024)
SQL_DROP = "a'; DROP TABLE brain_memories; --"
RLO = "\u202e"  # right-to-left override
RLM = "\u200f"  # right-to-left mark


@dataclass(frozen=True)
class Case:
    """One hostile call. `expect` is "error" (with `error` its type) or "ok"."""

    name: str
    op: str  # save | search | forget | get
    args: dict[str, Any]
    expect: str = "error"
    error: type[BaseException] = MemoryValidationError
    entity: str = "hostile"
    kwargs: dict[str, Any] = field(default_factory=dict)


def _save(slug: Any, content: Any = "A harmless fact.", **kw: Any) -> dict[str, Any]:
    return {"slug": slug, "content": content, **kw}


SERVICE_CASES: list[Case] = [
    # slugs: SQL metacharacters, LIKE wildcards, paths, case, length, control characters
    Case("slug_sql_drop", "save", _save(SQL_DROP)),
    Case("slug_sql_or", "save", _save('x" OR "1"="1')),
    Case("slug_like_percent", "save", _save("plan%")),
    Case("slug_semicolon", "save", _save("plan;")),
    Case("slug_path_traversal", "save", _save("../../etc/passwd")),
    Case("slug_uppercase", "save", _save("Plan")),
    Case("slug_empty", "save", _save("")),
    Case("slug_129_chars", "save", _save("a" * 129)),
    Case("slug_nul", "save", _save("pl\x00an")),
    Case("slug_trailing_newline", "save", _save("plan\n")),
    Case("slug_leading_space", "save", _save(" plan")),
    Case("slug_unicode_lookalike", "save", _save("plаn")),  # Cyrillic 'а'
    Case("slug_rtl_override", "save", _save(f"plan{RLO}")),
    Case("slug_not_text", "save", _save(12345)),
    # content
    Case("content_10_mb", "save", _save("big", TEN_MB)),
    Case("content_nul", "save", _save("nul", "before\x00after")),
    Case("content_lone_surrogate", "save", _save("surrogate", "bad \ud800 text")),
    Case("content_lone_low_surrogate", "save", _save("surrogate2", "bad \udfff text")),
    Case("content_empty", "save", _save("empty", "")),
    Case("content_whitespace", "save", _save("blank", " \n\t ")),
    Case("content_not_text", "save", _save("number", 42)),
    Case("content_one_over_limit", "save", _save("long", "y" * 8001)),
    Case("content_sql", "save", _save("sql_content", "'); DELETE FROM brain_memories; --"), expect="ok"),
    Case("content_rtl_marks", "save", _save("rtl", f"{RLO}evil.exe{RLM} invoice {RLM}gpj.exe"), expect="ok"),
    Case(
        "content_zero_width_emoji", "save", _save("emoji", "family 👩‍👩‍👧 with zero\u200bwidth"), expect="ok"
    ),
    Case("content_tsquery_syntax", "save", _save("tsq", "a & b | !c <-> d:* (e)"), expect="ok"),
    # categories
    Case("category_sql", "save", _save("cat1", category="'; --")),
    Case("category_uppercase_spaces", "save", _save("cat2", category="DROP TABLE")),
    Case("category_unknown_wellformed", "save", _save("cat3", category="zz_unknown"), expect="ok"),
    # metadata
    Case("metadata_nul", "save", _save("meta1", metadata={"k": "a\x00b"})),
    Case("metadata_1_mb", "save", _save("meta2", metadata={"k": "m" * 1_000_000})),
    Case("metadata_not_json", "save", _save("meta3", metadata={"k": {1, 2}})),
    Case("metadata_not_mapping", "save", _save("meta4", metadata=["a"])),
    # queries and k
    Case("query_empty", "search", {"query": ""}),
    Case("query_whitespace", "search", {"query": "   "}),
    Case("query_nul", "search", {"query": "plan\x00"}),
    Case("query_lone_surrogate", "search", {"query": "plan \udc00"}),
    Case("query_10_mb", "search", {"query": TEN_MB}),
    Case("query_sql_or", "search", {"query": "' OR 1=1 --"}, expect="ok"),
    Case(
        "query_sql_union", "search", {"query": "x' UNION SELECT content FROM brain_memories --"}, expect="ok"
    ),
    Case("query_tsquery_metachars", "search", {"query": "!(&|:*<-> ''\\"}, expect="ok"),
    Case("query_rtl_marks", "search", {"query": f"{RLO}plan{RLM}"}, expect="ok"),
    Case("query_like_wildcards", "search", {"query": "%_%"}, expect="ok"),
    Case("k_zero", "search", {"query": "plan", "k": 0}),
    Case("k_negative", "search", {"query": "plan", "k": -1}),
    Case("k_huge", "search", {"query": "plan", "k": 10**9}),
    Case("k_bool", "search", {"query": "plan", "k": True}),
    Case("k_text", "search", {"query": "plan", "k": "5"}),
    Case("k_float", "search", {"query": "plan", "k": 2.5}),
    Case("search_category_sql", "search", {"query": "plan", "category": "x' OR '1'='1"}),
    Case("search_category_unknown", "search", {"query": "plan", "category": "zz_nothing_here"}, expect="ok"),
    Case("search_mode_unknown", "search", {"query": "plan", "mode": "sql"}),
    # forget and get
    Case("forget_like_wildcard_slug", "forget", {"slug": "plan_"}, error=MemoryNotFoundError),
    Case("forget_sql_slug", "forget", {"slug": SQL_DROP}),
    Case("forget_percent", "forget", {"slug": "%"}),
    Case("get_sql_slug", "get", {"slug": "plan' OR '1'='1"}),
    # entity ids (they come from the runtime, but a misconfigured app could pass anything)
    Case("entity_nul", "search", {"query": "plan"}, error=BrainConfigurationError, entity="ho\x00stile"),
    Case("entity_blank", "search", {"query": "plan"}, error=BrainConfigurationError, entity="  "),
    Case("entity_surrogate", "search", {"query": "plan"}, error=BrainConfigurationError, entity="a\ud800"),
    Case("entity_wildcard_star", "search", {"query": "plan"}, expect="ok", entity="*"),
    Case("entity_like_percent", "search", {"query": "plan"}, expect="ok", entity="%"),
    Case("entity_sql", "save", _save("plan", "Entity SQL: plan."), expect="ok", entity="x' OR '1'='1"),
    # Mem0 refuses a user_id with whitespace; the brain encodes it rather than fail after commit.
    Case(
        "entity_with_spaces",
        "save",
        _save("plan", "Entity with spaces: plan."),
        expect="ok",
        entity="acme corp",
    ),
    Case(
        "entity_ideographic_space", "save", _save("plan", "Wide space: plan."), expect="ok", entity="a\u3000b"
    ),
]


@dataclass(frozen=True)
class ToolCase:
    name: str
    tool: str
    args: dict[str, Any]
    expect: str = "error"


TOOL_CASES: list[ToolCase] = [
    ToolCase("tool_slug_sql_drop", "save_user_memory", {"slug": SQL_DROP, "content": "x"}),
    ToolCase("tool_slug_uppercase", "save_user_memory", {"slug": "Plan", "content": "x"}),
    ToolCase("tool_slug_nul", "save_user_memory", {"slug": "a\x00", "content": "x"}),
    ToolCase("tool_content_10_mb", "save_user_memory", {"slug": "big", "content": TEN_MB}),
    ToolCase("tool_content_nul", "save_user_memory", {"slug": "nul", "content": "a\x00b"}),
    ToolCase("tool_content_surrogate", "save_user_memory", {"slug": "sur", "content": "a\ud800b"}),
    ToolCase("tool_content_empty", "save_company_memory", {"slug": "empty", "content": ""}),
    ToolCase("tool_content_missing", "save_user_memory", {"slug": "nocontent"}),
    ToolCase("tool_category_sql", "save_user_memory", {"slug": "c", "content": "x", "category": "'; --"}),
    ToolCase(
        "tool_forged_user_id_arg",
        "save_user_memory",
        {"slug": "forged", "content": "x", "user_id": "victim"},
        "ok",
    ),
    ToolCase("tool_content_rtl", "save_user_memory", {"slug": "tool_rtl", "content": f"{RLO}txt.exe"}, "ok"),
    ToolCase("tool_query_empty", "search_user_memory", {"query": ""}),
    ToolCase("tool_query_nul", "search_company_memory", {"query": "a\x00"}),
    ToolCase("tool_query_sql", "search_user_memory", {"query": "' OR 1=1 --"}, "ok"),
    ToolCase("tool_k_negative", "search_user_memory", {"query": "plan", "k": -1}),
    ToolCase("tool_k_zero", "search_user_memory", {"query": "plan", "k": 0}),
    ToolCase("tool_k_huge", "search_user_memory", {"query": "plan", "k": 10**9}),
    ToolCase("tool_k_text", "search_user_memory", {"query": "plan", "k": "many"}),
    ToolCase(
        "tool_category_unknown", "search_user_memory", {"query": "plan", "category": "zz_unknown"}, "ok"
    ),
    ToolCase("tool_forget_scope_forged", "forget_memory", {"scope": "admin", "slug": "plan"}),
    ToolCase("tool_forget_sql_slug", "forget_memory", {"scope": "user", "slug": SQL_DROP}),
    ToolCase("tool_forget_wildcard", "forget_memory", {"scope": "user", "slug": "plan_"}),
    ToolCase("tool_forget_other_users_slug", "forget_memory", {"scope": "user", "slug": "victim_secret"}),
]


@pytest.fixture(scope="module")
async def service(service: MemoryService) -> MemoryService:
    """The shared service, seeded for this module."""
    svc = service
    await svc.asave("user", "hostile", "plan", "Hostile: the plan is to expand to Peru.")
    await svc.asave("user", "victim", "victim_secret", "Victim: the vault code is 4411.")
    await svc.asave("company", "acme", "plan", "Acme: the plan is confidential.")
    return svc


async def _fingerprint(service: MemoryService) -> tuple[Any, ...]:
    """Everything both stores hold, hashed: any change at all shows."""
    async with service.admin_pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM brain_memories) AS rows,"
                " (SELECT count(*) FROM brain_history) AS history,"
                " (SELECT count(*) FROM brain_mem0) AS mem0,"
                " (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), ''))"
                " FROM brain_memories t) AS r,"
                " (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM brain_history t) AS h,"
                " (SELECT md5(coalesce(string_agg(payload::text, '|' ORDER BY id), '')) FROM brain_mem0) AS m"
            )
        ).fetchone()
    assert row is not None
    return tuple(row.values())


async def _call_service(service: MemoryService, case: Case) -> Any:
    a = case.args
    if case.op == "save":
        return await service.asave(
            "user",
            case.entity,
            a["slug"],
            a["content"],
            category=a.get("category"),
            metadata=a.get("metadata"),
        )
    if case.op == "search":
        return await service.asearch(
            "user", case.entity, a["query"], k=a.get("k", 5), category=a.get("category"), mode=a.get("mode")
        )
    if case.op == "forget":
        return await service.aforget("user", case.entity, a["slug"])
    return await service.aget("user", case.entity, a["slug"])


_RESULTS: dict[str, str] = {}


@pytest.mark.parametrize("case", SERVICE_CASES, ids=lambda c: c.name)
async def test_hostile_input_through_the_service(service: MemoryService, case: Case) -> None:
    before = await _fingerprint(service)
    if case.expect == "error":
        with pytest.raises(case.error) as caught:
            await _call_service(service, case)
        message = str(caught.value)
        # A clear error: one short human-readable sentence or two, never the hostile payload echoed
        # in full (a 10 MB input must not come back as a 10 MB error).
        assert 10 < len(message) < 600, message[:200]
        assert await _fingerprint(service) == before, f"{case.name} changed the store on error"
    else:
        result = await _call_service(service, case)
        if case.op == "save":
            row = await service.aget("user", case.entity, case.args["slug"])
            assert row is not None and row.content == case.args["content"].strip()
            assert row.sync_state == "synced"
        elif case.op == "search":
            own = {r.content for r in await service.alist("user", case.entity)}
            assert all(h.content in own for h in result), "search returned another entity's memory"
    async with service.admin_pool.connection() as conn:
        intact = await (
            await conn.execute(
                "SELECT to_regclass('brain_memories') IS NOT NULL"
                " AND to_regclass('brain_history') IS NOT NULL"
                " AND to_regclass('brain_mem0') IS NOT NULL AS ok"
            )
        ).fetchone()
    assert intact == {"ok": True}
    _RESULTS[case.name] = case.expect
    _record("service", case.name)


def _graph(service: MemoryService) -> Any:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(create_memory_tools(service)))
    g.add_edge(START, "tools")
    return g.compile()


@pytest.mark.parametrize("case", TOOL_CASES, ids=lambda c: c.name)
async def test_hostile_input_through_the_tools(service: MemoryService, case: ToolCase) -> None:
    before = await _fingerprint(service)
    call_id = uuid.uuid4().hex
    out = await _graph(service).ainvoke(
        {"messages": [AIMessage("", tool_calls=[{"name": case.tool, "args": case.args, "id": call_id}])]},
        context={"user_id": "hostile", "company_id": "acme"},
    )
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == call_id
    text = str(msg.content)
    assert "victim" not in text.lower() or case.name == "tool_forget_other_users_slug"
    assert "4411" not in text
    if case.expect == "error":
        assert msg.status == "error", text[:300]
        assert 10 < len(text) < 2000, text[:300]
        assert "Traceback" not in text
        assert await _fingerprint(service) == before, f"{case.name} changed the store on error"
    else:
        assert msg.status != "error", text[:300]
    _record("tools", case.name)
    if case.name == "tool_forged_user_id_arg":
        # The forged identity argument is ignored: the memory is the caller's, the victim's intact.
        assert [r.slug for r in await service.alist("user", "victim")] == ["victim_secret"]
        assert (await service.aget("user", "hostile", "forged")) is not None


async def test_store_is_consistent_after_all_hostile_inputs(service: MemoryService) -> None:
    assert (await acheck_invariant(service)).ok
    victim = await service.alist("user", "victim")
    assert [(r.slug, r.content) for r in victim] == [("victim_secret", "Victim: the vault code is 4411.")]


def _record(kind: str, name: str) -> None:
    """Append the case to the figures file that bench/reliability.py reads, when it asks."""
    path = os.environ.get("BRAIN_RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "hostile", "kind": kind, "case": name}) + "\n")

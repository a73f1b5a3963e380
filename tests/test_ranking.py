"""The final score (brain/ranking.py) on the real service (Postgres, Mem0, e5): importance and
recency change the order as documented, both weights 0 keep each mode's own order and scores,
the weights can be set per call and from settings, and unusable values are clear errors.

Timestamps are controlled by saving through the service and then moving rows' `updated_at` as
the owner (no sleeps). Each test uses its own entity.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from langgraph_brain.brain import MemoryService, MemoryValidationError, open_memory_service
from langgraph_brain.brain.errors import BrainConfigurationError
from langgraph_brain.brain.factory import ranking_options
from langgraph_brain.brain.ranking import Candidate, final_scores, recency, rescore, scaled
from langgraph_brain.brain.retrieval import RetrievalOptions
from langgraph_brain.brain.search import arank
from langgraph_brain.db import Database
from langgraph_brain.settings import BrainSettings

NOW = datetime.now(UTC)
MODES = ("hybrid", "vector", "keyword")
RECENT = RetrievalOptions(recency_weight=0.6, recency_half_life_days=30)
IMPORTANT = RetrievalOptions(importance_weight=0.6)
ZERO = RetrievalOptions(importance_weight=0.0, recency_weight=0.0)  # today's ranking


async def _age(svc: MemoryService, entity: str, slug: str, days: float) -> None:
    """Set the row's updated_at `days` in the past (owner SQL)."""
    async with svc.admin_pool.connection() as conn:
        await conn.execute(
            "UPDATE brain_memories SET updated_at = %s WHERE scope = 'user' AND entity_id = %s AND slug = %s",
            (NOW - timedelta(days=days), entity, slug),
        )


async def _slugs(svc: MemoryService, entity: str, query: str, **kw: Any) -> list[str]:
    return [h.slug for h in await svc.asearch("user", entity, query, **kw)]


# ---- pure functions ---------------------------------------------------------------------------


def test_relevance_is_min_max_within_the_list_and_recency_halves_per_half_life() -> None:
    assert scaled([4.0, 3.0, 2.0]) == [1.0, 0.5, 0.0]
    assert scaled([0.7, 0.7]) == [1.0, 1.0] and scaled([0.3]) == [1.0] and scaled([]) == []
    assert recency(NOW, NOW, 30) == 1.0
    assert recency(NOW - timedelta(days=30), NOW, 30) == pytest.approx(0.5)
    assert recency(NOW - timedelta(days=60), NOW, 30) == pytest.approx(0.25)
    assert recency(NOW + timedelta(days=3), NOW, 30) == 1.0  # a future timestamp counts as age 0
    cands = [Candidate("a", 2.0, 0.2, NOW - timedelta(days=30)), Candidate("b", 1.0, 1.0, NOW)]
    # a: 0.5 * 1 + 0.3 * 0.2 + 0.2 * 0.5; b: 0.5 * 0 + 0.3 * 1 + 0.2 * 1
    finals = final_scores(cands, NOW, importance_weight=0.3, recency_weight=0.2, half_life_days=30)
    assert finals == pytest.approx([0.66, 0.5])
    ranked = rescore(cands, NOW, importance_weight=0.3, recency_weight=0.4, half_life_days=30)
    assert [c.key for c in ranked] == ["b", "a"] and ranked[0].score == pytest.approx(0.7)
    assert rescore(cands, NOW, importance_weight=0, recency_weight=0, half_life_days=1) == cands


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"importance_weight": -0.1}, "importance_weight must be a number between 0 and 1"),
        ({"importance_weight": 1.5}, "importance_weight must be a number between 0 and 1"),
        ({"recency_weight": math.nan}, "recency_weight must be a number between 0 and 1"),
        ({"recency_weight": "0.5"}, "recency_weight must be a number between 0 and 1"),
        ({"recency_weight": True}, "recency_weight must be a number between 0 and 1"),
        ({"importance_weight": 0.6, "recency_weight": 0.5}, "at most 1 (the rest weighs relevance)"),
        ({"recency_half_life_days": 0}, "recency_half_life_days must be a positive number of days"),
        ({"recency_half_life_days": -7}, "recency_half_life_days must be a positive number of days"),
        ({"recency_half_life_days": math.nan}, "recency_half_life_days must be a positive number"),
        ({"recency_half_life_days": math.inf}, "recency_half_life_days must be a positive number"),
    ],
)
def test_unusable_weights_and_half_lives_are_clear_errors(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(MemoryValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        RetrievalOptions(**kwargs)
    with pytest.raises(MemoryValidationError):
        dataclasses.replace(RetrievalOptions(), **kwargs)
    RetrievalOptions(importance_weight=0.5, recency_weight=0.5, recency_half_life_days=0.01)  # edges are fine


# ---- the service ------------------------------------------------------------------------------


async def test_recency_puts_the_newer_of_two_near_duplicates_first_in_every_mode(
    service: MemoryService,
) -> None:
    e = "recency"
    await service.asave("user", e, "city-old", "Ana lives in the city of Madrid, she lives downtown.")
    await service.asave("user", e, "city-new", "Ana lives in Lisbon.")
    await service.asave("user", e, "pet", "Ana has a grey cat called Tom.")
    await _age(service, e, "city-old", 700)
    await _age(service, e, "city-new", 2)
    await _age(service, e, "pet", 300)
    q = "Which city does Ana live in? Where does she live?"
    for mode in MODES:
        today = await _slugs(service, e, q, mode=mode, retrieval=ZERO)
        assert today[0] == "city-old", (mode, today)  # the wordier memory wins on relevance alone
        assert (await _slugs(service, e, q, mode=mode, retrieval=RECENT))[0] == "city-new", mode
    # with the same age, recency cannot separate them: relevance's order stands
    await _age(service, e, "city-new", 700)
    assert (await _slugs(service, e, q, mode="vector", retrieval=RECENT))[0] == "city-old"


async def test_importance_lifts_a_pinned_or_explicitly_important_memory(service: MemoryService) -> None:
    e = "importance"
    await service.asave(
        "user",
        e,
        "chatter",
        "Ana joked that her coworker is allergic to peanuts and bees.",
        metadata={"importance": 0.1},
    )
    await service.asave(
        "user", e, "allergy", "Ana has an allergy to penicillin.", metadata={"importance": 0.95}
    )
    await service.asave("user", e, "pinned", "Ana's passport number is X123.", metadata={"pinned": True})
    q = "What is Ana allergic to? peanuts"
    for mode in MODES:
        today = await _slugs(service, e, q, mode=mode, retrieval=ZERO)
        assert today[0] == "chatter", (mode, today)
        assert (await _slugs(service, e, q, mode=mode, retrieval=IMPORTANT))[0] in {"allergy", "pinned"}, mode
    strong = RetrievalOptions(importance_weight=1.0)
    # pinned (importance 1) beats 0.95 once importance is all of the score
    assert (await _slugs(service, e, q, mode="vector", retrieval=strong))[0] == "pinned"


async def test_every_candidate_is_rescored_before_the_cut_to_k(service: MemoryService) -> None:
    e = "cut"
    await service.asave("user", e, "best", "Bruno's favourite football team is Boca Juniors in Buenos Aires.")
    await service.asave("user", e, "fresh", "Bruno likes football.")
    for i in range(6):
        await service.asave("user", e, f"filler-{chr(97 + i)}", f"Bruno bought {i + 2} bags of rice.")
    await _age(service, e, "best", 900)
    q = "Which football team does Bruno support in Buenos Aires, Boca Juniors?"
    for mode in ("vector", "keyword", "hybrid"):
        assert await _slugs(service, e, q, mode=mode, k=1, retrieval=ZERO) == ["best"], mode
        assert await _slugs(service, e, q, mode=mode, k=1, retrieval=RECENT) == ["fresh"], mode


async def test_weights_zero_keep_each_modes_own_order_and_scores(service: MemoryService) -> None:
    """Both weights 0 = the ranking before the final score: the mode's candidates, joined, in score
    order (stable), scores untouched, cut to k; recomputed here from `search.arank` directly."""
    e = "zero"
    facts = [f"d1-{i}" for i in range(1, 9)]
    texts = ["Carla plays chess on Sundays.", "Carla lives in Quito.", "Carla works at Globex.",
             "Carla's dog is called Rex.", "Carla plays the cello.", "Carla drives a green Fiat 500.",
             "Carla's sister lives in Lima.", "Carla likes chess and painting."]  # fmt: skip
    for slug, text in zip(facts, texts, strict=True):
        await service.asave("user", e, slug, text, metadata={"importance": (len(text) % 7) / 7})
        await _age(service, e, slug, len(text))
    zero = RetrievalOptions(importance_weight=0.0, recency_weight=0.0, recency_half_life_days=1.0)
    for query in ("Does Carla play chess?", "Where does Carla live?", "cello"):
        for mode in MODES:
            got = await service.asearch("user", e, query, mode=mode, k=5, retrieval=zero)
            hits, neighbours = await arank(service, "user", e, query, 5, None, mode)  # type: ignore[arg-type]
            rows = await service.tenancy.afetchall(
                "user", e, "SELECT memory_id::text AS m, slug FROM brain_memories WHERE entity_id = %s", (e,)
            )
            slug_of = {r["m"]: r["slug"] for r in rows}
            scored: dict[str, float] = {}
            for h in hits:
                scored.setdefault(slug_of[h.memory_id], h.score)
            for slug, extra in neighbours.items():
                if slug in slug_of.values() and extra > scored.get(slug, float("-inf")):
                    scored[slug] = extra
            expected = sorted(scored, key=lambda s: -scored[s])[:5]
            assert [(h.slug, h.score) for h in got] == [(s, scored[s]) for s in expected], (query, mode)


async def test_the_default_importance_weight_never_reorders_memories_of_equal_importance(
    service: MemoryService,
) -> None:
    """The defaults (importance 0.3, recency off, half-life 365 d) were chosen so that memories of
    equal importance keep the mode's order; only the scores become final scores (0..1)."""
    assert (RetrievalOptions().importance_weight, RetrievalOptions().recency_weight) == (0.3, 0.0)
    assert RetrievalOptions().recency_half_life_days == 365.0
    settings = BrainSettings()
    assert (settings.rank_importance_weight, settings.rank_recency_weight, settings.rank_half_life_days) == (
        0.3, 0.0, 365.0)  # fmt: skip
    e = "equal"
    texts = ["Hugo plays chess.", "Hugo lives in Lima.", "Hugo's chess club meets on Monday.",
             "Hugo drives a Kia.", "Hugo likes chess puzzles and painting."]  # fmt: skip
    for i, text in enumerate(texts):
        await service.asave("user", e, f"fact-{chr(97 + i)}", text)
        await _age(service, e, f"fact-{chr(97 + i)}", 10 * i)
    for mode in MODES:
        today = await service.asearch("user", e, "chess", mode=mode, k=5, retrieval=ZERO)
        default = await service.asearch("user", e, "chess", mode=mode, k=5)
        assert [h.slug for h in default] == [h.slug for h in today], mode
        assert all(0 <= h.score <= 1 for h in default) and default[0].score == pytest.approx(0.85)


async def test_per_call_options_override_the_service_and_bad_ones_are_refused(service: MemoryService) -> None:
    e = "percall"
    await service.asave("user", e, "old", "Diego's phone number is 555-0101, his main phone number.")
    await service.asave("user", e, "new", "Diego's phone is 555-0199.")
    await _age(service, e, "old", 400)
    q = "What is Diego's phone number?"
    before = service.retrieval
    assert (await _slugs(service, e, q, mode="vector"))[0] == "old"
    assert (await _slugs(service, e, q, mode="vector", retrieval=RECENT))[0] == "new"
    assert service.retrieval is before and service.retrieval.recency_weight == 0  # nothing stuck
    for bad in ("recency", {"recency_weight": 0.5}, 0.5):
        with pytest.raises(MemoryValidationError, match="retrieval must be a RetrievalOptions"):
            await service.asearch("user", e, q, retrieval=bad)  # type: ignore[arg-type]
    # as-of search ranks past versions by relevance only; the weights are accepted and ignored
    past = await service.asearch("user", e, q, as_of=datetime.now(UTC), retrieval=RECENT, mode="vector")
    assert [h.slug for h in past][:1] == ["old"]


async def test_settings_reach_the_service_and_unusable_settings_fail_at_start(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAIN_RANK_IMPORTANCE_WEIGHT", "0.2")
    monkeypatch.setenv("BRAIN_RANK_RECENCY_WEIGHT", "0.15")
    monkeypatch.setenv("BRAIN_RANK_HALF_LIFE_DAYS", "90")
    async with open_memory_service(BrainSettings(), database=database) as svc:
        assert (svc.retrieval.importance_weight, svc.retrieval.recency_weight) == (0.2, 0.15)
        assert svc.retrieval.recency_half_life_days == 90
        e = "settings"
        await svc.asave(
            "user", e, "old", "Which floor is Elena's office on? Elena's office is on the fifth floor."
        )
        await svc.asave("user", e, "new", "Elena moved desks to level 2.")
        await _age(svc, e, "old", 3000)
        q = "Which floor is Elena's office on?"
        assert (await _slugs(svc, e, q, mode="vector", retrieval=ZERO))[0] == "old"
        monkeypatch.setenv("BRAIN_RANK_RECENCY_WEIGHT", "0.6")
        monkeypatch.setenv("BRAIN_RANK_IMPORTANCE_WEIGHT", "0")
        async with open_memory_service(BrainSettings(), database=database) as strong:
            assert (await _slugs(strong, e, q, mode="vector"))[0] == "new"
    monkeypatch.setenv("BRAIN_RANK_IMPORTANCE_WEIGHT", "0.7")
    monkeypatch.setenv("BRAIN_RANK_RECENCY_WEIGHT", "0.6")
    with pytest.raises(BrainConfigurationError, match=r"BRAIN_RANK_IMPORTANCE_WEIGHT.*at most 1"):
        ranking_options(BrainSettings())
    for name, value in (("BRAIN_RANK_RECENCY_WEIGHT", "-1"), ("BRAIN_RANK_HALF_LIFE_DAYS", "0"),
                        ("BRAIN_RANK_HALF_LIFE_DAYS", "nan")):  # fmt: skip
        monkeypatch.setenv("BRAIN_RANK_IMPORTANCE_WEIGHT", "0")
        monkeypatch.setenv("BRAIN_RANK_RECENCY_WEIGHT", "0.1")
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            BrainSettings()
        monkeypatch.delenv(name)

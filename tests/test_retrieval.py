"""Search modes on the real stack (embedded Postgres, Mem0 OSS, e5): keyword, vector, hybrid.

Covers mode validation, the keyword side (stemming, accent folding, stop words), tenant and
sync-state isolation in every mode, a small French/Spanish set where facts saved in one
language are asked for in the same and in another language (hybrid must be no worse than vector),
and hybrid mode's two per-query signals: the cross-lingual switch and the temporal boost.
"""

from __future__ import annotations

import pytest

from langgraph_brain.brain import MemoryService, MemoryValidationError
from langgraph_brain.brain.query_signals import cross_lingual, states_time, temporal_question
from langgraph_brain.brain.retrieval import (
    SEARCH_MODES,
    RankedHit,
    RetrievalOptions,
    informative,
    neighbour_slugs,
    relative_fuse,
    rrf_fuse,
    validate_mode,
)
from langgraph_brain.brain.search import aquery_signals

SPANISH = {
    "perro": "Mi perro se llama Bruno y es un pastor alemán.",
    "trabajo": "Trabajo como contadora en una pyme de Valparaíso.",
    "alergia": "Soy alérgica al maní y a los mariscos.",
    "cumpleanos": "Mi cumpleaños es el 14 de marzo.",
    "contacto": "Prefiero que me contacten por correo electrónico, no por teléfono.",
    "iva": "La empresa paga el IVA todos los meses, el día 20.",
    "hija": "Mi hija estudia ingeniería civil en la Universidad de Chile.",
    "futbol": "Los viernes juego fútbol con mis colegas de la oficina.",
}
FRENCH = {
    "chat": "Mon chat s'appelle Minou et il a trois ans.",
    "travail": "Je travaille comme infirmière à l'hôpital de Lyon.",
    "regime": "Je suis végétarienne depuis 2019, je ne mange pas de viande.",
    "tva": "Notre entreprise déclare la TVA chaque trimestre.",
    "contact": "Je préfère être contactée par e-mail plutôt que par téléphone.",
    "piano": "Mon fils prend des cours de piano le mercredi.",
    "vacances": "Nous partons en vacances en Bretagne au mois d'août.",
    "voiture": "Ma voiture est une Renault Clio rouge.",
}
# (entity, query, expected slug): same-language questions, then questions in another language.
QUESTIONS = [
    ("es", "¿Cómo se llama mi perro?", "perro"),
    ("es", "¿A qué soy alérgica?", "alergia"),
    ("es", "¿Cuándo es mi cumpleaños?", "cumpleanos"),
    ("es", "¿Cómo prefiero que me contacten?", "contacto"),
    ("es", "¿Qué estudia mi hija?", "hija"),
    ("es", "¿Cuándo se paga el IVA?", "iva"),
    # asked in another language than the facts were saved in
    ("es", "What is my dog's name?", "perro"),
    ("es", "Quel sport est-ce que je pratique le vendredi ?", "futbol"),
    ("es", "Where do I work?", "trabajo"),
    ("es", "Quand est mon anniversaire ?", "cumpleanos"),
    ("fr", "Comment s'appelle mon chat ?", "chat"),
    ("fr", "Où est-ce que je travaille ?", "travail"),
    ("fr", "Quand déclarons-nous la TVA ?", "tva"),
    ("fr", "Quel instrument mon fils apprend-il ?", "piano"),
    ("fr", "Où partons-nous en vacances ?", "vacances"),
    # asked in another language than the facts were saved in
    ("fr", "¿Cómo se llama mi gato?", "chat"),
    ("fr", "¿Cuál es mi coche?", "voiture"),
    ("fr", "Do I eat meat?", "regime"),
    ("fr", "How do I prefer to be contacted?", "contact"),
    ("fr", "¿Dónde trabajo?", "travail"),
]
SAME_LANGUAGE = QUESTIONS[:6] + QUESTIONS[10:15]


@pytest.fixture(scope="module")
async def service(service: MemoryService) -> MemoryService:
    """The shared service, seeded for this module."""
    svc = service
    items = [
        {"scope": "user", "entity_id": entity, "slug": slug, "content": content}
        for entity, facts in (("es", SPANISH), ("fr", FRENCH))
        for slug, content in facts.items()
    ]
    items += [
        {
            "scope": "user",
            "entity_id": "kw",
            "slug": "regime",
            "content": "Acme uses the ProPyme tax regime.",
        },
        {
            "scope": "user",
            "entity_id": "kw",
            "slug": "city",
            "content": "I live in Valparaíso, near the port.",
        },
        {
            "scope": "user",
            "entity_id": "kw",
            "slug": "painting",
            "content": "Last summer I painted a sunrise over the lake.",
            "category": "hobby",
        },
        {
            "scope": "user",
            "entity_id": "kw",
            "slug": "tea",
            "content": "I drink green tea every morning.",
        },
        {
            "scope": "user",
            "entity_id": "other",
            "slug": "regime",
            "content": "Other Co uses the ProPyme regime.",
        },
        {
            "scope": "company",
            "entity_id": "kw",
            "slug": "regime",
            "content": "KW Ltd uses the ProPyme regime.",
        },
    ]
    result = await svc.asave_many(items)
    assert result.failed_count == 0, result.errors
    return svc


def test_modes_are_validated() -> None:
    assert [validate_mode(m) for m in SEARCH_MODES] == ["vector", "keyword", "hybrid"]
    with pytest.raises(MemoryValidationError, match="search mode must be one of"):
        validate_mode("semantic")


async def test_bad_mode_is_rejected(service: MemoryService) -> None:
    with pytest.raises(MemoryValidationError, match="search mode"):
        await service.asearch("user", "kw", "tea", mode="fuzzy")
    with pytest.raises(MemoryValidationError, match="search mode"):
        MemoryService(service.pool, service.index, search_mode="bm25")


async def test_default_mode_is_hybrid(service: MemoryService) -> None:
    assert service.search_mode == "hybrid"
    default = await service.asearch("user", "kw", "which tax regime?", k=4)
    hybrid = await service.asearch("user", "kw", "which tax regime?", k=4, mode="hybrid")
    assert [h.slug for h in default] == [h.slug for h in hybrid]


async def test_keyword_mode_ranks_exact_terms_stems_and_folded_accents(service: MemoryService) -> None:
    hits = await service.asearch("user", "kw", "propyme", mode="keyword")
    assert [h.slug for h in hits] == ["regime"] and hits[0].score > 0
    # Stemming: "painting" and "sunrises" reach "painted a sunrise".
    assert [h.slug for h in await service.asearch("user", "kw", "painting sunrises", mode="keyword")] == [
        "painting"
    ]
    # Accent folding, both ways.
    assert [h.slug for h in await service.asearch("user", "kw", "valparaiso", mode="keyword")] == ["city"]
    es = await service.asearch("user", "es", "Valparaiso contadora", mode="keyword")
    assert [h.slug for h in es][:1] == ["trabajo"]
    # Category filter applies to the keyword side too.
    assert await service.asearch("user", "kw", "sunrise", mode="keyword", category="fact") == []
    assert [
        h.slug for h in await service.asearch("user", "kw", "sunrise", mode="keyword", category="hobby")
    ] == ["painting"]


async def test_keyword_mode_with_only_stop_words_or_unknown_words_finds_nothing(
    service: MemoryService,
) -> None:
    assert await service.asearch("user", "kw", "what is the", mode="keyword") == []
    assert await service.asearch("user", "kw", "zzyzx", mode="keyword") == []
    # Hybrid still answers from the vector side.
    assert len(await service.asearch("user", "kw", "what is the", mode="hybrid", k=2)) == 2


@pytest.mark.parametrize("mode", SEARCH_MODES)
async def test_every_mode_returns_only_the_callers_synced_memories(service: MemoryService, mode: str) -> None:
    hits = await service.asearch("user", "kw", "ProPyme regime", k=10, mode=mode)
    assert "Acme uses the ProPyme tax regime." in [h.content for h in hits]
    assert not any("Other Co" in h.content or "KW Ltd" in h.content for h in hits)
    company = await service.asearch("company", "kw", "ProPyme regime", k=10, mode=mode)
    assert [h.content for h in company] == ["KW Ltd uses the ProPyme regime."]
    assert await service.asearch("user", "nobody", "ProPyme regime", mode=mode) == []
    # A row that is not synced (here: marked pending behind the service's back) is never returned.
    async with service.pool.connection() as conn:
        await conn.execute(
            "UPDATE brain_memories SET sync_state = 'pending' WHERE scope = 'user' AND entity_id = 'other'"
        )
    try:
        assert await service.asearch("user", "other", "ProPyme regime", k=10, mode=mode) == []
    finally:
        async with service.pool.connection() as conn:
            await conn.execute(
                "UPDATE brain_memories SET sync_state = 'synced' WHERE scope = 'user' AND entity_id = 'other'"
            )


async def test_language_is_guessed_for_the_full_text_column(service: MemoryService) -> None:
    async with service.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT brain_ts_config(t)::text AS cfg FROM unnest(%s::text[]) WITH ORDINALITY AS x(t, n)"
                " ORDER BY n",
                ([SPANISH["perro"], FRENCH["travail"], "When did Melanie paint a sunrise?", "Bruno 42"],),
            )
        ).fetchall()
    assert [r["cfg"] for r in rows] == ["spanish", "french", "english", "simple"]


def _rank_of(slugs: list[str], expected: str) -> int | None:
    return slugs.index(expected) + 1 if expected in slugs else None


async def test_hybrid_is_no_worse_than_vector_in_french_and_spanish(service: MemoryService) -> None:
    found: dict[str, dict[int, int]] = {}
    for mode in ("vector", "hybrid"):
        found[mode] = {1: 0, 3: 0}
        for entity, query, expected in QUESTIONS:
            slugs = [h.slug for h in await service.asearch("user", entity, query, k=3, mode=mode)]
            rank = _rank_of(slugs, expected)
            for k in (1, 3):
                found[mode][k] += rank is not None and rank <= k
    assert found["hybrid"][1] >= found["vector"][1], found
    assert found["hybrid"][3] >= found["vector"][3], found
    # And the same-language questions are answered at rank 1 by hybrid search.
    for entity, query, expected in SAME_LANGUAGE:
        hits = await service.asearch("user", entity, query, k=1)
        assert [h.slug for h in hits] == [expected], query


def _hits(*ids: str) -> list[RankedHit]:
    return [RankedHit(i, float(len(ids) - n)) for n, i in enumerate(ids)]


def test_rrf_fuse_rewards_agreement_and_keeps_first_list_order_on_ties() -> None:
    fused = rrf_fuse([_hits("a", "b", "c"), _hits("c", "d")], [1.0, 1.0], rrf_k=60)
    assert [h.memory_id for h in fused] == ["c", "a", "b", "d"]
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)
    weighted = rrf_fuse([_hits("a", "b"), _hits("b", "a")], [1.0, 2.0], rrf_k=60)
    assert [h.memory_id for h in weighted] == ["b", "a"]
    with pytest.raises(ValueError):
        rrf_fuse([_hits("a")], [1.0, 2.0])


def test_relative_fuse_is_a_weighted_mean_of_unit_scaled_scores() -> None:
    vector = [RankedHit("a", 0.9, "a"), RankedHit("b", 0.8, "b"), RankedHit("c", 0.7, "c")]
    keyword = [RankedHit("c", 12.0), RankedHit("d", 3.0)]
    fused = relative_fuse([vector, keyword], [1.0, 1.5])
    assert {h.memory_id: round(h.score, 6) for h in fused} == {"a": 0.4, "b": 0.2, "c": 0.6, "d": 0.0}
    assert [h.memory_id for h in fused] == ["c", "a", "b", "d"]
    assert fused[0].slug == "c"  # the slug hint survives from the list that had it
    assert [h.score for h in relative_fuse([[RankedHit("x", 0.3)], []], [1.0, 1.0])] == [0.5]


def test_neighbour_slugs() -> None:
    assert neighbour_slugs("d3-12") == ["d3-11", "d3-13"]
    assert neighbour_slugs("note-007") == ["note-006", "note-008"]
    assert neighbour_slugs("turn0") == ["turn1"]
    assert neighbour_slugs("company_tax_regime") == []


async def test_hybrid_adds_sequence_neighbours_of_strong_hits(service: MemoryService) -> None:
    await service.asave_many(
        [
            {"scope": "user", "entity_id": "seq", "slug": f"chat-{n}", "content": text, "category": cat}
            for n, (text, cat) in enumerate(
                [
                    ("Anything new with your garden?", "fact"),
                    ("Yes, I finally planted tomatoes and basil.", "fact"),
                    ("How did the job interview at the bakery go?", "fact"),
                    ("Great, they offered me the position!", "fact"),
                    ("Did you watch the football final?", "fact"),
                    ("No, I was asleep by nine.", "note"),
                ],
                start=1,
            )
        ]
    )
    hits = await service.asearch("user", "seq", "job interview at the bakery", k=2)
    assert [h.slug for h in hits] == ["chat-3", "chat-4"]
    # Neighbours obey the category filter and the mode: keyword mode does no expansion.
    hits = await service.asearch("user", "seq", "football final", k=3, category="fact")
    assert "chat-6" not in [h.slug for h in hits]
    keyword = await service.asearch("user", "seq", "job interview at the bakery", k=3, mode="keyword")
    assert [h.slug for h in keyword] == ["chat-3"]
    off = MemoryService(service.pool, service.index, retrieval=RetrievalOptions(neighbour_weight=0))
    assert "chat-4" not in [h.slug for h in await off.asearch("user", "seq", "bakery job interview", k=1)]


# Cross-lingual switch and temporal intent (query_signals; issue 15). Memories as in
# bench/sets_crosslingual.py: the answer in French, same-language distractors that share the
# question's words, a few fillers in each language.
MIXED = {
    "pet": "Mon chien s'appelle Nala.",
    "pet-other-en": "The dog walker's name is Bruno; he picks up the dogs on Mondays.",
    "pet-other-es": "El paseador de perros se llama Bruno y viene a buscar a los perros los lunes.",
    "home": "J'habite à Lyon depuis cinq ans.",
    "job": "Je travaille comme plombier.",
    "dish-en": "The canteen serves lasagne on Fridays.",
    "goal-es": "Mi hermana quiere correr un maratón este año.",
}
# LoCoMo-like turns: the time-stating answer and a turn that shares more of the question's words.
TURNS = {
    "d1-1": "Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
    "d1-2": "Caroline: The LGBTQ support group helps so many people, I love going to the support group.",
    "d1-3": "Melanie: I took the kids to the museum, they loved the dinosaurs.",
    "d2-1": "Caroline: I finally read Becoming Nicole, such a moving book.",
    "d2-2": "Melanie: Reading is my favourite way to relax after work.",
    "d2-3": "Caroline: Books have helped me through hard times, they inspire me.",
}


@pytest.fixture(scope="module")
async def signals(service: MemoryService) -> MemoryService:
    items = [{"scope": "user", "entity_id": "mixed", "slug": s, "content": c} for s, c in MIXED.items()]
    items += [{"scope": "user", "entity_id": "turns", "slug": s, "content": c} for s, c in TURNS.items()]
    result = await service.asave_many(items)
    assert result.failed_count == 0, result.errors
    return service


def _with(service: MemoryService, **options: object) -> MemoryService:
    return MemoryService(service.pool, service.index, retrieval=RetrievalOptions(**options))  # type: ignore[arg-type]


async def test_cross_lingual_answer_ranks_first_over_a_same_language_lexical_distractor(
    signals: MemoryService,
) -> None:
    for query in ("What is my dog's name?", "¿Cómo se llama mi perro?"):
        vector = await signals.asearch("user", "mixed", query, k=1, mode="vector")
        hybrid = await signals.asearch("user", "mixed", query, k=1)
        assert [h.slug for h in vector] == [h.slug for h in hybrid] == ["pet"], query
    # Without the switch the keyword side puts the English distractor first: the switch is what helps.
    off = await _with(signals, cross_lingual_depth=0).asearch("user", "mixed", "What is my dog's name?", k=1)
    assert [h.slug for h in off] == ["pet-other-en"]


async def test_the_keyword_side_still_counts_in_a_single_language_tenant(signals: MemoryService) -> None:
    query = "What did Caroline think of Becoming Nicole?"
    hybrid = await signals.asearch("user", "turns", query, k=2)
    keyword = await signals.asearch("user", "turns", query, k=1, mode="keyword")
    assert [h.slug for h in keyword] == ["d2-1"]
    assert hybrid[0].slug == "d2-1"
    # The fused score still carries the keyword side (a vector-only order would score <= 0.4).
    # With the final score's weights at 0, hits keep the fused score (`ranking`).
    fused = await _with(signals, importance_weight=0.0).asearch("user", "turns", query, k=1)
    assert fused[0].slug == "d2-1" and fused[0].score > 0.4


async def test_a_when_question_ranks_the_memory_that_states_a_time_first(signals: MemoryService) -> None:
    query = "When did Caroline go to the LGBTQ support group?"
    hits = await signals.asearch("user", "turns", query, k=2)
    assert [h.slug for h in hits] == ["d1-1", "d1-2"]
    fused = await _with(signals, importance_weight=0.0).asearch("user", "turns", query, k=1)
    assert fused[0].score > 1.0  # fused score + temporal_weight 0.2
    plain = await _with(signals, temporal_weight=0).asearch("user", "turns", query, k=2)
    assert [h.slug for h in plain] == ["d1-2", "d1-1"]
    # Not a "when" question: no boost, the turn sharing more words stays first.
    other = await signals.asearch("user", "turns", "Did Caroline like the LGBTQ support group?", k=1)
    assert [h.slug for h in other] == ["d1-2"]


def test_query_signals() -> None:
    asks_when = [
        "When did Melanie paint a sunrise?",
        "What year did John move?",
        "Quand est mon anniversaire ?",
        "¿Cuándo es mi cumpleaños?",
        "In which month did they meet? What date was it?",
    ]
    assert all(temporal_question(q) for q in asks_when)
    other = ["Where do I work?", "What did Caroline say whenever she was sad?", "Quel est mon métier ?"]
    assert not any(temporal_question(q) for q in other)
    timed = [
        "I went there yesterday.",
        "We met last summer.",
        "Born on 3 May.",
        "In 2022 I moved.",
        "I'm in bed by ten.",
        "Nous partons demain.",
        "La reunión fue ayer.",
    ]
    assert all(states_time(t) for t in timed)
    untimed = ["I love pottery.", "Mon chien s'appelle Nala.", "Mayonnaise is great.", "I may come along."]
    assert not any(states_time(t) for t in untimed)
    assert cross_lingual("english", ["french", "english"], [])
    assert not cross_lingual("english", ["english", "simple"], ["english"])
    assert cross_lingual("simple", ["spanish"], ["english"])  # the keyword side's own language
    assert not cross_lingual("simple", ["spanish"], ["simple"])  # nothing known: no switch


def test_signal_options_are_validated() -> None:
    for bad in ({"cross_lingual_depth": -1}, {"temporal_weight": -0.1}, {"temporal_weight": float("nan")}):
        with pytest.raises(MemoryValidationError):
            RetrievalOptions(**bad)


async def test_signals_statement_reads_only_the_callers_rows(signals: MemoryService) -> None:
    """Attacks on the one new statement (`search.aquery_signals`): another tenant's memory ids as
    candidates (vector side, keyword side) and SQL in the query. None reads a foreign row."""
    async with signals.admin_pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT entity_id, slug, memory_id::text AS id FROM brain_memories"
                " WHERE scope = 'user' AND entity_id IN ('mixed', 'turns')"
            )
        ).fetchall()
    ids = {(r["entity_id"], r["slug"]): r["id"] for r in rows}
    foreign = [RankedHit(ids[("turns", "d1-1")], 1.0, "d1-1"), RankedHit(ids[("mixed", "pet")], 0.9, "pet")]
    # "kw" is an English tenant: a French memory of "mixed" among its top candidates would switch,
    # a time-stating turn of "turns" would be boosted, if the statement could read them.
    when = "When did Caroline go to the LGBTQ support group?"
    assert await aquery_signals(signals, "user", "kw", when, foreign, []) == (False, set())
    assert await aquery_signals(signals, "user", "kw", when, [], foreign) == (False, set())
    # The owner's call with the same id is boosted: the refusals above are the tenant filter's.
    own = (False, {foreign[0].memory_id})
    assert await aquery_signals(signals, "user", "turns", when, foreign[:1], []) == own
    injected = "When'); DELETE FROM brain_memories; --"
    assert await aquery_signals(signals, "user", "turns", injected, foreign[:1], []) == own
    assert [h.slug for h in await signals.asearch("user", "turns", when, k=1)] == ["d1-1"]


# One person's facts (bench/bench_time.py's): each now-question shares only the name with its answer.
# English stems "Felipe" to "felip": a text guessed English holds both, a 'simple' one the word only.
PERSON = {
    "home_city": ("Felipe lives in Madrid.", "Which city does Felipe live in?"),
    "employer": ("Felipe works at Globex as an engineer.", "Which company does Felipe work for?"),
    "car": ("Felipe drives a red Toyota Corolla.", "What car does Felipe drive?"),
    "pet": ("Felipe has a pet dog named Rex.", "What pet does Felipe have?"),
    "hobby": ("Felipe's hobby is chess.", "What is Felipe's hobby?"),
}


async def test_a_name_held_by_every_fact_does_not_outrank_the_meaning(service: MemoryService) -> None:
    """Every fact holds the name (a text guessed English as stem and word, so twice), so BM25
    orders them by tf and length alone; hybrid leaves such a keyword list out (`informative`)."""
    items = [{"scope": "user", "entity_id": "felipe", "slug": s, "content": c[0]} for s, c in PERSON.items()]
    assert (await service.asave_many(items)).failed_count == 0
    firsts = {}
    for slug, (_, question) in PERSON.items():
        vector = await service.asearch("user", "felipe", question, k=1, mode="vector")
        hybrid = await service.asearch("user", "felipe", question, k=1)
        firsts[slug] = (vector[0].slug, hybrid[0].slug)
    assert firsts == {slug: (slug, slug) for slug in PERSON}
    # The keyword side alone puts another fact first for the city: what hybrid used to follow.
    keyword = await service.asearch("user", "felipe", PERSON["home_city"][1], k=1, mode="keyword")
    assert [h.slug for h in keyword] != ["home_city"]


def test_a_keyword_list_is_informative_unless_its_memories_hold_the_same_words() -> None:
    row = {"memory_id": "m", "slug": "s", "score": 1.0}
    same = [row | {"words": 0b1000}, row | {"words": 0b1000}]  # a bit per query word held
    assert not informative(same)
    assert informative([*same, row | {"words": 0b11000}])
    assert informative(same[:1]) and informative([])  # a lone hit is evidence; none is nothing to drop

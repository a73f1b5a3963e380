"""Candidate hybrid rankings for bench/eval_ranking.py, replayed on recorded candidate lists.

`eval_ranking.py` records, once per question, what the real search path produces before fusion:
the vector list (Mem0 + e5, 50 candidates, cosine scores), the keyword list (the brain's BM25
SQL, 50 candidates) and the full-text language Postgres guesses for the query and for each
memory. Every configuration below is then a pure function of those lists, so a grid of
configurations costs seconds instead of one full benchmark run each; the configuration kept is
re-run end to end through `MemoryService.asearch` to check that the replay matches.

Configuration knobs (see `Config`): how each side's scores are scaled (min-max, the current
default; or distribution-based, mean +- 3 sd), the keyword weight, a gate that lets keyword
evidence count only for the vector side's top-M candidates, and language abstention: for a
memory whose guessed language differs from the query's, the keyword side has no way to see a
match (the words differ), so instead of scoring it 0 it abstains and the memory keeps its vector
score on that side too. Sequence-neighbour expansion is applied afterwards exactly as search.py
does (a neighbour slug present in the tenant gets weight x the seed's fused score).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.ranking_signals import (
    UNKNOWN_LANGUAGES,
    attainable,
    bm25,
    cross_lingual,
    matched_share,
    matched_words,
    states_time,
    temporal_question,
    word_positions,
)
from langgraph_brain.brain.retrieval import neighbour_slugs

Hit = tuple[str, float]  # (slug, score), best first


@dataclass(frozen=True)
class Config:
    """One ranking to replay. mode "vector"/"keyword" replay a single list."""

    name: str
    mode: str = "hybrid"
    scaling: str = "minmax"  # "minmax" or "dbsf" (mean +- 3 standard deviations, clipped)
    vector_weight: float = 1.0
    keyword_weight: float = 1.5
    gate: int | None = None  # keyword evidence counts only within the vector top-`gate`
    abstain: bool = False  # keyword side abstains on memories in another language than the query
    guard: int = 0  # the vector top-`guard` memories the keyword side cannot see keep their rank
    # Agreement weighting: the keyword weight times the share of the keyword top-`agree` found in
    # the vector top-`agree_depth` (at least `agree_floor`); 0 turns it off.
    agree: int = 0
    agree_depth: int = 50
    agree_floor: float = 0.0
    neighbour_weight: float = 0.5
    neighbour_seeds: int = 10
    # Keyword scale: "minmax" (today), "attain" (BM25 / the query's attainable BM25, clipped to
    # 1: a lone or partial keyword hit no longer scores 1.0), "attain-all" (the same over every
    # query lexeme, other languages' stems included), "max0" (BM25 / the list's best, floor 0).
    kw_scale: str = ""
    vec_scale: str = ""  # "" as `scaling`; "top": cosine / the best cosine
    # Cross-lingual switch: when the vector top-3 holds a memory in another known language than the
    # query's, "gate": keyword evidence counts only for vector candidates; "off": vector order.
    xl: str = ""
    xl_depth: int = 3
    temporal: float = 0.0  # a "when" question: + this for a candidate whose text states a time
    reserve: float = 0.0  # the vector top-floor(k * reserve) always stays in the top k
    min_terms: int = 0  # keyword score x share matched unless >= min_terms distinct lexemes match
    min_words: int = 0  # keyword evidence of a memory holding fewer distinct query words is dropped
    min_words_query: bool = False  # ... but at most the query's own number of words
    few_words_factor: float = -1.0  # ... or scaled by this factor (0: by its share of the idf mass)


def scale(hits: Sequence[Hit], how: str) -> dict[str, float]:
    """Each list's scores on 0..1: min-max, or distribution-based (mean +- 3 sd, clipped)."""
    if not hits:
        return {}
    scores = [s for _, s in hits]
    if how == "dbsf" and len(scores) > 1:
        mean, sd = statistics.fmean(scores), statistics.pstdev(scores)
        lo, hi = mean - 3 * sd, mean + 3 * sd
    else:
        lo, hi = min(scores), max(scores)
    return {slug: min(1.0, max(0.0, (s - lo) / (hi - lo))) if hi > lo else 1.0 for slug, s in hits}


def keyword_scale(config: Config, rec: Mapping[str, Any]) -> dict[str, float]:
    """The keyword side's scores on 0..1 for `config`."""
    keyword = rec["keyword"]
    how = config.kw_scale or config.scaling
    if how == "rsj":  # min-max after leaving out lexemes in more than half the memories
        rescored = [(slug, bm25(rec, slug, common=False)) for slug, _ in keyword]
        return scale(sorted([h for h in rescored if h[1] > 0], key=lambda h: -h[1]), "minmax")
    if how in ("attain", "attain-all") and keyword:
        top = attainable(rec, own_only=how == "attain")
        return {slug: min(1.0, s / top) if top > 0 else 0.0 for slug, s in keyword}
    if how == "max0" and keyword:
        top = max(s for _, s in keyword)
        return {slug: s / top if top > 0 else 0.0 for slug, s in keyword}
    return scale(keyword, how)


def vector_scale(config: Config, vector: Sequence[Hit]) -> dict[str, float]:
    """The vector side's scores on 0..1 for `config`."""
    if config.vec_scale == "top" and vector:
        top = max(s for _, s in vector)
        return {slug: max(0.0, s / top) for slug, s in vector}
    return scale(vector, config.vec_scale or config.scaling)


def rank(config: Config, rec: Mapping[str, Any], k: int = 10) -> list[str]:
    """The top-`k` slugs `config` returns for one question."""
    vector, keyword = rec["vector"], rec["keyword"]
    languages, query_language, tenant_slugs = rec["languages"], rec["query_language"], rec["slugs"]
    if config.mode == "vector":
        return [slug for slug, _ in vector[:k]]
    if config.mode == "keyword":
        return [slug for slug, _ in keyword[:k]]
    v = vector_scale(config, vector)
    kw = keyword_scale(config, rec)
    if config.min_terms:
        kw = {
            s: x if len(rec["matched"].get(s, {})) >= config.min_terms else x * matched_share(rec, s)
            for s, x in kw.items()
        }
    if config.min_words:
        # A question of fewer words than min_words (a name, a code) keeps its keyword evidence
        # when `min_words_query` (not the default) says so.
        need = config.min_words
        if config.min_words_query:
            need = min(need, max(1, len(set().union(*word_positions(rec).values()))))
        kw = {
            s: x
            if matched_words(rec, s) >= need
            else x * (config.few_words_factor or matched_share(rec, s))
            if config.few_words_factor >= 0
            else 0.0
            for s, x in kw.items()
        }
    gated = {slug for slug, _ in vector[: config.gate]} if config.gate is not None else None
    switched = bool(config.xl) and cross_lingual(rec, config.xl_depth)
    if switched and config.xl == "off":  # as search.arank: the keyword list is left out
        kw, keyword = {}, []
    elif switched and config.xl == "gate":
        gated = set(v)
    keyword_weight = config.keyword_weight
    if config.agree and keyword:
        strong = {slug for slug, _ in vector[: config.agree_depth]}
        top = [slug for slug, _ in keyword[: config.agree]]
        keyword_weight *= max(config.agree_floor, sum(s in strong for s in top) / len(top))
    total = config.vector_weight + keyword_weight
    when = config.temporal and temporal_question(rec["question"])
    fused: dict[str, float] = {}
    for slug in dict.fromkeys([s for s, _ in vector] + [s for s, _ in keyword]):
        k_score = kw.get(slug, 0.0)
        if gated is not None and slug not in gated:
            k_score = 0.0
        if (
            config.abstain
            and slug in v
            and query_language not in UNKNOWN_LANGUAGES
            and languages.get(slug, "simple") not in UNKNOWN_LANGUAGES
            and languages[slug] != query_language
        ):
            k_score = v[slug]
        fused[slug] = (config.vector_weight * v.get(slug, 0.0) + keyword_weight * k_score) / total
        if when and states_time(rec.get("texts", {}).get(slug, "")):
            fused[slug] += config.temporal
    order = sorted(fused, key=lambda s: -fused[s])  # stable: first-seen order on ties, as in search.py
    if config.guard:
        order = guarded(order, vector, keyword, languages, query_language, config.guard)
        fused = dict(zip(order, sorted(fused.values(), reverse=True), strict=True))
    scored = {s: fused[s] for s in order}
    if config.neighbour_weight > 0:
        for seed in order[: config.neighbour_seeds]:
            for near in neighbour_slugs(seed):
                if near in tenant_slugs:
                    extra = config.neighbour_weight * fused[seed]
                    if extra > scored.get(near, float("-inf")):
                        scored[near] = extra
    top_k = sorted(scored, key=lambda s: -scored[s])[:k]
    reserved = [s for s, _ in vector[: int(k * config.reserve)]]
    missing = [s for s in reserved if s not in top_k]
    if missing:
        kept = [s for s in top_k if s in reserved]
        free = [s for s in top_k if s not in reserved][: k - len(kept) - len(missing)]
        keep = set(kept) | set(free)
        top_k = [s for s in top_k if s in keep] + missing
    return top_k


def guarded(
    order: list[str],
    vector: Sequence[Hit],
    keyword: Sequence[Hit],
    languages: Mapping[str, str],
    query_language: str,
    depth: int,
) -> list[str]:
    """`order` with the vector top-`depth` memories the keyword side could not see kept in place.

    The keyword side sees the query's language (when Postgres cannot guess it, the languages of
    its own top-`depth` hits). A vector candidate in another known language, with no keyword hit, scores 0
    there for lack of shared words, not for lack of relevance; it keeps its vector rank and the
    fused order fills the other positions, so keyword evidence reorders only what it could judge.
    """
    if query_language not in UNKNOWN_LANGUAGES:
        seen = {query_language}
    else:
        seen = {languages.get(s, "") for s, _ in keyword[:depth]} - UNKNOWN_LANGUAGES
    if not seen:
        return order
    matched = {s for s, _ in keyword}
    pinned = {
        i: s
        for i, (s, _) in enumerate(vector[:depth])
        if languages.get(s, "") not in UNKNOWN_LANGUAGES and languages[s] not in seen and s not in matched
    }
    if not pinned:
        return order
    rest = iter(s for s in order if s not in pinned.values())
    return [pinned[i] if i in pinned else next(rest) for i in range(len(order))]


def score_question(top: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """recall@5, recall@10 (share of gold slugs in the top k) and hit@1 for one question."""
    out = {f"r{k}": sum(g in top[:k] for g in gold) / len(gold) for k in (5, 10)}
    out["hit1"] = float(bool(top) and top[0] in gold)
    return out


def evaluate(config: Config, records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean recall@5/@10 and hit@1 per group ("all", each category, each split) of the records."""
    groups: dict[str, list[dict[str, float]]] = {}
    for rec in records:
        top = rank(config, rec)
        scores = score_question(top, rec["gold"])
        if config.reserve:  # the top 5 is not the top 10's prefix when the reserve depends on k
            scores["r5"] = score_question(rank(config, rec, 5), rec["gold"])["r5"]
        for group in ("all", f"cat:{rec['category']}", f"split:{rec['split']}"):
            groups.setdefault(group, []).append(scores)
    return {
        g: {m: statistics.fmean(s[m] for s in rows) for m in ("r5", "r10", "hit1")} | {"n": len(rows)}
        for g, rows in groups.items()
    }


def grid() -> list[Config]:
    """Every configuration tried. Names say what differs from today's default."""
    out = [Config("vector", mode="vector"), Config("keyword", mode="keyword"), Config("hybrid (today)")]
    for wk in (0.5, 1.0, 2.0):
        out.append(Config(f"minmax wk={wk}", keyword_weight=wk))
    for wk in (0.5, 1.0, 1.5):
        out.append(Config(f"dbsf wk={wk}", scaling="dbsf", keyword_weight=wk))
    for gate in (10, 20, 30):
        out.append(Config(f"gate top-{gate}", gate=gate))
    for wk in (1.0, 1.5, 2.0):
        out.append(Config(f"abstain wk={wk}", abstain=True, keyword_weight=wk))
    out.append(Config("abstain + dbsf wk=1.5", abstain=True, scaling="dbsf"))
    out.append(Config("abstain + gate top-20", abstain=True, gate=20))
    for depth in (1, 2, 3, 5, 10):
        out.append(Config(f"guard top-{depth}", guard=depth))
    out.append(Config("guard top-10 + dbsf", guard=10, scaling="dbsf"))
    out.append(Config("guard top-3 wk=2.0", guard=3, keyword_weight=2.0))
    out.append(Config("gate top-50", gate=50))
    for top, depth, floor in ((5, 50, 0.0), (5, 20, 0.0), (1, 10, 0.0), (5, 10, 0.5)):
        name = f"agreement kw top-{top} in vec top-{depth}" + (f", floor {floor}" if floor else "")
        out.append(Config(name, agree=top, agree_depth=depth, agree_floor=floor))
    out.append(Config("agreement kw top-3 in vec top-10 + guard top-3", agree=3, agree_depth=10, guard=3))
    return out + new_grid()


def new_grid() -> list[Config]:
    """This session's configurations (issue 15, "Build 2": calibration, informativeness, reserve,
    cross-lingual switch, temporal intent) and their combinations, in the order they were tried."""
    out = []
    for how in ("attain", "attain-all", "max0"):
        for wk in (1.0, 1.5, 2.0, 3.0):
            out.append(Config(f"kw {how} wk={wk}", kw_scale=how, keyword_weight=wk))
    out.append(Config("kw rsj (no lexeme of > half the memories)", kw_scale="rsj"))
    out.append(Config("vec top", vec_scale="top"))
    out += [Config(f"min-lexemes {n}", min_terms=n) for n in (2, 3)]
    out += [Config(f"min-words {n}", min_words=n, few_words_factor=-1.0) for n in (2, 3)]
    out.append(Config("min-words 2 (1 for one-word queries)", min_words=2, min_words_query=True))
    for share in (0.2, 0.3, 0.4, 0.5):
        out.append(Config(f"reserve {share}k", reserve=share))
    for how in ("gate", "off"):
        for depth in (1, 3, 5):
            out.append(Config(f"xl {how} top-{depth}", xl=how, xl_depth=depth))
    for weight in (0.05, 0.1, 0.2, 0.3):
        out.append(Config(f"temporal +{weight}", temporal=weight))
    for weight in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3):
        out.append(Config(f"xl off top-3 + temporal +{weight}", xl="off", temporal=weight))
    out.append(Config("xl + temporal +0.2 + min-lexemes 2", min_terms=2, xl="off", temporal=0.2))
    for factor, label in ((-1.0, "dropped"), (0.25, "x0.25"), (0.5, "x0.5"), (0.0, "x idf share")):
        out.append(Config(f"xl + temporal +0.2 + min-words 2, one-word evidence {label}",
                          min_words=2, few_words_factor=factor, xl="off", temporal=0.2))  # fmt: skip
    out.append(
        Config(
            "xl + temporal +0.2 + min-words 2, wk=2.0",
            min_words=2,
            keyword_weight=2.0,
            xl="off",
            temporal=0.2,
        )
    )
    out.append(Config("xl + temporal +0.2 + kw rsj", kw_scale="rsj", xl="off", temporal=0.2))
    return out


#: The service's default hybrid ranking (RetrievalOptions: cross_lingual_depth=3, temporal_weight=0.2).
DEFAULT = Config("xl off top-3 + temporal +0.2", xl="off", xl_depth=3, temporal=0.2)
SUMMARY_ROWS = ["vector", "keyword", "hybrid (today)", "guard top-3", DEFAULT.name]

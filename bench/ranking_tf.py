"""Keyword-side rules for the Time target (issue 15), replayed on bench/eval_ranking.py's records.

    python bench/ranking_tf.py /tmp/records.json

Each rule rewrites a record's keyword list, then the service's default hybrid ranking
(`ranking_candidates.DEFAULT`) is replayed on it, and the issue's bar is checked
(`ranking_bar`). Rules:

- `binary tf`: BM25 with every matched lexeme counted once per memory (tf = 1), so a lexeme's
  stemmed and unstemmed copies in a text guessed English no longer count twice. The list is
  re-sorted among the recorded candidates (hits outside the recorded 50 cannot enter: a replay
  approximation).
- `uninformative`: when every keyword candidate holds the same set of query lexemes, the list
  only orders them by term frequency and length, not by what they match: it is left out.
  `uninformative, 2+ hits` keeps a lone hit.
- `same words, 2+ hits` (the rule the service applies: `retrieval.informative`): the same, with
  a stem and its unstemmed word counted as one query word ("felip" and "felipe"), and a lone
  hit kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ranking_bar
from bench.ranking_candidates import DEFAULT, Config, evaluate
from bench.ranking_signals import bm25

Rule = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def binary_tf(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record with its keyword list rescored by BM25 with tf = 1 for every matched lexeme."""
    matched = {s: dict.fromkeys(terms, 1) for s, terms in rec["matched"].items()}
    flat = {**rec, "matched": matched}
    keyword = sorted(((s, bm25(flat, s)) for s, _ in rec["keyword"]), key=lambda h: (-h[1], h[0]))
    return {**rec, "keyword": keyword}


def uninformative(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record without its keyword list when every keyword candidate matches the same lexemes."""
    sets = {frozenset(rec["matched"].get(s, {})) for s, _ in rec["keyword"]}
    return {**rec, "keyword": []} if len(sets) == 1 else rec


def uninformative_many(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    """`uninformative`, but a lone keyword hit (one memory holds the words) is kept."""
    return uninformative(rec) if len(rec["keyword"]) > 1 else rec


def query_words(rec: Mapping[str, Any]) -> dict[str, Any]:
    """Query lexeme -> the query word it comes from (its first token position): brain_search_tsv
    keeps a text guessed in a language as stems at 1..M and words at M+1..2M, so p and p + M are
    one word; a 'simple' query has its words only. Other languages' stems added for a query of
    unknown language are not in the record's positions: each counts as its own word here (the SQL
    gives them their token position)."""
    positions = rec.get("query_positions") or {}
    top = max((p for ps in positions.values() for p in ps), default=0)
    half = 0 if rec["query_language"] == "simple" else top // 2
    return {t: min(p - half if half and p > half else p for p in ps) for t, ps in positions.items() if ps}


def same_words(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record without its keyword list when its 2+ candidates all hold the same query words."""
    if len(rec["keyword"]) < 2:
        return rec
    words = query_words(rec)
    sets = {frozenset(words.get(t, t) for t in rec["matched"].get(s, {})) for s, _ in rec["keyword"]}
    return {**rec, "keyword": []} if len(sets) == 1 else rec


def both(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    return uninformative(binary_tf(rec))


RULES: dict[str, Rule | None] = {
    "default": None,
    "binary tf": binary_tf,
    "uninformative": uninformative,
    "binary tf + uninformative": both,
    "uninformative, 2+ hits": uninformative_many,
    "same words, 2+ hits": same_words,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    records = json.loads(Path(args.records).read_text())
    figures: dict[str, dict[str, Any]] = {}
    fired: dict[str, dict[str, int]] = {}
    for data, recs in records.items():
        figures[data] = {"vector": evaluate(Config("vector", mode="vector"), recs)}
        figures[data]["hybrid (today)"] = evaluate(Config("hybrid (today)"), recs)
        for name, rule in RULES.items():
            rewritten = [rule(r) if rule else r for r in recs]
            changed = sum(a["keyword"] != b["keyword"] for a, b in zip(rewritten, recs, strict=True))
            fired.setdefault(name, {})[data] = changed
            figures[data][name] = evaluate(DEFAULT, rewritten)
    print(ranking_bar.summary(figures))
    print()
    print(ranking_bar.categories(figures, ["hybrid (today)", *RULES]))
    print("\nquestions whose keyword list a rule changed:", json.dumps(fired))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

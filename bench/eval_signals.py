"""Does the final score (importance + recency) cost recall where time should not matter?

    python bench/eval_signals.py ../shared/data/locomo10.json --records /tmp/records.json \
        [--time /tmp/score/time_grid.json] [--json out.json]

Replays today's ranking in each mode from the fusion inputs bench/eval_ranking.py recorded per
question (the 50 vector and 50 keyword candidates; hybrid = `retrieval.relative_fuse` with
today's weights plus the sequence neighbours, as `search.arank` and `search.ajoin_hits` do), then
applies the final score (`ranking.rescore`) for every setting of bench/score_grid.py:

- LoCoMo: every turn's `updated_at` is its session's date from the dataset (the path argument),
  and the search happens the day after the conversation's last session; importance is equal
  (every turn is a plain fact, 0.5). recall@5/@10 overall and by category.
- Cross-lingual and paraphrase: their memories share one timestamp and one importance, so the
  final score is relevance scaled and shifted and the order cannot change; replayed to show it.

With `--time` (the JSON of bench/bench_time.py --json), the settings that lower no LoCoMo
category at k=5 or k=10 in the default (hybrid) mode are ranked by the time set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import score_grid
from bench.locomo import CATEGORIES, load
from bench.ranking_candidates import score_question
from langgraph_brain.brain.ranking import Candidate
from langgraph_brain.brain.retrieval import RankedHit, RetrievalOptions, neighbour_slugs, relative_fuse

MODES = ("hybrid", "vector", "keyword")
SHARED_TIME = datetime(2025, 1, 1, tzinfo=UTC)  # the generated sets' one timestamp
EQUAL_IMPORTANCE = 0.5


def session_dates(path: str) -> list[dict[str, datetime]]:
    """Per conversation (in file order), slug -> its session's date ("1:56 pm on 8 May, 2023")."""
    out = []
    for conv in load(Path(path), None):
        out.append(
            {
                item["slug"]: datetime.strptime(
                    item["metadata"]["session_date"], "%I:%M %p on %d %B, %Y"
                ).replace(tzinfo=UTC)
                for item in conv["items"]
            }
        )
    return out


def assign_dates(records: Sequence[dict[str, Any]], path: str) -> None:
    """Give each LoCoMo record its conversation's dates; records are in conversation order."""
    conversations = load(Path(path), None)
    dates = session_dates(path)
    flat = [(i, q["question"]) for i, conv in enumerate(conversations) for q in conv["questions"]]
    if len(flat) != len(records):
        raise SystemExit(f"{len(records)} LoCoMo records but {len(flat)} questions in {path}")
    for rec, (i, question) in zip(records, flat, strict=True):
        if rec["question"] != question:
            raise SystemExit(f"record order differs from {path}: {rec['question']!r} vs {question!r}")
        rec["dates"] = dates[i]
        rec["now"] = max(dates[i].values()) + timedelta(days=1)


def candidates(rec: Mapping[str, Any], mode: str) -> list[Candidate]:
    """Today's joined candidates for one question and mode, best first, as `ajoin_hits` orders them."""
    opts = RetrievalOptions()
    dates = rec.get("dates", {})
    tenant = set(rec["slugs"])
    if mode == "hybrid":
        vector = [RankedHit(s, score, s) for s, score in rec["vector"]]
        keyword = [RankedHit(s, score, s) for s, score in rec["keyword"]]
        fused = relative_fuse([vector, keyword], [opts.vector_weight, opts.keyword_weight])
        scored = {h.memory_id: h.score for h in fused}
        neighbours: dict[str, float] = {}
        for seed in fused[: opts.neighbour_seeds]:
            for near in neighbour_slugs(seed.slug or ""):
                neighbours[near] = max(neighbours.get(near, 0.0), opts.neighbour_weight * seed.score)
        for near, extra in neighbours.items():
            if near in tenant and extra > scored.get(near, float("-inf")):
                scored[near] = extra
    else:
        scored = {}
        for s, score in rec[mode]:
            scored.setdefault(s, score)
    order = sorted(scored, key=lambda s: -scored[s])
    return [Candidate(s, scored[s], EQUAL_IMPORTANCE, dates.get(s, SHARED_TIME)) for s in order]


def evaluate(
    records: Sequence[Mapping[str, Any]], mode: str, settings: Sequence[score_grid.Setting]
) -> dict[str, dict[str, dict[str, float]]]:
    """setting label -> group -> mean recall@5/@10 and hit@1."""
    groups: dict[str, dict[str, list[dict[str, float]]]] = {score_grid.label(s): {} for s in settings}
    for rec in records:
        cands = candidates(rec, mode)
        now = rec.get("now", SHARED_TIME + timedelta(days=1))
        for setting in settings:
            scores = score_question(score_grid.order(cands, now, setting)[:10], rec["gold"])
            for g in ("all", f"cat:{rec['category']}"):
                groups[score_grid.label(setting)].setdefault(g, []).append(scores)
    return {
        name: {g: {m: statistics.fmean(r[m] for r in rows) for m in ("r5", "r10", "hit1")} | {"n": len(rows)}
               for g, rows in by_group.items()}
        for name, by_group in groups.items()
    }  # fmt: skip


def check_replay(records: Sequence[dict[str, Any]]) -> str:
    """How many questions' replayed top 10 (weights 0) differ from the recorded end-to-end asearch
    (eval_ranking.py --verify), per mode."""
    out = []
    for mode in MODES:
        key = f"asearch_{mode}"
        if records and key in records[0]:
            differ = sum([c.key for c in candidates(rec, mode)][:10] != rec[key] for rec in records)
            out.append(f"{mode} {differ}")
    return ", ".join(out) or "not recorded (no --verify)"


def lowers(base: Mapping[str, Mapping[str, float]], mine: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Groups and k where `mine` is below `base`, in questions (rounded)."""
    out = []
    for g, row in base.items():
        for k in ("r5", "r10"):
            gap = (mine[g][k] - row[k]) * row["n"]
            if gap < -1e-9:
                out.append(f"{g} {k} {gap:+.1f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("locomo", help="path to locomo10.json (session dates)")
    parser.add_argument("--records", required=True, help="bench/eval_ranking.py --records output")
    parser.add_argument("--time", help="bench/bench_time.py --json output, to rank the settings that pass")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--grid", choices=["full", "fine"], default="full", help="score_grid.grid or .fine")
    args = parser.parse_args()
    modes = args.modes.split(",")
    records: dict[str, list[dict[str, Any]]] = json.loads(Path(args.records).read_text())
    assign_dates(records["locomo"], args.locomo)
    settings = score_grid.grid() if args.grid == "full" else score_grid.fine()
    figures: dict[str, Any] = {}
    for name, recs in records.items():
        print(
            f"{name}: {len(recs)} questions; replay differs from end-to-end asearch in: {check_replay(recs)}"
        )
        figures[name] = {mode: evaluate(recs, mode, settings) for mode in modes}
    base = score_grid.label(score_grid.BASELINE)
    passing = {}
    for mode in modes:
        print(f"\n### mode {mode}: settings that change a set's recall (of {len(settings)})\n")
        cats = [f"cat:{c}" for c in CATEGORIES.values()]
        print("| setting | set | all R@5 / R@10 | " + " | ".join(f"{c[4:]} R@5 / R@10" for c in cats) + " |")
        print("|---|---|---|" + "---|" * len(cats))
        for name, by_setting in figures.items():
            groups = ["all", *(cats if name == "locomo" else [])]
            for label, fig in by_setting[mode].items():
                if label != base and all(fig[g] == by_setting[mode][base][g] for g in groups):
                    continue
                cells = [f"{fig[g]['r5']:.3f} / {fig[g]['r10']:.3f}" for g in groups]
                print(
                    f"| {label} | {name} | " + " | ".join(cells + [""] * (len(cats) + 1 - len(cells))) + " |"
                )
        passing[mode] = [
            label
            for label in figures["locomo"][mode]
            if all(not lowers(figures[n][mode][base], figures[n][mode][label]) for n in figures)
        ]
        print(f"\n{mode}: {len(passing[mode])} settings lower no set and no LoCoMo category at k=5 or 10")
    if args.time and "hybrid" in modes:
        rank_by_time(json.loads(Path(args.time).read_text()), passing, figures)
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "passing": passing}, indent=1))


def rank_by_time(
    time: Mapping[str, Any], passing: Mapping[str, list[str]], figures: Mapping[str, Any]
) -> None:
    """The passing settings of the default mode, best first by the time set's worst variant."""
    hybrid = time["hybrid"]
    ok = [label for label in passing["hybrid"] if label in hybrid]
    ok.sort(key=lambda s: (-min(hybrid[s].values()), -sum(hybrid[s].values())))
    print("\n### hybrid: settings that lower nothing, by the time set (now-questions, current value first)\n")
    print("| setting | " + " | ".join(hybrid[ok[0]]) + " | LoCoMo all R@5 / R@10 | temporal R@5 / R@10 |")
    print("|---|" + "---|" * (len(hybrid[ok[0]]) + 2))
    for label in ok[:15]:
        loc = figures["locomo"]["hybrid"][label]
        print(f"| {label} | " + " | ".join(f"{v:.0%}" for v in hybrid[label].values())
              + f" | {loc['all']['r5']:.3f} / {loc['all']['r10']:.3f}"
              + f" | {loc['cat:temporal']['r5']:.3f} / {loc['cat:temporal']['r10']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()

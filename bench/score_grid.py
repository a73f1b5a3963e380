"""The final-score settings tried (bench/bench_time.py, bench/eval_signals.py), replayed on
recorded candidates with the production function `langgraph_brain.brain.ranking.rescore`.

A setting is (importance weight, recency weight, half-life in days, age origin). The age origin
says from which instant a candidate's age is counted: "now" (the time of the search) or "newest"
(the newest candidate's `updated_at`, so that the freshest candidate always has recency 1 and a
tenant that has not been written to for a while keeps its recency order). Replaying is exact: a
candidate list recorded with both weights 0 is the list `search.ajoin_hits` rescored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from langgraph_brain.brain.ranking import Candidate, rescore

Setting = tuple[float, float, float, str]
BASELINE: Setting = (0.0, 0.0, 30.0, "now")


def grid() -> list[Setting]:
    """Every setting tried; with a recency weight of 0 the half-life and origin do not matter."""
    out: list[Setting] = []
    for wi in (0.0, 0.1, 0.2, 0.3):
        out.append((wi, 0.0, 30.0, "now"))
        for wr in (0.05, 0.1, 0.2, 0.3, 0.5):
            for half_life in (7.0, 30.0, 90.0, 365.0, 730.0):
                for origin in ("now", "newest"):
                    if wi + wr <= 1:
                        out.append((wi, wr, half_life, origin))
    return out


def fine() -> list[Setting]:
    """Small recency weights with long half-lives (the full grid's least harmful corner on LoCoMo),
    with and without the importance weight."""
    return [BASELINE] + [
        (wi, wr, half_life, "now")
        for wi in (0.0, 0.3)
        for wr in (0.01, 0.02, 0.03)
        for half_life in (365.0, 540.0, 1095.0)
    ]


def label(setting: Setting) -> str:
    wi, wr, half_life, origin = setting
    if wi == wr == 0:
        return "today (weights 0)"
    if wr == 0:
        return f"wi={wi:g}"
    return f"wi={wi:g} wr={wr:g} h={half_life:g}d age from {origin}"


def order(candidates: Sequence[Candidate], now: datetime, setting: Setting) -> list[str]:
    """The candidates' keys, best first, under `setting`."""
    wi, wr, half_life, origin = setting
    if origin == "newest" and candidates:
        now = max(c.updated_at for c in candidates)
    ranked = rescore(candidates, now, importance_weight=wi, recency_weight=wr, half_life_days=half_life)
    return [c.key for c in ranked]

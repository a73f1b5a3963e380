"""The final score of a search hit: the mode's relevance, the memory's importance and its recency.

    final = (1 - wi - wr) * relevance + wi * importance + wr * 0.5 ** (age_days / half_life_days)

- **relevance** is the mode's score (cosine, BM25 or the fused hybrid score) min-max scaled over
  the joined candidate list, so the best candidate is 1 and the worst 0 (all equal: 1). The
  modes' raw scores live on different scales (cosines bunch within a few hundredths, BM25 is
  unbounded, the fused score is already 0..1), so a raw score could not share one weight with
  importance and recency; scaling within the list gives a weight the same meaning in every mode,
  the same way hybrid fusion already scales each side.
- **importance** is `brain_memories.importance` (0..1, migration v9): an explicit
  `metadata.importance`, 1 for a pinned memory, else the category's base times a source factor.
- **recency** halves every `half_life_days` of age; age is measured from `updated_at`, the last
  time the content was written, to now (a memory updated yesterday states today's fact, however
  old its slug is; `created_at` would keep an updated fact looking old). A timestamp in the
  future counts as age 0.

With both weights 0 the candidates keep the mode's order and score exactly (`rescore` returns
them unchanged), which is today's ranking. Scores compare only within one search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from .errors import MemoryValidationError

SECONDS_PER_DAY = 86_400.0


class Candidate(NamedTuple):
    """One joined search candidate: its key, the mode's score and the signals of its row.

    A named tuple rather than a dataclass: a search builds and rebuilds up to ~100 of them.
    """

    key: str
    score: float
    importance: float
    updated_at: datetime


def validate_weights(importance_weight: object, recency_weight: object, half_life_days: object) -> None:
    """Raise a `MemoryValidationError` a model or a user can act on for unusable ranking knobs.

    Each weight is a number in 0..1 and their sum at most 1 (the rest is the relevance's share);
    the half-life is a positive, finite number of days.
    """
    for name, value in (("importance_weight", importance_weight), ("recency_weight", recency_weight)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise MemoryValidationError(
                f"{name} must be a number between 0 and 1 (0 turns it off), not {value!r}."
            )
    total = float(importance_weight) + float(recency_weight)  # type: ignore[arg-type]
    if total > 1 + 1e-9:
        raise MemoryValidationError(
            f"importance_weight + recency_weight must be at most 1 (the rest weighs relevance),"
            f" not {total:g}; lower one of them."
        )
    if (
        isinstance(half_life_days, bool)
        or not isinstance(half_life_days, (int, float))
        or not math.isfinite(half_life_days)
        or half_life_days <= 0
    ):
        raise MemoryValidationError(
            f"recency_half_life_days must be a positive number of days (e.g. 30), not {half_life_days!r}."
        )


def scaled(scores: Sequence[float]) -> list[float]:
    """Min-max scale `scores` to 0..1 (best 1, worst 0); all equal (or one) scale to 1."""
    if not scores:
        return []
    hi, lo = max(scores), min(scores)
    return [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]


def recency(updated_at: datetime, now: datetime, half_life_days: float) -> float:
    """0.5 ** (age in days / half-life): 1 for a memory written now, 0.5 one half-life ago."""
    age_days = max((now - updated_at).total_seconds(), 0.0) / SECONDS_PER_DAY
    return float(0.5 ** (age_days / half_life_days))


def final_scores(
    candidates: Sequence[Candidate],
    now: datetime,
    *,
    importance_weight: float,
    recency_weight: float,
    half_life_days: float,
) -> list[float]:
    """The final score of each candidate, in the given order (see the module docstring)."""
    relevance = scaled([c.score for c in candidates])
    share = 1.0 - importance_weight - recency_weight
    finals = [share * rel + importance_weight * min(max(c.importance, 0.0), 1.0)
              for c, rel in zip(candidates, relevance, strict=True)]  # fmt: skip
    if recency_weight:  # skipped when off (the default): datetime arithmetic is most of the cost
        for i, c in enumerate(candidates):
            finals[i] += recency_weight * recency(c.updated_at, now, half_life_days)
    return finals


def rescore(
    candidates: Sequence[Candidate],
    now: datetime,
    *,
    importance_weight: float,
    recency_weight: float,
    half_life_days: float,
) -> list[Candidate]:
    """`candidates` (in the mode's order, best first) re-ordered by their final score, best first.

    Each returned candidate carries its final score. Ties keep the mode's order (a stable sort).
    With both weights 0 the candidates come back as given, scores untouched.
    """
    if importance_weight == 0 and recency_weight == 0:
        return list(candidates)
    finals = final_scores(
        candidates,
        now,
        importance_weight=importance_weight,
        recency_weight=recency_weight,
        half_life_days=half_life_days,
    )
    order = sorted(range(len(candidates)), key=lambda i: -finals[i])
    return [candidates[i]._replace(score=finals[i]) for i in order]

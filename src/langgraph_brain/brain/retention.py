"""Retention policies: which live memories leave the brain for `brain_archive`, chosen in SQL.

Two policies, each a filter over every tenant's synced rows in one set-based statement on the
admin pool (`CANDIDATES_SQL`):

- ``stale``: older than `age_days` AND importance below `importance_below` AND neither updated nor
  accessed (`brain_memory_access.last_accessed_at`) for `inactive_days`;
- ``budget``: beyond `budget` live memories per entity, the least valuable ones, where value =
  importance x 0.5 ** (days since last update or access / `half_life_days`). Rows the stale policy
  takes in the same run are not counted. Merging first (consolidation) is orchestrated above the
  brain, in `langgraph_brain.extraction.retention`, because the brain does not import extraction.

A pinned memory (`metadata.pinned`), or one whose explicit `metadata.importance` is at or above
`protect_importance`, is never a candidate, and the archive statement checks it again under the
row lock (`archive.MARK_ARCHIVED_SQL`). Archiving, restoring and purging are in `archive.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import MemoryValidationError

#: The policy names `RetentionPolicy.policies` accepts.
POLICIES = ("stale", "budget")

DEFAULT_AGE_DAYS = 180.0
DEFAULT_INACTIVE_DAYS = 90.0
DEFAULT_IMPORTANCE_BELOW = 0.5
"""Below every plain fact's 0.5 (migration v9): with defaults, "stale" takes conversation
summaries, low-confidence extracted facts and memories explicitly marked unimportant."""
DEFAULT_PROTECT_IMPORTANCE = 0.8
DEFAULT_HALF_LIFE_DAYS = 30.0
DEFAULT_PURGE_DAYS = 365.0

# The protection test, shared by selection and the archive statement (which re-checks it under
# the row lock). `%(protect)s` is the threshold; `m` the brain_memories alias. Never NULL (a NULL
# would make NOT protected NULL too, and drop the row from both sides), and the cast only runs on
# a number (CASE decides the order; AND does not).
PROTECTED_SQL = (
    "(m.metadata @> '{\"pinned\": true}' OR CASE WHEN jsonb_typeof(m.metadata -> 'importance') = 'number'"
    " THEN (m.metadata ->> 'importance')::real >= %(protect)s ELSE false END)"
)

# Every candidate of the enabled policies, across tenants (or one), in one statement. `live` is
# each synced row with its last activity (update or access); `stale` the first policy's rows;
# `ranked` orders each over-budget entity's other rows by value, protected rows first so that they
# take their places in the budget without ever being archived. The budget's prefilter (GROUP BY
# with HAVING) keeps the window sort to the entities that are over it.
CANDIDATES_SQL = f"""
WITH live AS MATERIALIZED (
    SELECT m.id, m.scope, m.entity_id, m.slug, m.version, m.importance, m.created_at,
           greatest(m.updated_at, a.last_accessed_at) AS active_at, {PROTECTED_SQL} AS protected
    FROM brain_memories AS m LEFT JOIN brain_memory_access AS a ON a.brain_id = m.id
    WHERE m.sync_state = 'synced'
      AND (%(scope)s::text IS NULL OR (m.scope = %(scope)s AND m.entity_id = %(entity)s))
), stale AS MATERIALIZED (
    SELECT l.id FROM live AS l
    WHERE %(stale)s AND NOT l.protected AND l.importance < %(below)s
      AND l.created_at < now() - make_interval(secs => %(age)s)
      AND l.active_at < now() - make_interval(secs => %(inactive)s)
), over AS (
    SELECT l.scope, l.entity_id FROM live AS l
    WHERE %(budget)s::int IS NOT NULL AND NOT EXISTS (SELECT 1 FROM stale AS s WHERE s.id = l.id)
    GROUP BY l.scope, l.entity_id HAVING count(*) > %(budget)s::int
), ranked AS (
    SELECT l.*, row_number() OVER (
               PARTITION BY l.scope, l.entity_id
               ORDER BY l.protected DESC,
                        l.importance
                        * power(0.5, extract(epoch FROM now() - l.active_at) / %(half_life)s) DESC,
                        l.id DESC) AS place
    FROM live AS l JOIN over USING (scope, entity_id)
    WHERE NOT EXISTS (SELECT 1 FROM stale AS s WHERE s.id = l.id)
)
SELECT l.id, l.scope, l.entity_id, l.slug, l.version, 'stale' AS policy
FROM live AS l JOIN stale USING (id)
UNION ALL
SELECT r.id, r.scope, r.entity_id, r.slug, r.version, 'budget' AS policy
FROM ranked AS r WHERE r.place > %(budget)s::int AND NOT r.protected
ORDER BY 2, 3, 1
"""

# Entities with more synced memories than the budget (before anything is archived): the ones
# whose near-duplicates the orchestration merges first.
OVER_BUDGET_SQL = """
SELECT scope, entity_id FROM brain_memories
WHERE sync_state = 'synced'
  AND (%(scope)s::text IS NULL OR (scope = %(scope)s AND entity_id = %(entity)s))
GROUP BY scope, entity_id HAVING count(*) > %(budget)s::int ORDER BY scope, entity_id
"""


def parse_policies(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Policy names from a comma-separated string or a sequence, checked and de-duplicated.

    Raises:
        MemoryValidationError: an unknown name.
    """
    names = value.split(",") if isinstance(value, str) else list(value or ())
    out: list[str] = []
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        if name not in POLICIES:
            raise MemoryValidationError(
                f"unknown retention policy {str(raw).strip()[:40]!r}; use one or more of"
                f" {', '.join(POLICIES)} (comma-separated), or none to turn retention off."
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _days(name: str, value: float, *, positive: bool = False) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise MemoryValidationError(f"{name} must be a finite number of days, not {value!r}.")
    if value < 0 or (positive and value == 0):
        bound = "greater than 0" if positive else "0 or more"
        raise MemoryValidationError(f"{name} must be {bound} days, not {value}.")
    return float(value)


def _fraction(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise MemoryValidationError(f"{name} must be between 0 and 1 (importance is 0..1), not {value!r}.")
    return float(value)


@dataclass(frozen=True)
class RetentionPolicy:
    """What a retention run archives and purges (module docstring). Validated on construction.

    Attributes:
        policies: enabled policy names ("stale", "budget"); empty: archive nothing (a run still
            finishes crashed archives and purges).
        age_days / inactive_days / importance_below: the "stale" policy's three conditions.
        protect_importance: an explicit `metadata.importance` at or above it is never archived.
        budget: live memories per entity the "budget" policy keeps (required with it).
        half_life_days: how fast inactivity lowers a memory's value for the budget.
        purge_days: archived memories are deleted this long after archiving; 0: never.
        merge: with "budget", merge over-budget entities' near-duplicates before archiving.

    Raises:
        MemoryValidationError: unknown policy, negative days, a threshold outside 0..1, or
            "budget" without a budget of at least 1.
    """

    policies: tuple[str, ...] = ()
    age_days: float = DEFAULT_AGE_DAYS
    inactive_days: float = DEFAULT_INACTIVE_DAYS
    importance_below: float = DEFAULT_IMPORTANCE_BELOW
    protect_importance: float = DEFAULT_PROTECT_IMPORTANCE
    budget: int | None = None
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    purge_days: float = DEFAULT_PURGE_DAYS
    merge: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once
        set_(self, "policies", parse_policies(self.policies))
        set_(self, "age_days", _days("age_days", self.age_days))
        set_(self, "inactive_days", _days("inactive_days", self.inactive_days))
        set_(self, "half_life_days", _days("half_life_days", self.half_life_days, positive=True))
        set_(self, "purge_days", _days("purge_days", self.purge_days))
        set_(self, "importance_below", _fraction("importance_below", self.importance_below))
        set_(self, "protect_importance", _fraction("protect_importance", self.protect_importance))
        if self.budget is not None and (isinstance(self.budget, bool) or not isinstance(self.budget, int)):
            raise MemoryValidationError(f"budget must be a whole number of memories, not {self.budget!r}.")
        if self.budget is not None and self.budget < 1:
            raise MemoryValidationError(f"budget must be at least 1 memory per entity, not {self.budget}.")
        if "budget" in self.policies and self.budget is None:
            raise MemoryValidationError(
                "the budget policy needs a budget: the number of live memories to keep per entity"
                " (BRAIN_RETENTION_BUDGET)."
            )

    def params(self, target: tuple[str, str] | None = None) -> dict[str, Any]:
        """Bind parameters of `CANDIDATES_SQL` / `OVER_BUDGET_SQL` (target: one (scope, entity))."""
        scope, entity = target if target is not None else (None, None)
        return {
            "scope": scope,
            "entity": entity,
            "stale": "stale" in self.policies,
            "below": self.importance_below,
            "protect": self.protect_importance,
            "age": self.age_days * 86_400,
            "inactive": self.inactive_days * 86_400,
            "budget": self.budget if "budget" in self.policies else None,
            "half_life": self.half_life_days * 86_400,
        }

    def reason(self, policy: str) -> str:
        """The brain_history reason of an archive by `policy`."""
        if policy == "stale":
            return (
                f"retention stale: older than {self.age_days:g} d, importance < {self.importance_below:g},"
                f" inactive {self.inactive_days:g} d"
            )
        return f"retention budget: beyond {self.budget} live memories, least valuable"


@dataclass
class RetentionReport:
    """What a retention run found and did (with `dry_run`: would do)."""

    dry_run: bool
    policies: list[str]
    #: Candidates per policy when the run started.
    candidates: dict[str, int] = field(default_factory=dict)
    #: Archived per policy (0 in a dry run).
    archived: dict[str, int] = field(default_factory=dict)
    #: A few "scope:entity/slug" per policy.
    examples: dict[str, list[str]] = field(default_factory=dict)
    #: Candidates left for the next run: their key was busy (a save in flight) or they changed.
    skipped: int = 0
    #: Archives a crashed run had left half-done (row marked, archive copy kept), finished now.
    finished: int = 0
    #: Near-duplicates merged (or planned) in over-budget entities before the budget applied.
    merged: int = 0
    entities_over_budget: int = 0
    #: Archived memories older than the purge period, deleted (or due, in a dry run).
    purged: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return asdict(self)

    @property
    def total_archived(self) -> int:
        return sum(self.archived.values())

    def count_candidates(self, rows: Sequence[dict[str, Any]], examples: int = 5) -> None:
        """Tally `CANDIDATES_SQL` rows per policy and keep a few examples."""
        for row in rows:
            policy = row["policy"]
            self.candidates[policy] = self.candidates.get(policy, 0) + 1
            shown = self.examples.setdefault(policy, [])
            if len(shown) < examples:
                shown.append(f"{row['scope']}:{row['entity_id']}/{row['slug']}")


__all__ = [
    "CANDIDATES_SQL",
    "OVER_BUDGET_SQL",
    "POLICIES",
    "PROTECTED_SQL",
    "RetentionPolicy",
    "RetentionReport",
    "parse_policies",
]

"""Consolidation: merge near-duplicate memories of one entity (same meaning, different slugs).

Per entity, pairs of memories whose stored document vectors have cosine similarity >= `threshold`
are found in SQL on Mem0's collection (vectors never enter Python) and grouped. Per group:

- the kept slug is a pinned one if any, else the oldest: the slug referred to longest, and a
  stable choice, so re-runs agree;
- it keeps the newest member's content, unless a longer member's content contains that text;
- it is saved through the public save protocol with `metadata.consolidated_from` (the merged
  slugs) and the reason "merged <a>, <b> into <kept>"; then each merged slug is forgotten with the
  reason "merged <a> into <kept>". brain_history keeps every old content and only the protocol
  writes, so I1 holds. A crash between the save and the forgets is finished by the next run.

Cosine on small embeddings cannot tell a paraphrase from a related fact: with e5-small,
paraphrases scored 0.964-0.993, but "lives in Oran" / "lives in Algiers" 0.931, "prefers Spanish" /
"prefers French" 0.945, "name is Ana Rojas" / "manager is Ana Rojas" 0.974 (README). So a member
that `conflicting` finds naming a different number or name than the kept memory is left alone.
`conversation_summary` memories are never merged (each summarises its own segment). Bounded work:
`PAGE` memories per statement, each compared with its `NEIGHBOURS` nearest (through the entity's
HNSW index when `brain vector-index` built one), at most `max_pairs` pairs per entity and run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from ..brain.errors import BrainConfigurationError
from ..brain.index import entity_key
from ..brain.mem0_payload import COLLECTION
from ..brain.models import Actor
from ..brain.reconcile import aensure_sees_every_tenant
from ..brain.service import MemoryService
from ..brain.vector_indexes import APPROXIMATE_SETTINGS_SQL, EF_SEARCH, REGISTRY_SQL

DEFAULT_THRESHOLD = 0.98
"""BRAIN_CONSOLIDATE_THRESHOLD's default. On 15 pairs of related-but-different facts, e5-small
scored up to 0.976, so 0.93 merged 6 of them even with the guard (0.97: 2, 0.98: none); 0.98 still
merges 5 of 13 paraphrase pairs. A merge hides the merged text from search (history keeps it), so
the nightly default errs towards merging less; lower it per run with `--threshold`."""
SUMMARY_CATEGORY = "conversation_summary"
PAGE = 256
"""Memories whose neighbours one statement looks up."""
NEIGHBOURS = 8
"""Nearest memories each memory is compared with; larger groups form over chains of pairs."""
DEFAULT_MAX_PAIRS = 10_000
"""Pairs kept per entity and run; the rest is merged by the next run."""
ACTOR: Actor = {"agent": "consolidator"}

_ENTITIES_SQL = (
    "SELECT scope, entity_id FROM brain_memories WHERE sync_state = 'synced' AND category <> %s"
    " GROUP BY scope, entity_id HAVING count(*) > 1 ORDER BY scope, entity_id"
)
_PAGE_SQL = (
    "SELECT id FROM brain_memories WHERE scope = %s AND entity_id = %s AND sync_state = 'synced'"
    " AND category <> %s AND id > %s ORDER BY id LIMIT %s"
)
_MEMBERS_SQL = (
    "SELECT m.id, m.slug, m.content, m.category, m.metadata, m.version, m.created_at, m.updated_at,"
    " 1 - (v.vector <=> k.vector) AS similarity FROM brain_memories m"
    f" JOIN {COLLECTION} v ON v.id = m.memory_id JOIN brain_memories km ON km.id = %s"
    f" JOIN {COLLECTION} k ON k.id = km.memory_id WHERE m.id = ANY(%s) AND m.sync_state = 'synced'"
)
_ROWS_SQL = "SELECT id, metadata, created_at FROM brain_memories WHERE id = ANY(%s) AND sync_state = 'synced'"


def _pairs_sql(key: str, dims: int | None) -> sql.Composed:
    """Each listed memory's nearest memories of the same entity, kept when close enough.

    Params: brain ids, category to skip, max distance. The key is a literal so that the planner can
    use the entity's partial HNSW index (`vector_indexes`); `dims` casts to that index's expression.
    """
    cast: sql.Composable = sql.SQL("::vector({})").format(sql.Literal(dims)) if dims else sql.SQL("")
    return sql.SQL(
        "SELECT a.brain_id, n.brain_id AS other, 1 - n.distance AS similarity FROM ("
        " SELECT m.id AS brain_id, v.id AS vid, v.vector FROM brain_memories m"
        " JOIN {t} v ON v.id = m.memory_id WHERE m.id = ANY(%s)) a"
        " CROSS JOIN LATERAL (SELECT b.id AS vid, (b.payload->>'brain_id')::bigint AS brain_id,"
        " b.vector{c} <=> a.vector{c} AS distance FROM {t} b WHERE b.payload->>'user_id' = {key}"
        " AND b.id <> a.vid ORDER BY b.vector{c} <=> a.vector{c} LIMIT {n}) n"
        " JOIN brain_memories o ON o.id = n.brain_id AND o.memory_id = n.vid"
        " AND o.sync_state = 'synced' AND o.category <> %s WHERE n.distance <= %s"
    ).format(t=sql.Identifier(COLLECTION), c=cast, key=sql.Literal(key), n=sql.Literal(NEIGHBOURS))


_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_SENTENCE = re.compile(r"[.!?;:\n]+")


def anchors(text: str) -> set[str]:
    """Numbers and capitalised words not starting a sentence (names, places, languages), folded."""
    found: set[str] = set()
    for sentence in _SENTENCE.split(text):
        for word in _WORD.findall(sentence)[1:]:
            if word[0].isdigit() or word[0].isupper():
                found.add(word.casefold())
    return found


def conflicting(a: str, b: str) -> bool:
    """Whether each text names something (number, name) the other does not: not a paraphrase."""
    left, right = anchors(a), anchors(b)
    return bool(left - right) and bool(right - left)


@dataclass
class MergePlan:
    """One group: the slug kept, the slugs merged into it, and the content it keeps."""

    scope: str
    entity_id: str
    kept: str
    merged: list[str]
    content: str
    similarities: dict[str, float]
    #: Each member's row version when planned: a member saved meanwhile is left for the next run.
    versions: dict[str, int] = field(default_factory=dict)
    applied: bool = False


@dataclass
class ConsolidationReport:
    """What `aconsolidate` found and did (with `dry_run`: would do)."""

    threshold: float
    dry_run: bool
    entities_checked: int = 0
    pairs_found: int = 0
    groups: list[MergePlan] = field(default_factory=list)
    memories_merged: int = 0
    #: Members left alone, with why: "conflict" (names or numbers differ) or "changed" meanwhile.
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def aconsolidate(
    service: MemoryService,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    dry_run: bool = False,
    entities: Sequence[tuple[str, str]] | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ConsolidationReport:
    """Merge near-duplicate memories of each entity (or of `entities`, as (scope, id) pairs).

    Runs as the owner role (it reads every tenant's vectors); writes go through `service`'s
    save/forget. Idempotent: a second run right after finds nothing to merge.

    Args:
        threshold: cosine similarity (0-1] at or above which two memories are candidates.
        dry_run: only plan; write nothing.
        entities: (scope, entity id) pairs to consolidate; None: every entity with 2+ memories.
        max_pairs: pairs kept per entity and run (memory bound).
        on_total / on_progress: told the number of entities, then each one done.

    Raises:
        BrainConfigurationError: the role cannot see every tenant, or the index keeps its vectors
            outside this database (the Mem0 platform).
        ValueError: threshold outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    if service.index.name != "mem0-oss":
        raise BrainConfigurationError("consolidation needs Mem0 OSS (its vectors in this database)")
    await aensure_sees_every_tenant(service)
    report = ConsolidationReport(threshold, dry_run)
    async with service.admin_pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        if entities is None:
            await cur.execute(_ENTITIES_SQL, (SUMMARY_CATEGORY,))
            targets = [(r["scope"], r["entity_id"]) for r in await cur.fetchall()]
        else:
            targets = [service.normalize(scope, entity) for scope, entity in entities]
        await cur.execute(REGISTRY_SQL)
        registry = {r["index_key"]: int(r["dims"]) for r in await cur.fetchall()}
    if on_total:
        on_total(len(targets))
    for scope, entity in targets:
        key = entity_key(scope, entity)
        pairs = await _afind_pairs(service, (scope, entity, key), registry.get(key), report, max_pairs)
        for group in _components(pairs):
            plan = await _aplan(service, report, scope, entity, sorted(group))
            if plan is not None:
                report.groups.append(plan)
                if not dry_run:
                    await _aapply(service, report, plan)
        report.entities_checked += 1
        if on_progress:
            on_progress(1)
    return report


async def _afind_pairs(
    service: MemoryService,
    tenant: tuple[str, str, str],
    dims: int | None,
    report: ConsolidationReport,
    limit: int,
) -> set[tuple[int, int]]:
    """Brain-id pairs (low, high) of (scope, entity, Mem0 key) at or above the threshold, page by
    page, at most `limit`."""
    scope, entity, key = tenant
    distance = 1 - report.threshold
    pairs: set[tuple[int, int]] = set()
    after = 0
    statement = _pairs_sql(key, dims)
    async with service.admin_pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        while len(pairs) < limit:
            await cur.execute(_PAGE_SQL, (scope, entity, SUMMARY_CATEGORY, after, PAGE))
            ids = [r["id"] for r in await cur.fetchall()]
            if not ids:
                break
            after = ids[-1]
            async with conn.transaction():
                if dims:  # the entity's HNSW index: walk wider, never sort the whole tenant
                    await cur.execute(APPROXIMATE_SETTINGS_SQL, (str(EF_SEARCH),))
                await cur.execute(statement, (ids, SUMMARY_CATEGORY, distance))
                rows = await cur.fetchall()
            for r in rows:
                pairs.add((min(r["brain_id"], r["other"]), max(r["brain_id"], r["other"])))
    report.pairs_found += min(len(pairs), limit)
    return set(sorted(pairs)[:limit])


def _components(pairs: set[tuple[int, int]]) -> list[set[int]]:
    """Connected groups of brain ids (union-find over the pairs)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, set[int]] = {}
    for x in parent:
        groups.setdefault(root(x), set()).add(x)
    return [g for g in groups.values() if len(g) > 1]


async def _aplan(
    service: MemoryService, report: ConsolidationReport, scope: str, entity: str, ids: list[int]
) -> MergePlan | None:
    """The merge of one group, or None when no member may join the kept one."""
    async with service.admin_pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_ROWS_SQL, (ids,))
        rows = await cur.fetchall()
        if len(rows) < 2:
            return None
        keeper = min(rows, key=lambda r: (not r["metadata"].get("pinned"), r["created_at"], r["id"]))
        # Similarity to the kept memory, not along a chain: a ~ b ~ c does not make a ~ c.
        await cur.execute(_MEMBERS_SQL, (keeper["id"], [r["id"] for r in rows]))
        members = {r["id"]: r for r in await cur.fetchall()}
    kept = members.get(keeper["id"])
    if kept is None:
        return None
    chosen = [kept]
    for m in sorted(members.values(), key=lambda r: r["id"]):
        if m["id"] == kept["id"] or m["similarity"] < report.threshold:
            continue
        if conflicting(kept["content"], m["content"]):
            report.skipped.append({"slug": m["slug"], "kept": kept["slug"], "why": "conflict"})
            continue
        chosen.append(m)
    if len(chosen) < 2:
        return None
    newest = max(chosen, key=lambda r: (r["updated_at"], r["id"]))
    content = newest["content"]
    folded = content.casefold().strip(" .")
    longer = [r for r in chosen if len(r["content"]) > len(content) and folded in r["content"].casefold()]
    if longer:
        content = max(longer, key=lambda r: len(r["content"]))["content"]
    merged = [r for r in chosen if r is not kept]
    return MergePlan(
        scope, entity, kept["slug"], [r["slug"] for r in merged], content,
        {r["slug"]: round(float(r["similarity"]), 4) for r in merged},
        {r["slug"]: int(r["version"]) for r in chosen},
    )  # fmt: skip


async def _aapply(service: MemoryService, report: ConsolidationReport, plan: MergePlan) -> None:
    """Save the kept memory, then forget the merged ones, through the public protocol."""
    current = {
        slug: await service.aget(plan.scope, plan.entity_id, slug, track=False)
        for slug in [plan.kept, *plan.merged]
    }
    kept = current[plan.kept]
    moved = [s for s, rec in current.items() if rec is None or rec.version != plan.versions.get(s)]
    if kept is None or moved:
        report.skipped += [{"slug": s, "kept": plan.kept, "why": "changed"} for s in moved]
        return
    merged = list(plan.merged)
    previous = [s for s in kept.metadata.get("consolidated_from", []) if isinstance(s, str)]
    metadata = {**kept.metadata, "consolidated_from": sorted(set(previous) | set(merged))[-100:]}
    await service.asave(
        plan.scope, plan.entity_id, plan.kept, plan.content, metadata=metadata, actor=ACTOR,
        reason=f"merged {', '.join(merged)} into {plan.kept}",
    )  # fmt: skip
    for slug in merged:
        await service.aforget(
            plan.scope, plan.entity_id, slug, actor=ACTOR,
            reason=f"merged {slug} into {plan.kept}",
        )  # fmt: skip
        report.memories_merged += 1
    plan.applied = True


__all__ = ["DEFAULT_THRESHOLD", "ConsolidationReport", "MergePlan", "aconsolidate", "anchors", "conflicting"]

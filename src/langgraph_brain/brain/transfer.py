"""Export memories as JSON lines and import them back.

The export format is one `MemoryRecord.as_json()` object per line; import saves the lines with
`bulk.asave_many`, so every line passes the same validation and the same save protocol as a
single save. A bad line is reported by its line number and never stops the others.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .bulk import asave_many
from .errors import BrainError
from .models import Actor, SaveManyResult
from .rows import EXPORT_PAGE_SQL, to_record
from .validation import Scope, validate_scope

if TYPE_CHECKING:
    from .service import MemoryService


async def aexport(
    service: MemoryService, *, scope: str | None = None, entity_id: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Yield memories as JSON-serialisable dicts, by id, on the service's admin pool."""
    checked_scope: Scope | None = None
    entity: str | None = None
    if scope is not None:
        checked_scope = validate_scope(scope)
        if entity_id is not None:
            checked_scope, entity = service.normalize(checked_scope, entity_id)
    after = 0
    while True:
        async with service.admin_pool.connection() as conn:
            rows = await (
                await conn.execute(EXPORT_PAGE_SQL, (after, checked_scope, checked_scope, entity, entity))
            ).fetchall()
        if not rows:
            return
        for r in rows:
            yield to_record(r).as_json()
        after = rows[-1]["id"]


async def aimport_jsonl(
    service: MemoryService,
    lines: Iterable[str],
    *,
    actor: Actor | None = None,
    on_progress: Callable[[int], None] | None = None,
    prepare: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    reason: str = "import",
) -> SaveManyResult:
    """Import JSON lines (as written by `aexport`); bad lines are reported, not fatal.

    Args:
        prepare: turns each parsed line into the item to save, or raises ValueError / BrainError
            to refuse that line with its message (e.g. the HTTP API pins every line to the
            caller's own scope and entity).
        reason: recorded in brain_history for every save.
    """
    items: list[Mapping[str, Any]] = []
    line_of: list[int] = []  # 0-based line number of each parsed item
    bad: list[dict[str, Any]] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            items.append(_parse_line(line, prepare))
        except (ValueError, BrainError) as exc:
            bad.append({"index": n, "slug": None, "error": str(exc)})
            if on_progress is not None:
                on_progress(1)
            continue
        line_of.append(n)
    result = await asave_many(service, items, actor=actor, reason=reason, on_progress=on_progress)
    # Report every error by its 0-based line in the input ("index"), whether it failed to parse
    # or to save; the message itself does not repeat the line (callers print it once).
    for error in result.errors:
        error["index"] = line_of[error["index"]]
    result.failed_count += len(bad)
    result.errors = sorted(bad + result.errors, key=lambda e: e["index"])
    return result


def _parse_line(
    line: str, prepare: Callable[[dict[str, Any]], Mapping[str, Any]] | None
) -> Mapping[str, Any]:
    try:
        parsed = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"not a JSON object but {type(parsed).__name__}")
    return prepare(parsed) if prepare is not None else parsed

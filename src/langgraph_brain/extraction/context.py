"""Which existing memories the extractor is shown: core memories plus the top search hits.

The core memories (the categories the agents always see, `middleware.memory_block`) are the
facts most likely to change ("name", "employees"); the search hits for the new messages' text
catch the rest. Showing them is what lets the model reuse a slug instead of inventing a second
one for the same fact. Everything is deduplicated on (scope, slug) and bounded, so the prompt
stays small however large the memory grows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..brain.validation import MAX_QUERY_CHARS
from ..middleware.memory_block import CORE_COMPANY_CATEGORIES, CORE_USER_CATEGORIES
from .prompt import KnownMemory

if TYPE_CHECKING:
    from ..brain.service import MemoryService

DEFAULT_MAX_CORE = 40
"""Core memories read per scope (pinned first, then newest)."""
DEFAULT_SEARCH_K = 8
"""Search hits per scope for the new messages' text."""
DEFAULT_MAX_KNOWN = 60
"""Memories shown in all; core ones come first."""
SHOWN_CONTENT_CHARS = 400
"""A shown memory's content is cut to this: enough to recognise the fact, cheap in tokens."""
_UNSEARCHABLE = re.compile("[\x00\ud800-\udfff]")
QUERY_ROLES = ("human", "user")
"""Roles whose text forms the search query: the user states the facts worth keeping."""


def search_query(messages: Sequence[Any]) -> str:
    """The search text for new messages: their user-side contents, newest last, within the limit.

    Keeps the end of the text when it is too long: the newest statements matter most.
    """
    text = "\n".join(m.content for m in messages if m.role in QUERY_ROLES and m.content.strip())
    # NUL and lone surrogates would make the search refuse the query; they carry no meaning.
    text = _UNSEARCHABLE.sub(" ", text)
    return text[-(MAX_QUERY_CHARS // 2) :].strip()


async def agather_known(
    service: MemoryService,
    user_id: str,
    company_id: str | None,
    messages: Sequence[Any],
    *,
    max_core: int = DEFAULT_MAX_CORE,
    search_k: int = DEFAULT_SEARCH_K,
    max_known: int = DEFAULT_MAX_KNOWN,
) -> list[KnownMemory]:
    """The existing memories to show the extractor for `messages`.

    Args:
        service: the memory service.
        user_id: whose memories (from the caller, never the model).
        company_id: the user's company, or None.
        messages: the new messages (objects with `id`, `role`, `content`).
        max_core: core memories read per scope.
        search_k: search hits per scope.
        max_known: most memories returned.

    Returns:
        User core, company core, then search hits, deduplicated on (scope, slug), at most
        `max_known`.

    Raises:
        MemoryBackendError: Postgres or Mem0 is unavailable (the caller's job retries).
    """
    scopes: list[tuple[str, str, Sequence[str]]] = [("user", user_id, CORE_USER_CATEGORIES)]
    if company_id is not None:
        scopes.append(("company", company_id, CORE_COMPANY_CATEGORIES))
    shown: dict[tuple[str, str], KnownMemory] = {}

    def add(scope: str, slug: str, category: str, content: str) -> None:
        if (scope, slug) not in shown:
            shown[(scope, slug)] = KnownMemory(scope, slug, category, content[:SHOWN_CONTENT_CHARS])

    for scope, entity, categories in scopes:
        for record in await service.alist_core(scope, entity, categories=categories, limit=max_core):
            add(scope, record.slug, record.category, record.content)
    query = search_query(messages)
    if query:
        for scope, entity, _ in scopes:
            for hit in await service.asearch(scope, entity, query, k=search_k):
                add(scope, hit.slug, hit.category, hit.content)
    return list(shown.values())[:max_known]


__all__ = [
    "DEFAULT_MAX_CORE",
    "DEFAULT_MAX_KNOWN",
    "DEFAULT_SEARCH_K",
    "QUERY_ROLES",
    "SHOWN_CONTENT_CHARS",
    "agather_known",
    "search_query",
]

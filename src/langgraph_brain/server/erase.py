"""Erase on a LangGraph server: delete the server's own thread records of a user or company.

The server keeps threads (metadata, status, the run queue) in its own storage besides the
checkpoints in our Postgres; after `maintenance.aerase` removed the checkpoints, those records
would still list the threads. This removes them through the server's API (`langgraph-sdk`),
with an admin API key when the server runs `langgraph_brain.server.auth`.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from langgraph_sdk import get_client

_PAGE = 100


async def aerase_server_threads(
    url: str,
    scope: str,
    entity_id: str,
    thread_ids: Iterable[str],
    *,
    api_key: str | None = None,
) -> int:
    """Delete the server's thread records for one user or company. Returns how many.

    Args:
        url: the LangGraph server, e.g. http://127.0.0.1:2024.
        scope: "user" or "company".
        entity_id: the normalised id (as `EraseReport.entity_id`).
        thread_ids: threads the checkpointer's ownership rule found (`athreads_of`).
        api_key: an admin key (`brain keys create --admin`) for a server with auth.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    client = get_client(url=url, headers=headers)
    targets = set(thread_ids)
    if scope == "user":
        # With auth on, every thread is stamped with its owner at creation, run or not.
        offset = 0
        while True:
            page = await client.threads.search(metadata={"owner": entity_id}, limit=_PAGE, offset=offset)
            targets.update(str(t["thread_id"]) for t in page)
            if len(page) < _PAGE:
                break
            offset += _PAGE
    deleted = 0
    for thread_id in sorted(targets):
        try:
            await client.threads.delete(thread_id)
            deleted += 1
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 404:  # already gone: nothing to do
                raise
    return deleted


__all__ = ["aerase_server_threads"]

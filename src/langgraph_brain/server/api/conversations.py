"""The caller's conversations: threads the checkpointer keeps, their messages, deleting one.

    GET    /brain/conversations?limit=<1..200>           -> {"items": [{"thread_id", "title", "updated_at"}]}
    GET    /brain/conversations/{thread_id}/messages?cursor=&limit=<1..500>
                                                          -> {"items": [message], "next_cursor"}
    DELETE /brain/conversations/{thread_id}

A conversation belongs to a user by the checkpointer's one owner rule (`threads.athreads_of`:
the owner BrainSaver stamps on every checkpoint). Another user's thread id gets the same 404 as
a missing one, so ids cannot be probed. A thread that was created but never run has no
checkpoint yet and is not listed.

Messages are the transcript (what compaction archived, keyset-paginated by `seq`) followed by
what is still in the thread's state, de-duplicated by message id as `BrainSaver.aget_session`
does. The cursor is opaque: `t<seq>` inside the transcript, `s<n>` inside the state part.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from langgraph_brain.checkpointers.saver import BrainSaver
from langgraph_brain.checkpointers.threads import athreads_of

from .caller import caller_of
from .errors import ApiError, endpoint
from .params import int_param, text_param
from .state import afetchall, asaver

logger = logging.getLogger("langgraph_brain.api")

# Last activity of each thread: its newest root checkpoint's timestamp (ISO-8601 UTC, which sorts
# like the instant it names).
_LAST_ACTIVITY_SQL = """
SELECT thread_id, max(checkpoint->>'ts') AS ts FROM checkpoints
WHERE checkpoint_ns = '' AND thread_id = ANY(%s) GROUP BY thread_id
"""
# Which of a thread's state messages were already archived (a crash between archiving and the
# checkpoint that drops them leaves both; the transcript copy is the one shown).
_ARCHIVED_SQL = "SELECT message_id FROM chat_messages WHERE thread_id = %s AND message_id = ANY(%s)"
_TITLE_CHARS = 120


def message_json(message: BaseMessage, source: str, **extra: Any) -> dict[str, Any]:
    """One message as the API returns it."""
    out: dict[str, Any] = {
        "id": message.id,
        "type": message.type,
        "content": message.content,
        "source": source,
    }
    for attr in ("name", "tool_calls", "tool_call_id"):
        value = getattr(message, attr, None)
        if value:
            out[attr] = value
    out.update(extra)
    return out


async def _owned(request: Request, saver: BrainSaver) -> tuple[str, list[str]]:
    user = caller_of(request).entity(request, "user")
    return user, await athreads_of(saver.conn, "user", user, normalize=saver.owner_normalizer)


async def _owned_thread(request: Request, saver: BrainSaver) -> str:
    thread_id = str(request.path_params["thread_id"])
    _, threads = await _owned(request, saver)
    if thread_id not in threads:
        raise ApiError(404, "No such conversation.")  # the same answer for someone else's thread
    return thread_id


async def _state_messages(saver: BrainSaver, thread_id: str) -> list[BaseMessage]:
    tup = await saver.aget_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    if tup is None:
        return []
    messages = [
        m for m in tup.checkpoint["channel_values"].get("messages") or [] if isinstance(m, BaseMessage)
    ]
    ids = [str(m.id) for m in messages if m.id]
    if not ids:
        return messages
    rows = await afetchall(_ARCHIVED_SQL, (thread_id, ids))
    archived = {r["message_id"] for r in rows}
    return [m for m in messages if m.id is None or m.id not in archived]


async def _title(saver: BrainSaver, thread_id: str) -> str | None:
    page = await saver.transcript.apage(thread_id, limit=20)
    candidates = [e.message for e in page.entries] or await _state_messages(saver, thread_id)
    for message in candidates:
        if isinstance(message, HumanMessage):
            text = message.text.strip()
            return text[:_TITLE_CHARS] + ("…" if len(text) > _TITLE_CHARS else "")
    return None


@endpoint
async def list_conversations(request: Request) -> Response:
    """The caller's threads, newest first, titled by their first human message."""
    limit = int_param(request, "limit", default=50, low=1, high=200)
    saver = await asaver()
    _, threads = await _owned(request, saver)
    if not threads:
        return JSONResponse({"items": []})
    rows = await afetchall(_LAST_ACTIVITY_SQL, (threads,))
    rows.sort(key=lambda r: r["ts"] or "", reverse=True)
    rows = rows[:limit]
    titles = await asyncio.gather(*(_title(saver, r["thread_id"]) for r in rows))
    items = [
        {"thread_id": r["thread_id"], "title": title, "updated_at": r["ts"]}
        for r, title in zip(rows, titles, strict=True)
    ]
    return JSONResponse({"items": items})


def _cursor(raw: str | None) -> tuple[str, int]:
    if raw is None:
        return "t", 0
    phase, digits = raw[:1], raw[1:]
    if phase not in ("t", "s") or not digits.isdigit() or len(digits) > 18:
        raise ApiError(422, "?cursor= must be a next_cursor returned by a previous page.")
    return phase, int(digits)


@endpoint
async def conversation_messages(request: Request) -> Response:
    """A page of one conversation, oldest first: the transcript, then what is still in state."""
    phase, position = _cursor(text_param(request, "cursor"))
    limit = int_param(request, "limit", default=100, low=1, high=500)
    saver = await asaver()
    thread_id = await _owned_thread(request, saver)
    items: list[dict[str, Any]] = []
    offset = position
    if phase == "t":
        page = await saver.transcript.apage(thread_id, after=position, limit=limit)
        items = [
            message_json(e.message, "transcript", seq=e.seq, created_at=e.created_at.isoformat())
            for e in page.entries
        ]
        if page.next_cursor is not None:
            return JSONResponse({"items": items, "next_cursor": f"t{page.next_cursor}"})
        offset = 0
    state = await _state_messages(saver, thread_id)
    chunk = state[offset : offset + limit - len(items)]
    items += [message_json(m, "state") for m in chunk]
    end = offset + len(chunk)
    return JSONResponse({"items": items, "next_cursor": f"s{end}" if end < len(state) else None})


async def _delete_server_record(thread_id: str) -> None:
    """Remove the LangGraph server's own record of the thread, when running inside the server."""
    try:
        from langgraph_sdk import get_client

        # The in-process loopback client; ownership was checked above.
        await get_client().threads.delete(thread_id)
    except Exception as exc:  # not in a server, or the server keeps no record of it
        logger.debug("memory API: server thread record %s not deleted: %s", thread_id, exc)


@endpoint
async def delete_conversation(request: Request) -> Response:
    """Delete one of the caller's threads: checkpoints, transcript and the server's record."""
    saver = await asaver()
    thread_id = await _owned_thread(request, saver)
    removed = await saver.adelete_threads([thread_id])
    await _delete_server_record(thread_id)
    return JSONResponse({"thread_id": thread_id, "deleted": removed})


routes = [
    Route("/brain/conversations", list_conversations, methods=["GET"]),
    Route("/brain/conversations/{thread_id}/messages", conversation_messages, methods=["GET"]),
    Route("/brain/conversations/{thread_id}", delete_conversation, methods=["DELETE"]),
]

__all__ = ["message_json", "routes"]

"""Outages, for real: a loopback TCP proxy in front of Postgres (the embedded one listens only on
a unix socket; an external one on TCP) is cut and restored while the tools and the service are in
use.

* Mem0 down, brain up: Mem0's pool goes through the proxy, the brain's does not.
* Database down: both go through the proxy.

Asserted: tools answer with an error message the model can read, a failed save leaves nothing
half-visible (a committed pending row is hidden from search and finished by reconcile), and when
the service returns the same process carries on, with no restart.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from langgraph_brain.brain import MemoryBackendError, MemoryService, shared_embeddings
from langgraph_brain.brain.embeddings import embedding_dimensions
from langgraph_brain.brain.mem0_oss import Mem0OSSIndex
from langgraph_brain.brain.reconcile import acheck_invariant, areconcile
from langgraph_brain.db import Database, open_async_pool
from langgraph_brain.tools import BrainContext, create_memory_tools

pytestmark = pytest.mark.slow

T = TypeVar("T")
#: How long a pool waits for a connection during an outage before the call fails. Short so the
#: test is quick; production pools use psycopg_pool's default (30 s).
OUTAGE_TIMEOUT = 2.0


class Proxy:
    """TCP 127.0.0.1:port -> the server's unix socket or TCP address, in its own thread and loop."""

    def __init__(self, upstream: str | tuple[str, int]) -> None:
        self.upstream = upstream
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.base_events.Server | None = None
        self.transports: set[asyncio.WriteTransport] = set()

    def _call(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if isinstance(self.upstream, str):
                up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for t in self.transports:
            t.abort()  # like a network partition or a crashed server: no goodbye
        self.transports.clear()

    def start(self) -> None:
        self._call(self._start())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _upstream(url: str) -> str | tuple[str, int]:
    """The server's unix socket path (host is a directory), else its TCP (host, port)."""
    params = conninfo_to_dict(url)
    host, port = str(params["host"]), int(params.get("port") or 5432)
    if host.startswith("/"):
        return str(Path(host) / f".s.PGSQL.{port}")
    return host, port


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[Proxy]:
    p = Proxy(_upstream(database_url))
    p.start()
    yield p
    p.close()


async def _mem0_index(url: str) -> Mem0OSSIndex:
    embeddings = shared_embeddings("e5", "text-embedding-3-small")
    dims = await asyncio.to_thread(embedding_dimensions, embeddings)
    index = await asyncio.to_thread(Mem0OSSIndex.create, url, embeddings, dims=dims, pool_max_size=2)
    index.sync_pool.timeout = OUTAGE_TIMEOUT
    return index


async def _tool(service: MemoryService, name: str, args: dict[str, Any]) -> ToolMessage:
    g = StateGraph(MessagesState, context_schema=BrainContext)
    g.add_node("tools", ToolNode(create_memory_tools(service)))
    g.add_edge(START, "tools")
    call_id = uuid.uuid4().hex
    out = await g.compile().ainvoke(
        {"messages": [AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])]},
        context={"user_id": "ana", "company_id": "acme"},
    )
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage)
    return msg


async def _eventually(call: Callable[[], Awaitable[T]], *, within: float = 120.0) -> T:
    """The first success of `call`, retried as a user would. Liveness, not a latency check: the
    pools reconnect in the background with backoff, and the process is never restarted."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def _readable_outage(msg: ToolMessage) -> None:
    text = str(msg.content)
    assert msg.status == "error", text
    assert "unavailable" in text and "Traceback" not in text and len(text) < 1000, text


async def test_mem0_down_brain_up(database: Database, database_url: str, proxy: Proxy) -> None:
    index = await _mem0_index(make_conninfo(database_url, host="127.0.0.1", port=proxy.port))
    service = MemoryService(database.pool, index)
    try:
        await service.asave("user", "ana", "city", "Ana lives in Osorno.")
        await service.asave("user", "ana", "job", "Ana works as a nurse in Osorno.")
        proxy.cut()

        _readable_outage(await _tool(service, "search_user_memory", {"query": "where does Ana live?"}))
        _readable_outage(
            await _tool(service, "save_user_memory", {"slug": "pet", "content": "Ana has a cat."})
        )
        with pytest.raises(MemoryBackendError, match="unavailable"):
            await service.asave("user", "ana", "city", "Ana moved to Valdivia.")
        # The brain is up: keyword search still answers from synced rows, and shows no half-saved
        # write (the city row now holds the unsynced new content, so it is held back entirely).
        hits = await service.asearch("user", "ana", "Ana cat Valdivia Osorno", mode="keyword")
        assert [(h.slug, h.content) for h in hits] == [("job", "Ana works as a nurse in Osorno.")]
        states = {r.slug: r.sync_state for r in await service.alist("user", "ana")}
        assert states == {"city": "pending", "job": "synced", "pet": "pending"}  # waiting for Mem0

        proxy.start()
        # Same process, same service: the next call works once Mem0's pool has reconnected.
        await _eventually(lambda: service.asearch("user", "ana", "where does Ana live?"))
        report = await areconcile(service)
        assert report.failed == 0 and report.recreated_missing == 1 and report.repaired_drift == 1
        assert (await acheck_invariant(service)).ok
        msg = await _tool(service, "search_user_memory", {"query": "does Ana have a pet?"})
        assert msg.status != "error" and "Ana has a cat." in str(msg.content)
        assert "Valdivia" in str((await _tool(service, "search_user_memory", {"query": "city"})).content)
    finally:
        await index.aclose()


async def test_database_down(database: Database, database_url: str, proxy: Proxy) -> None:
    via_proxy = make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
    pool: AsyncConnectionPool[Any] = await open_async_pool(via_proxy, min_size=1, max_size=3)
    pool.timeout = OUTAGE_TIMEOUT
    index = await _mem0_index(via_proxy)
    service = MemoryService(pool, index)
    try:
        await service.asave("user", "bea", "city", "Bea lives in Arica.")
        proxy.cut()

        _readable_outage(await _tool(service, "search_user_memory", {"query": "where does Bea live?"}))
        _readable_outage(
            await _tool(service, "save_user_memory", {"slug": "pet", "content": "Bea has a dog."})
        )
        _readable_outage(await _tool(service, "forget_memory", {"scope": "user", "slug": "city"}))
        with pytest.raises(MemoryBackendError):
            await service.asave("user", "bea", "city", "Bea moved to Iquique.")

        proxy.start()
        assert (
            await _eventually(lambda: service.aget("user", "bea", "pet")) is None
        )  # nothing stored half-way
        city = await service.aget("user", "bea", "city")
        assert city is not None and (city.content, city.sync_state) == ("Bea lives in Arica.", "synced")
        saved = await _eventually(lambda: service.asave("user", "bea", "pet", "Bea has a dog."))
        assert saved.status == "created"
        report = await areconcile(service)
        assert report.failed == 0 and report.changes == 0
        assert (await acheck_invariant(service)).ok
    finally:
        await index.aclose()
        await pool.close()

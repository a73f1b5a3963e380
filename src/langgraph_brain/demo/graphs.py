"""Graph factories named in `langgraph.json` (for `langgraph dev`, Studio and the API server).

The server calls a factory for every run. The MemoryService (database pool, Mem0, embedder)
is opened once per server process, on first use, and the compiled graphs are cached: a run
costs no setup. The server supplies its own checkpointer (the `BrainSaver` named under
`"checkpointer"` in `langgraph.json`), so the graphs are compiled without one.

Identity: send `context={"user_id": ..., "company_id": ...}` with a run, or (Studio) set the
same names as `configurable` keys in the assistant's configuration.

Background extraction (BRAIN_EXTRACTION, on by default): both graphs queue their thread after
each run, and the process runs the jobs itself when BRAIN_WORKER=inprocess (`astart_background`,
also called by the HTTP app's lifespan at server start); with BRAIN_WORKER=off, run `brain worker`.

This module is an edge: it reads the settings (`BRAIN_*` and the environment) and passes them
down as plain arguments; nothing below it reads them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from langchain_core.runnables import RunnableConfig

from ..brain import MemoryService
from ..brain import factory as brain_factory
from ..extraction import factory as extraction_factory
from ..extraction.middleware import ExtractionMiddleware
from ..extraction.summaries import SummaryEnqueuer
from ..middleware import OnArchived
from ..settings import BrainSettings, get_settings
from .assistant import create_assistant
from .models import resolve_chat_model
from .supervisor import create_supervisor

logger = logging.getLogger(__name__)
_state: dict[str, Any] = {}


async def get_shared_service() -> MemoryService:
    """The process-wide MemoryService (see `brain.factory.get_shared_service`)."""
    if "service" not in _state:
        _warn_if_unauthenticated()
    service = await brain_factory.get_shared_service(get_settings())
    _state["service"] = service
    return service


async def aclose_shared_service() -> None:
    """Close the process-wide service and drop the graphs compiled over it (tests, shutdown)."""
    _state.clear()
    await extraction_factory.aclose_shared_queue()  # its worker uses the service: stop it first
    await brain_factory.aclose_shared_service()


async def astart_background(settings: BrainSettings | None = None) -> None:
    """Start this process's in-process worker once (BRAIN_WORKER=inprocess; else nothing).

    The extraction model is BRAIN_EXTRACTION_MODEL, else BRAIN_MODEL (scripted without a key).
    """
    s = settings or get_settings()
    if s.worker != "inprocess" or _state.get("background"):
        return
    service = await get_shared_service()
    model = resolve_chat_model(s.extraction_model, settings=s) if s.extraction or s.summaries else None
    await extraction_factory.astart_shared_worker(service, model, s)
    _state["background"] = True


async def aextraction(settings: BrainSettings) -> ExtractionMiddleware | None:
    """The graphs' extraction middleware (None when BRAIN_EXTRACTION=false); starts the worker."""
    if not settings.extraction:
        return None
    await astart_background(settings)
    return ExtractionMiddleware(await extraction_factory.get_shared_queue(settings))


async def asummaries(settings: BrainSettings) -> OnArchived | None:
    """The compaction callback that queues each archived segment's summary (None when
    BRAIN_SUMMARIES=false); starts the worker."""
    if not settings.summaries:
        return None
    await astart_background(settings)
    return SummaryEnqueuer((await extraction_factory.get_shared_queue(settings)).app)


def _warn_if_unauthenticated() -> None:
    # The LangGraph server passes langgraph.json's "auth" section as LANGGRAPH_AUTH; without
    # it every client may claim any user_id in its run context.
    in_server = "LANGGRAPH_API_VARIANT" in os.environ or "LANGSMITH_LANGGRAPH_API_VARIANT" in os.environ
    if in_server and not os.environ.get("LANGGRAPH_AUTH"):
        logger.warning(
            "langgraph-brain: this LangGraph server has NO AUTHENTICATION (langgraph.json has no"
            " auth.path): any client can act as any user_id. Add"
            ' "auth": {"path": "langgraph_brain.server.auth:auth"} for anything but local development.'
        )


def budgets(settings: BrainSettings) -> dict[str, Any]:
    """The settings' token budgets and tokenizer, as keyword arguments of both graph factories."""
    return {
        "max_history_tokens": settings.max_history_tokens,
        "max_memory_context_tokens": settings.max_memory_context_tokens,
        "tokenizer_model": settings.tokenizer_model or settings.model,
    }


async def _cached(name: str, build: Any) -> Any:
    graph = _state.get(name)
    if graph is None:
        service = await get_shared_service()
        # create_agent compiles and loads the tokenizer: keep that off the event loop too.
        graph = await asyncio.to_thread(build, service)
        _state[name] = graph
    return graph


async def assistant(config: RunnableConfig) -> Any:
    """`langgraph.json` graph "assistant": the memory assistant (see `create_assistant`)."""
    settings = get_settings()
    extraction = await aextraction(settings)
    on_archived = await asummaries(settings)
    return await _cached(
        "assistant",
        lambda service: create_assistant(
            service,
            retain_messages=settings.retain_messages,
            extraction=extraction,
            on_archived=on_archived,
            **budgets(settings),
        ),
    )


async def supervisor(config: RunnableConfig) -> Any:
    """`langgraph.json` graph "supervisor": the supervisor with tax and onboarding specialists."""
    settings = get_settings()
    extraction = await aextraction(settings)
    return await _cached(
        "supervisor", lambda service: create_supervisor(service, extraction=extraction, **budgets(settings))
    )


__all__ = [
    "aclose_shared_service",
    "aextraction",
    "assistant",
    "astart_background",
    "asummaries",
    "budgets",
    "get_shared_service",
    "supervisor",
]

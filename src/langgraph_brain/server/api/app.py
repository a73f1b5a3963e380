"""The memory HTTP API as a Starlette application, mounted in the LangGraph server.

    "http": {"app": "langgraph_brain.server.api:app", "enable_custom_route_auth": true}

langgraph-api then serves these routes next to its own, each wrapped in the same custom
authentication (`langgraph_brain.server.auth`), which sets `request.user`. The application has
no middleware and no exception handlers of its own on purpose: langgraph-api makes it the
server's root application, so both would also apply to LangGraph's routes. Errors are handled
per route (`errors.endpoint`), and anything under `/brain/` that matches no route answers a JSON
404 (or 405 with `Allow`) from `not_found`.

The inspector page (`langgraph_brain.server.ui`, when installed) contributes its routes through
that package's `routes` list.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from . import context, conversations, health, memories, openapi, prometheus, search, state, stats, transfer
from .errors import error_response

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
UI_MODULE = "langgraph_brain.server.ui"


def _ui_routes() -> list[BaseRoute]:
    """The inspector page's routes, if its package is present (a missing package is not an error;
    a broken one is, so it is imported normally)."""
    if importlib.util.find_spec(UI_MODULE) is None:
        return []
    return list(getattr(importlib.import_module(UI_MODULE), "routes", []))


def create_app() -> Starlette:
    """A new application with every route of the memory API."""
    api_routes: list[BaseRoute] = [
        *transfer.routes,  # before memories: /export, /bulk, /import are not slugs
        *memories.routes,
        *search.routes,
        *context.routes,
        *stats.routes,
        *conversations.routes,
        *health.routes,
        *prometheus.routes,
        *openapi.routes,
        *_ui_routes(),
    ]

    async def not_found(request: Request) -> Response:
        """404 for an unknown /brain/ path; 405 when the path exists for other methods."""
        allowed = sorted(
            {m for r in api_routes if isinstance(r, Route) and r.matches(request.scope)[0] == Match.PARTIAL
             for m in (r.methods or ())}
        )  # fmt: skip
        if allowed:
            response = error_response(405, f"{request.method} is not allowed here; use {', '.join(allowed)}.")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(404, f"No such memory API endpoint: {request.url.path[:200]}")

    return Starlette(
        routes=[*api_routes, Route("/brain/{rest:path}", not_found, methods=ALL_METHODS)], lifespan=lifespan
    )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the shared service when the server starts (langgraph-api runs this app's lifespan with
    its own), so that the first request pays no set-up and the agents' tool calls are measured
    from the first one; start the in-process job worker (BRAIN_WORKER=inprocess) and stop it on
    shutdown, before the server's pools close (its running jobs get a few seconds)."""
    from langgraph_brain.demo.graphs import astart_background
    from langgraph_brain.extraction.factory import aclose_shared_queue

    await state.aservice()
    await astart_background()
    try:
        yield
    finally:
        await aclose_shared_queue()


app = create_app()

__all__ = ["app", "create_app"]

"""`GET /brain/metrics`: the API's Prometheus metrics (`metrics.REGISTRY`), for operators only.

Operator (admin) keys only: the series reveal traffic and error rates of every tenant. Point a
Prometheus job at it with `authorization: {credentials: <admin key>}`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import metrics
from .caller import caller_of
from .errors import endpoint
from .health import apending_rows


@endpoint
async def prometheus_metrics(request: Request) -> Response:
    """The exposition text; the pending-rows gauge is read from the database at each scrape."""
    caller_of(request).require_admin()
    return Response(metrics.render(await apending_rows()), media_type=metrics.CONTENT_TYPE)


routes = [Route("/brain/metrics", prometheus_metrics, methods=["GET"])]

__all__ = ["routes"]

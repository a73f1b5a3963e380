"""The memory HTTP API, mounted in the LangGraph server through `langgraph.json`:

    "http": {"app": "langgraph_brain.server.api:app", "enable_custom_route_auth": true}

Routes live in one module per concern (`memories`, `search`, `transfer`, `context`, `stats`,
`conversations`, `health`, `prometheus`, `openapi`); identity rules in `caller`, refusals and
body limits in `errors`.
"""

from .app import app, create_app

__all__ = ["app", "create_app"]

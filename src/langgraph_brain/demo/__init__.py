"""Demo pieces: the assistant, the supervisor with specialists, and the scripted offline model.

`langgraph.json` names the graph factories in `langgraph_brain.demo.graphs`. Names are
imported on first use, so `from langgraph_brain.demo import missing_model_key` does not load
the agents.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assistant import create_assistant
    from .models import describe_model, missing_model_key, resolve_chat_model
    from .scripted import ScriptedToolCallingModel
    from .supervisor import create_supervisor

_WHERE = {
    "create_assistant": ".assistant",
    "create_supervisor": ".supervisor",
    "ScriptedToolCallingModel": ".scripted",
    "describe_model": ".models",
    "missing_model_key": ".models",
    "resolve_chat_model": ".models",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ScriptedToolCallingModel",
    "create_assistant",
    "create_supervisor",
    "describe_model",
    "missing_model_key",
    "resolve_chat_model",
]

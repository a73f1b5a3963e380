"""Agents: the assistant, the supervisor with specialists, the scripted offline model."""

from ..tools.identity import BrainContext
from .assistant import ASSISTANT_PROMPT, create_assistant
from .context import (
    CORE_COMPANY_CATEGORIES,
    CORE_USER_CATEGORIES,
    MemoryContextMiddleware,
    abuild_memory_context,
    create_memory_context_hook,
    render_memory_context,
)
from .models import describe_model, missing_model_key, resolve_chat_model
from .scripted import ScriptedToolCallingModel
from .supervisor import (
    DEFAULT_SPECIALISTS,
    Specialist,
    create_specialist_agent,
    create_specialist_tool,
    create_supervisor,
)

__all__ = [
    "ASSISTANT_PROMPT",
    "CORE_COMPANY_CATEGORIES",
    "CORE_USER_CATEGORIES",
    "DEFAULT_SPECIALISTS",
    "BrainContext",
    "MemoryContextMiddleware",
    "ScriptedToolCallingModel",
    "Specialist",
    "abuild_memory_context",
    "create_assistant",
    "create_memory_context_hook",
    "create_specialist_agent",
    "create_specialist_tool",
    "create_supervisor",
    "describe_model",
    "missing_model_key",
    "render_memory_context",
    "resolve_chat_model",
]

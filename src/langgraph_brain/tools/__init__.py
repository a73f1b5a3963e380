"""Memory tools for agents. Identity comes from the runtime context only, never from the model."""

from .identity import IDENTITY_KEYS, BrainContext, current_actor, resolve_identity
from .memory import (
    ForgetMemoryArgs,
    SaveMemoryArgs,
    SearchMemoryArgs,
    create_forget_memory_tool,
    create_memory_tools,
    create_save_company_memory_tool,
    create_save_memory_tool,
    create_save_user_memory_tool,
    create_search_company_memory_tool,
    create_search_memory_tool,
    create_search_user_memory_tool,
)

__all__ = [
    "IDENTITY_KEYS",
    "BrainContext",
    "ForgetMemoryArgs",
    "SaveMemoryArgs",
    "SearchMemoryArgs",
    "create_forget_memory_tool",
    "create_memory_tools",
    "create_save_company_memory_tool",
    "create_save_memory_tool",
    "create_save_user_memory_tool",
    "create_search_company_memory_tool",
    "create_search_memory_tool",
    "create_search_user_memory_tool",
    "current_actor",
    "resolve_identity",
]

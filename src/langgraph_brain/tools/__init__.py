"""Memory tools for agents, by policy. Identity comes from the runtime only, never from the model."""

from .identity import IDENTITY_KEYS, BrainContext, current_actor, resolve_identity
from .memory import (
    create_forget_memory_tool,
    create_memory_tools,
    create_save_company_memory_tool,
    create_save_memory_tool,
    create_save_user_memory_tool,
    create_search_company_memory_tool,
    create_search_memory_tool,
    create_search_user_memory_tool,
)
from .permissions import (
    ALL_ACTIONS,
    ALL_SCOPES,
    DEFAULT_PERMISSIONS,
    READ_ONLY_COMPANY,
    Action,
    Permissions,
    check_permissions,
)
from .schemas import ForgetMemoryArgs, SaveMemoryArgs, SearchMemoryArgs

__all__ = [
    "ALL_ACTIONS",
    "ALL_SCOPES",
    "DEFAULT_PERMISSIONS",
    "IDENTITY_KEYS",
    "READ_ONLY_COMPANY",
    "Action",
    "BrainContext",
    "ForgetMemoryArgs",
    "Permissions",
    "SaveMemoryArgs",
    "SearchMemoryArgs",
    "check_permissions",
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

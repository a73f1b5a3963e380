"""Token-budgeted trimming: exact cached tiktoken counts, one policy, two integrations."""

from .counter import (
    MESSAGE_OVERHEAD,
    OFFLINE_ENCODING,
    REPLY_OVERHEAD,
    TokenCounter,
    default_counter,
    load_encoding,
)
from .middleware import TrimmingMiddleware, TrimmingStateMiddleware, make_trimming_hook
from .policy import TrimResult, trim_history

__all__ = [
    "MESSAGE_OVERHEAD",
    "OFFLINE_ENCODING",
    "REPLY_OVERHEAD",
    "TokenCounter",
    "TrimResult",
    "TrimmingMiddleware",
    "TrimmingStateMiddleware",
    "default_counter",
    "load_encoding",
    "make_trimming_hook",
    "trim_history",
]

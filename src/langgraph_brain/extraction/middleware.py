"""ExtractionMiddleware: after each agent run, queue the thread for background memory extraction.

The hook runs once per run, after the agent's last step (`aafter_agent`). It costs the turn two
short statements (the cursor upsert and the job INSERT, see `queue.ExtractionQueue`) and never
waits for extraction. If the queue is unreachable the turn still succeeds: the messages stay
after the thread's cursor, and the next turn's job picks them up. Who the memories belong to is
the run's identity (`identity.resolve_identity`: the server's authenticated user first), never
anything a model wrote.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langgraph.config import get_config
from langgraph.runtime import Runtime

from ..errors import BrainConfigurationError
from ..identity import resolve_identity
from .queue import ExtractionQueue

logger = logging.getLogger(__name__)


class ExtractionMiddleware(AgentMiddleware):
    """`create_agent` middleware that enqueues the thread for extraction after every run.

    Args:
        queue: the enqueue side (`ExtractionQueue` on an open queue App).
        enabled: False makes the hook a no-op (BRAIN_EXTRACTION=false at the edges).
    """

    def __init__(self, queue: ExtractionQueue, *, enabled: bool = True) -> None:
        super().__init__()
        self.queue = queue
        self.enabled = enabled

    async def aafter_agent(self, state: Any, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Queue the thread (one job waits per thread at most); no-op without a thread id.

        Raises:
            BrainConfigurationError: the run has no user_id (like every memory component).
        """
        if not self.enabled:
            return None
        config = get_config()
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if thread_id is None:
            return None
        user_id = resolve_identity("user_id", context=runtime.context, config=config)
        try:
            company_id: str | None = resolve_identity("company_id", context=runtime.context, config=config)
        except BrainConfigurationError:
            company_id = None  # a user without a company: user memories only
        messages = state.get("messages") if isinstance(state, dict) else getattr(state, "messages", None)
        try:
            await self.queue.aenqueue(
                str(thread_id), user_id=user_id, company_id=company_id, state_messages=messages or []
            )
        except Exception:
            # Extraction is never worth failing a turn over; the cursor keeps the messages due.
            logger.warning("could not queue thread %s for extraction", thread_id, exc_info=True)
        return None


__all__ = ["ExtractionMiddleware"]

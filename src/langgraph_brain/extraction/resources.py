"""What a job needs, and how a task finds it: `WorkerResources` in the worker's job context.

A procrastinate task receives only its JSON arguments and, with `pass_context=True`, a
`JobContext`. The worker that runs it (`extraction.worker`) puts one `WorkerResources` into the
context's `additional_context` under `RESOURCES_KEY`; `resources_of(context)` takes it out. So
every task, ours and the upkeep blueprint's, reaches the process's MemoryService and BrainSaver
without globals, and two workers in one process (tests) can each carry their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph_brain.errors import BrainConfigurationError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from procrastinate.retry import BaseRetryStrategy

    from langgraph_brain.brain.service import MemoryService
    from langgraph_brain.checkpointers.saver import BrainSaver

    from .extractor import Extractor

#: Key of `WorkerResources` in `JobContext.additional_context`.
RESOURCES_KEY = "langgraph_brain"

#: Called with a step name at each step of an extraction job ("after_read", "after_apply",
#: "before_cursor", "after_cursor"); tests use it to kill the worker exactly there.
FaultHook = Callable[[str], None]

DEFAULT_IDLE_SECONDS = 5.0
DEFAULT_MAX_PENDING = 10
DEFAULT_MAX_BATCH = 50


@dataclass(frozen=True)
class ExtractionOptions:
    """How extraction jobs are scheduled (the edges fill it from settings).

    Attributes:
        idle_seconds: debounce: a thread is extracted once no turn came for this long
            (BRAIN_EXTRACTION_IDLE_SECONDS).
        max_pending: ...or at once when this many messages wait (BRAIN_EXTRACTION_MAX_PENDING).
        max_batch: messages one job hands the extractor at most; a longer backlog is worked off
            by follow-up jobs, each advancing the cursor.
        retry: the backoff after a failed attempt (a procrastinate retry strategy; None:
            `jobs.DEFAULT_RETRY`, exponential over 10 attempts).
    """

    idle_seconds: float = DEFAULT_IDLE_SECONDS
    max_pending: int = DEFAULT_MAX_PENDING
    max_batch: int = DEFAULT_MAX_BATCH
    retry: BaseRetryStrategy | None = None

    def __post_init__(self) -> None:
        if self.idle_seconds < 0:
            raise ValueError("idle_seconds must be >= 0")
        if self.max_pending < 1 or self.max_batch < 1:
            raise ValueError("max_pending and max_batch must be >= 1")


@dataclass
class WorkerResources:
    """The process's objects that tasks use.

    Attributes:
        service: the MemoryService extraction writes through (save/forget protocol).
        saver: a BrainSaver on the same database, to read threads (checkpoint and transcript).
        extractor: turns messages into memory operations; None when extraction is off (the
            worker then only runs other tasks, e.g. upkeep).
        summary_model: the chat model for conversation summaries (None: summaries off).
        options: scheduling options.
        fault_hook: see `FaultHook`; None in production.
        extra: room for other tasks' objects (keyed by their module's name).
    """

    service: MemoryService
    saver: BrainSaver
    extractor: Extractor | None = None
    summary_model: BaseChatModel | None = None
    options: ExtractionOptions = field(default_factory=ExtractionOptions)
    fault_hook: FaultHook | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fault(self, step: str) -> None:
        """Give the fault hook its chance at `step`."""
        if self.fault_hook is not None:
            self.fault_hook(step)


def resources_of(context: Any) -> WorkerResources:
    """The `WorkerResources` of the worker running this job.

    Args:
        context: the task's `procrastinate.JobContext` (declare the task with `pass_context=True`).

    Raises:
        BrainConfigurationError: the worker was started without resources (start it with
            `extraction.worker.start_worker` / `arun_worker`, or `brain worker`).
    """
    extra = getattr(context, "additional_context", None) or {}
    resources = extra.get(RESOURCES_KEY)
    if not isinstance(resources, WorkerResources):
        raise BrainConfigurationError(
            "this procrastinate worker has no langgraph-brain resources: run it with `brain worker` or"
            " langgraph_brain.extraction.worker, not `procrastinate worker`."
        )
    return resources


__all__ = [
    "DEFAULT_IDLE_SECONDS",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_PENDING",
    "RESOURCES_KEY",
    "ExtractionOptions",
    "FaultHook",
    "WorkerResources",
    "resources_of",
]

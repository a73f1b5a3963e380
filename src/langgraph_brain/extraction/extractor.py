"""The extractor: new messages in, memory operations out, applied through the public protocol.

One `Extractor.arun` does, for one thread's new messages:
  1. gather the existing memories to show (`context.agather_known`: core + search hits);
  2. ask the model for `MemoryOperations` with structured output (function calling, which every
     LangChain chat model with tool calling supports);
  3. validate each operation (`operations.check_operations`), dropping bad ones with a reason;
  4. apply the rest with `MemoryService.asave` / `aforget`, so validation, row-level security,
     history and invariant I1 hold as for any other writer.

Whose memory is changed comes only from the caller's `ExtractionIdentity`. A model that fails
(outage, timeout) raises `ExtractionModelError`, and nothing is written, so the queue retries;
a model that answers with unusable output yields an empty extraction whose report says why
(retrying the same input would not help). Re-running an extraction is safe: an upsert whose
content is already stored is "unchanged" and writes nothing, a forget of a missing slug is
"missing".
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from ..brain.models import Actor, SaveResult
from ..errors import BrainError, MemoryNotFoundError, MemoryValidationError
from .context import agather_known
from .operations import (
    CheckedOperations,
    DroppedOperation,
    MemoryOperations,
    OperationLimits,
    PlannedOperation,
    check_operations,
)
from .prompt import render_extraction

if TYPE_CHECKING:
    from ..brain.service import MemoryService

logger = logging.getLogger(__name__)

AGENT_NAME = "extractor"
"""The `agent` recorded in brain_history for extracted changes."""
MAX_SOURCE_IDS = 50
"""Most message ids kept in a memory's metadata (the newest), so metadata stays small."""

AppliedStatus = Literal["created", "updated", "unchanged", "forgotten", "missing"]


class ExtractionModelError(BrainError, RuntimeError):
    """The extraction (or summary) model failed: outage, timeout, or no usable answer.

    Nothing was written. The queue retries the job with backoff.
    """


@dataclass(frozen=True)
class ExtractionIdentity:
    """Whose memories an extraction changes: from the thread's owner, never from the model."""

    user_id: str
    company_id: str | None = None


@dataclass(frozen=True)
class SourceMessage:
    """One message of a thread, as the extractor reads it. `role` is "human", "ai", "tool", ..."""

    id: str
    role: str
    content: str


@dataclass(frozen=True)
class AppliedOperation:
    """A valid operation and what applying it did (`result` is None for forgets)."""

    operation: PlannedOperation
    status: AppliedStatus
    result: SaveResult | None = None


@dataclass
class ExtractionReport:
    """What one extraction did.

    Attributes:
        thread_id: the thread the messages came from.
        message_ids: the messages the model was shown.
        applied: operations applied, with their status.
        dropped: operations not applied, with the reason.
        output_error: why the model's answer yielded no operations at all (malformed, wrong
            schema, no tool call), else None.
        known: how many existing memories the model was shown.
        model_seconds: time in the model call; total_seconds: the whole extraction.
    """

    thread_id: str
    message_ids: tuple[str, ...]
    applied: list[AppliedOperation] = field(default_factory=list)
    dropped: list[DroppedOperation] = field(default_factory=list)
    output_error: str | None = None
    known: int = 0
    model_seconds: float = 0.0
    total_seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Applied operations per status, plus "dropped"."""
        counts: dict[str, int] = {}
        for applied in self.applied:
            counts[applied.status] = counts.get(applied.status, 0) + 1
        counts["dropped"] = len(self.dropped)
        return counts


def operations_of(output: object) -> tuple[list[Any], str | None]:
    """The raw operations in a `with_structured_output(..., include_raw=True)` answer.

    Reads the tool call's arguments rather than the parsed object, so that one bad operation
    does not cost the others (they are validated one by one); falls back to the parsed object
    for models that answer without a tool call.

    Returns:
        (operations, None), or ([], why the output is unusable).
    """
    if not isinstance(output, Mapping):
        return [], f"unexpected output type {type(output).__name__}"
    raw, parsed = output.get("raw"), output.get("parsed")
    if isinstance(raw, AIMessage) and raw.tool_calls:
        args: object = raw.tool_calls[0].get("args")
        ops = args.get("operations") if isinstance(args, Mapping) else None
        if isinstance(ops, str):
            # Some models encode the list as a JSON string inside the arguments.
            with contextlib.suppress(ValueError):
                ops = json.loads(ops)
        if isinstance(ops, list):
            return ops, None
        return [], "the tool call's arguments have no 'operations' list (wrong schema)"
    if isinstance(parsed, MemoryOperations):
        return list(parsed.operations), None
    if isinstance(raw, AIMessage) and raw.invalid_tool_calls:
        error = raw.invalid_tool_calls[0].get("error") or "arguments are not valid JSON"
        return [], f"malformed tool call: {str(error)[:200]}"
    problem = output.get("parsing_error")
    return [], f"no operations in the answer ({type(problem).__name__ if problem else 'no tool call'})"


class Extractor:
    """Forms memories from a thread's new messages with a chat model (see the module docstring).

    Args:
        model: any LangChain chat model with tool calling (the scripted model included).
        min_confidence: operations below this confidence are dropped.
        company_writes: whether company-scope operations are allowed (the tool policy).
        max_forgets: more forgets than this in one extraction refuses all of them.
        max_operations: most operations applied per extraction.

    Raises:
        ValueError: a limit out of range.
        NotImplementedError: the model does not support structured output (tool calling).
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        min_confidence: float = 0.6,
        company_writes: bool = True,
        max_forgets: int = 3,
        max_operations: int = 20,
    ) -> None:
        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be within 0..1, not {min_confidence!r}")
        if max_forgets < 0 or max_operations < 1:
            raise ValueError("max_forgets must be >= 0 and max_operations >= 1")
        self.model = model
        self.min_confidence = min_confidence
        self.company_writes = company_writes
        self.max_forgets = max_forgets
        self.max_operations = max_operations
        # Function calling is the method every tool-calling chat model accepts; include_raw keeps
        # parse errors out of exceptions (they are reported, not retried) and gives the raw
        # arguments for per-operation validation.
        self._structured = model.with_structured_output(
            MemoryOperations, method="function_calling", include_raw=True
        )

    def limits(self, max_content_chars: int) -> OperationLimits:
        """This extractor's limits, with the service's content limit."""
        return OperationLimits(
            min_confidence=self.min_confidence,
            company_writes=self.company_writes,
            max_forgets=self.max_forgets,
            max_operations=self.max_operations,
            max_content_chars=max_content_chars,
        )

    async def arun(
        self,
        service: MemoryService,
        identity: ExtractionIdentity,
        messages: Sequence[SourceMessage],
        *,
        thread_id: str,
    ) -> ExtractionReport:
        """Extract memories from `messages` and apply them for `identity`.

        Args:
            service: where the memories live.
            identity: whose memories (the thread's owner and company).
            messages: the new messages, oldest first.
            thread_id: recorded in each change's actor.

        Returns:
            The report: applied operations with their status, dropped ones with reasons.

        Raises:
            ExtractionModelError: the model call failed; nothing was written.
            MemoryBackendError: Postgres or Mem0 failed; what was applied before stays, and a
                re-run is safe (idempotent).
        """
        started = time.perf_counter()
        ids = tuple(m.id for m in messages)
        report = ExtractionReport(thread_id=thread_id, message_ids=ids)
        if not messages:
            return report
        known = await agather_known(service, identity.user_id, identity.company_id, messages)
        report.known = len(known)
        scopes = ["user"] + (["company"] if self.company_writes and identity.company_id else [])
        prompt = render_extraction(known, messages, scopes=scopes)
        model_started = time.perf_counter()
        try:
            output = await self._structured.ainvoke(prompt)
        except Exception as exc:  # any provider error: the queue decides when to try again
            raise ExtractionModelError(
                f"the extraction model failed ({type(exc).__name__}: {str(exc)[:200]}); nothing was written"
            ) from exc
        report.model_seconds = time.perf_counter() - model_started

        raw_ops, report.output_error = operations_of(output)
        if report.output_error:
            logger.warning("extraction of thread %s yielded nothing: %s", thread_id, report.output_error)
        checked: CheckedOperations = check_operations(
            raw_ops,
            limits=self.limits(service.max_content_chars),
            has_company=identity.company_id is not None,
            message_ids=ids,
        )
        report.dropped = list(checked.dropped)
        actor = Actor(agent=AGENT_NAME, thread_id=thread_id, user_id=identity.user_id)
        for planned in checked.planned:
            try:
                report.applied.append(await self._apply(service, identity, planned, actor))
            except MemoryValidationError as exc:  # e.g. metadata over the limit: this op only
                report.dropped.append(
                    DroppedOperation(planned.index, planned.op, planned.scope, planned.slug, str(exc))
                )
        for dropped in report.dropped:
            logger.warning(
                "extraction of thread %s dropped %s %s/%s: %s",
                thread_id, dropped.op, dropped.scope, dropped.slug, dropped.reason,
            )  # fmt: skip
        report.total_seconds = time.perf_counter() - started
        return report

    async def _apply(
        self, service: MemoryService, identity: ExtractionIdentity, planned: PlannedOperation, actor: Actor
    ) -> AppliedOperation:
        entity = identity.user_id if planned.scope == "user" else identity.company_id
        assert entity is not None  # check_operations drops company operations without a company
        reason = f"extracted from messages {', '.join(planned.message_ids[-5:])}"
        if planned.op == "forget":
            try:
                await service.aforget(planned.scope, entity, planned.slug, actor=actor, reason=reason)
            except MemoryNotFoundError:
                return AppliedOperation(planned, "missing")
            return AppliedOperation(planned, "forgotten")
        assert planned.content is not None
        existing = await service.aget(planned.scope, entity, planned.slug, track=False)  # not a use
        if existing is not None and existing.sync_state != "deleting" and existing.content == planned.content:
            # Same fact again (a retried job, or a repeated statement): keep the row as it is, its
            # category and its first sources included. asave still re-pushes a row left pending.
            result = await service.asave(
                planned.scope, entity, planned.slug, planned.content, actor=actor, reason=reason
            )
            return AppliedOperation(planned, result.status, result)
        kept = dict(existing.metadata) if existing is not None and existing.sync_state != "deleting" else {}
        metadata = {
            **kept,  # e.g. `pinned` set by a person stays
            "source": "extracted",
            "source_message_ids": list(planned.message_ids[-MAX_SOURCE_IDS:]),
            "confidence": planned.confidence,
        }
        result = await service.asave(
            planned.scope, entity, planned.slug, planned.content,
            category=planned.category, metadata=metadata, actor=actor, reason=reason,
        )  # fmt: skip
        return AppliedOperation(planned, result.status, result)


__all__ = [
    "AGENT_NAME",
    "AppliedOperation",
    "ExtractionIdentity",
    "ExtractionModelError",
    "ExtractionReport",
    "Extractor",
    "SourceMessage",
    "operations_of",
]

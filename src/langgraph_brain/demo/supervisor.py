"""A supervisor that hands work to specialists; all of them share one company memory.

Each specialist is its own create_agent with the memory tools and the memory context, exposed
to the supervisor as a tool `ask_<name>_specialist(request)`. The specialist runs with the
caller's identity (the supervisor's runtime context), so:

* company memory is shared: a fact the tax specialist saves is found by the onboarding
  specialist, in any thread, for any user of the same company;
* user memory stays private: every specialist reads and writes only the caller's user memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain.tools import ToolRuntime
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.types import Checkpointer
from pydantic import BaseModel, Field

from ..identity import resolve_identity
from ..middleware import (
    DEFAULT_MAX_HISTORY_TOKENS,
    DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    MemoryContextMiddleware,
    TrimmingMiddleware,
    default_counter,
)
from ..tools import BrainContext, create_memory_tools
from .models import resolve_chat_model

if TYPE_CHECKING:
    from ..brain.service import MemoryService


@dataclass(frozen=True)
class Specialist:
    """One specialist agent.

    Attributes:
        name: short name; the supervisor's tool is `ask_<name>_specialist`.
        description: what it handles. A line ``Topics: a, b, c`` helps routing (the scripted
            model routes on it).
        prompt: the specialist's system prompt.
    """

    name: str
    description: str
    prompt: str


DEFAULT_SPECIALISTS: tuple[Specialist, ...] = (
    Specialist(
        name="tax",
        description=(
            "Answers questions about the company's taxes, VAT and invoicing, and records tax facts"
            " in company memory.\nTopics: tax, taxes, vat, iva, invoice, invoices, regime, accounting,"
            " fiscal, deduction, filing"
        ),
        prompt=(
            "You are the company's tax specialist. Search company memory for the company's tax"
            " facts before answering, and save new tax facts about the company with"
            " save_company_memory (slugs like 'company_tax_regime')."
        ),
    ),
    Specialist(
        name="onboarding",
        description=(
            "Helps new colleagues get started: company policies, tools, first steps, and what a"
            " newcomer should know about the company.\nTopics: onboarding, new, joined, start,"
            " starting, welcome, setup, laptop, policy, policies, hours, vacation, team"
        ),
        prompt=(
            "You are the onboarding specialist. Use company memory to tell newcomers what they"
            " need to know, and remember facts about the newcomer in their user memory."
        ),
    ),
)

SUPERVISOR_PROMPT = (
    "You are a supervisor. You do not answer from your own knowledge: pass each request to the"
    " best specialist tool, then relay the specialist's answer to the user."
)


class AskSpecialistArgs(BaseModel):
    """What the supervisor passes to a specialist."""

    request: str = Field(description="The user's request, with any details the specialist needs.")


def create_specialist_agent(
    service: MemoryService,
    specialist: Specialist,
    *,
    model: str | BaseChatModel | None = None,
    max_memory_context_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    tokenizer_model: str | None = None,
) -> Any:
    """A specialist: create_agent with the memory tools and memory context, no checkpointer.

    It is stateless between requests (the supervisor's thread holds the conversation); its
    memory is the shared brain.
    """
    context = MemoryContextMiddleware(
        service,
        max_tokens=max_memory_context_tokens,
        token_counter=default_counter(tokenizer_model).count_text,
    )
    return create_agent(
        resolve_chat_model(model),
        tools=create_memory_tools(service, agent_name=f"{specialist.name}_specialist"),
        system_prompt=specialist.prompt,
        middleware=[context],
        context_schema=BrainContext,
        name=f"{specialist.name}_specialist",
    )


def create_specialist_tool(agent: Any, specialist: Specialist) -> BaseTool:
    """Expose a specialist agent as the supervisor's tool `ask_<name>_specialist(request)`.

    The specialist runs with the supervisor's identity; the model cannot choose another one.
    """

    async def ask(request: str, runtime: ToolRuntime[Any, Any]) -> str:
        context, config = runtime.context, dict(runtime.config or {})
        identity: BrainContext = {
            "user_id": resolve_identity("user_id", context=context, config=config),
            "company_id": resolve_identity("company_id", context=context, config=config),
        }
        result = await agent.ainvoke({"messages": [HumanMessage(request)]}, context=identity)
        replies = [m for m in result["messages"] if isinstance(m, AIMessage) and m.text]
        return replies[-1].text if replies else "(the specialist gave no answer)"

    return StructuredTool.from_function(
        coroutine=ask,
        name=f"ask_{specialist.name}_specialist",
        description=specialist.description,
        args_schema=AskSpecialistArgs,
        metadata={"brain_specialist": specialist.name},
    )


def create_supervisor(
    service: MemoryService,
    *,
    model: str | BaseChatModel | None = None,
    specialist_model: str | BaseChatModel | None = None,
    specialists: Sequence[Specialist] = DEFAULT_SPECIALISTS,
    checkpointer: Checkpointer = None,
    system_prompt: str = SUPERVISOR_PROMPT,
    trim_history: bool = True,
    max_history_tokens: int = DEFAULT_MAX_HISTORY_TOKENS,
    max_memory_context_tokens: int = DEFAULT_MAX_MEMORY_CONTEXT_TOKENS,
    tokenizer_model: str | None = None,
    extraction: AgentMiddleware[Any, Any] | None = None,
    name: str = "supervisor",
) -> Any:
    """Build the supervisor graph with its specialists (default: tax and onboarding).

    Args:
        service: The shared MemoryService.
        model: The supervisor's model (default `BRAIN_MODEL`, scripted without a key).
        specialist_model: The specialists' model (default: `model`).
        specialists: At least one `Specialist`.
        checkpointer: For the supervisor's threads; None under `langgraph dev`.
        system_prompt: The supervisor's instructions.
        trim_history: Trim the supervisor's conversation to `max_history_tokens`.
        max_history_tokens: Budget of what the supervisor's model sees.
        max_memory_context_tokens: Budget of each specialist's memory block.
        tokenizer_model: Model whose encoding the budgets count in; None: the offline encoding.
        extraction: Background memory extraction of the supervisor's conversation after each
            run (an `extraction.middleware.ExtractionMiddleware`); None: off.
        name: Graph name.

    Returns:
        A compiled graph with `context_schema=BrainContext`.
    """
    if not specialists:
        raise ValueError("a supervisor needs at least one specialist")
    tools = [
        create_specialist_tool(
            create_specialist_agent(
                service,
                spec,
                model=specialist_model if specialist_model is not None else model,
                max_memory_context_tokens=max_memory_context_tokens,
                tokenizer_model=tokenizer_model,
            ),
            spec,
        )
        for spec in specialists
    ]
    stack: list[AgentMiddleware[Any, Any]] = (
        [TrimmingMiddleware(max_history_tokens, default_counter(tokenizer_model))] if trim_history else []
    )
    return create_agent(
        resolve_chat_model(model),
        tools=tools,
        system_prompt=system_prompt,
        middleware=[*stack, *([extraction] if extraction is not None else [])],
        context_schema=BrainContext,
        checkpointer=checkpointer,
        name=name,
    )


__all__ = [
    "DEFAULT_SPECIALISTS",
    "SUPERVISOR_PROMPT",
    "AskSpecialistArgs",
    "Specialist",
    "create_specialist_agent",
    "create_specialist_tool",
    "create_supervisor",
]

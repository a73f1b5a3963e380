"""ScriptedToolCallingModel: a deterministic, rule-based stand-in for a chat model.

It exists so that the demo, the tests and `langgraph dev` run with no API key and no network.
It is not intelligence and never claims to be: every reply it writes starts with
``[scripted model]``. Everything around it (Postgres, Mem0, embeddings, LangGraph) is real.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..brain.validation import suggest_slug

PREFIX = "[scripted model]"

_QUESTION_START = re.compile(
    r"^(what|who|whom|whose|when|where|why|how|which|do|does|did|is|are|am|was|were|can|could|should|"
    r"would|will|have|has|tell me|recall|remind me)\b",
    re.IGNORECASE,
)
_INJECTED_SEARCH = re.compile(
    r"search (user|company) ([\w.@-]+)(?: (?:for|about) (.+?))?[.!]?$", re.IGNORECASE | re.MULTILINE
)
_REMEMBER = re.compile(
    r"^(?:please\s+)?(?:remember|note|save)(?P<company>\s+for\s+the\s+company|\s+company\s+fact)?"
    r"(?:\s*:\s*|\s+that\s+|\s+)(?P<fact>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_FORGET = re.compile(
    r"^(?:please\s+)?forget(?:\s+the)?(?P<company>\s+company)?(?:\s+memory)?\s+(?P<what>.+?)[.!]?$",
    re.IGNORECASE,
)
_TRY_SLUG = re.compile(r"Try '([a-z0-9][a-z0-9_.-]{0,127})'")
_COMPANY_WORDS = re.compile(r"\b(company|our|we|us|team|colleagues?|policy|policies|tax|vat|iva)\b", re.I)
_USER_WORDS = re.compile(r"\b(my|me|i|mine|myself)\b", re.I)
_LABEL = re.compile(
    r"^(?!(?:please\s+)?(?:remember|note|save|forget)\b)[\w ]{1,40}?:\s+(?=\S)", re.IGNORECASE
)
_TOPICS = re.compile(r"Topics:\s*(.+)", re.IGNORECASE)

# Which category a saved fact gets, by the first rule whose words appear (user / company).
_USER_CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (r"\b(name|age|born|live|lives|city|job|role|title|email|phone|i am|i'm)\b", "profile"),
    (r"\b(prefer|prefers|favou?rite|like|likes|love|loves|hate|hates)\b", "preference"),
    (r"\b(goal|goals|want|wants|plan|plans|aim|aims)\b", "goal"),
    (r"\b(business|shop|store|clients?|customers?|revenue|sell|sells)\b", "business"),
)
_COMPANY_CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (r"\b(tax|taxes|vat|iva|regime|invoice|invoices|fiscal|accounting)\b", "company_tax"),
    (r"\b(policy|policies|rule|rules|hours|vacation|holidays?|onboarding|laptop)\b", "company_policy"),
    (r"\b(founded|headquarters|industry|employees|mission)\b", "company_profile"),
)


def _text(message: BaseMessage) -> str:
    return message.text if isinstance(message.text, str) else str(message.content)


def _third_person(fact: str, scope: str) -> str:
    """'my name is Ana' -> "The user's name is Ana." so a memory reads the same to anyone."""
    fact = fact.strip().rstrip(".!")
    if scope == "user":
        subs = [
            (r"\bI am\b|\bI'm\b", "the user is"),
            (r"\bI have\b|\bI've\b", "the user has"),
            (
                r"\bI (prefer|like|love|live|work|want|need|hate|speak|use|own|run|plan|sell)\b",
                r"the user \1s",
            ),
            (r"\bmy\b", "the user's"),
            (r"\bI\b", "the user"),
            (r"\bme\b", "the user"),
        ]
    else:
        subs = [
            (r"\bwe are\b|\bwe're\b", "the company is"),
            (r"\bour\b", "the company's"),
            (r"\bwe\b", "the company"),
        ]
    for pattern, repl in subs:
        fact = re.sub(pattern, repl, fact, flags=re.IGNORECASE)
    return fact[:1].upper() + fact[1:] + "."


def _slug_for(fact: str, scope: str) -> str:
    """'my favourite colour is green' -> 'favourite_colour'; 'our tax regime is X' -> 'company_tax_regime'."""
    match = re.match(r"^(?:my|our|the company's|the)\s+(.+?)\s+(?:is|are|was|were)\b", fact.strip(), re.I)
    if match:
        base = suggest_slug(match.group(1))
    else:
        words = re.findall(r"[A-Za-z0-9]+", fact)
        if words and words[0].lower() in ("i", "we"):
            words = words[1:]  # "I prefer tea" -> "prefer_tea"
        base = suggest_slug(" ".join(words[:5]))
    if scope == "company" and not base.startswith("company"):
        base = f"company_{base}"
    return base[:64].strip("_.-") or "memory_note"


def _category_for(fact: str, scope: str) -> str:
    rules = _USER_CATEGORY_RULES if scope == "user" else _COMPANY_CATEGORY_RULES
    for pattern, category in rules:
        if re.search(pattern, fact, re.IGNORECASE):
            return category
    return "fact"


class ScriptedToolCallingModel(BaseChatModel):
    """A scripted (rule-based, deterministic) tool-calling chat model. Not an LLM.

    Used when no API key is configured for `BRAIN_MODEL`, or when `BRAIN_MODEL=scripted`.
    Every text reply starts with ``[scripted model]``. It looks at the newest message only:

    After tool results (the newest messages are ToolMessages), it answers from them:
      * search results: quotes the best hit of each searched scope, or says nothing was found;
      * a save/forget confirmation: repeats it;
      * a save that failed with a slug suggestion (``Try 'x'``): retries once with that slug;
      * other tool errors: reports them and carries on (the conversation does not stop);
      * a specialist's answer (`ask_*` tools): relays it, naming the specialist.

    On a user message, the first matching rule wins (a leading label such as ``Tax:`` or
    ``Onboarding question:`` is used for routing, then ignored):
      1. Specialist tools bound (`ask_<name>`, i.e. this is a supervisor): route the message
         unchanged to the specialist whose name appears first in it, else to the one with most
         matching words in its description's ``Topics:`` line, else to the first one.
      2. ``search user <id> [for <query>]`` / ``search company <id> …`` anywhere in the text:
         obeys it literally, *including* the forged ``user_id``/``company_id`` argument. This is
         deliberate: it plays a model hijacked by prompt injection, so tests can show the tools
         ignore identity in arguments.
      3. ``forget [company] [memory] <what>`` -> `forget_memory(scope, slug)`, slug from <what>.
      4. ``remember [for the company] [that] <fact>`` (also "note", "save", "remember company
         fact:") -> `save_user_memory` or, with the company marker or a fact starting with
         "our"/"we", `save_company_memory`. The fact is rewritten in the third person
         ("my name is Ana" -> "The user's name is Ana."); the slug is the subject ("name",
         "company_tax_regime") or the first five words; the category follows keyword rules
         (name/city/job -> profile, prefer/like -> preference, goal/want -> goal, tax/vat ->
         company_tax, policy/hours -> company_policy, else fact).
      5. A question (ends with "?" or starts with what/who/how/do/…) -> search. Scope: company
         memory if it mentions company/our/we/team/policy/tax, user memory if it mentions
         my/me/I, otherwise both (parallel tool calls). The query is the question itself.
      6. Anything else: a short reply saying it is scripted, how many core memories are in its
         system prompt, and which phrasings it understands.
    Tools that are not bound are never called; if no rule applies, it replies in text.

    Bound to the extractor's or summariser's schema (`with_structured_output`), it answers with
    the fixed extraction and summary rules of `scripted_extraction` instead.
    """

    model_name: str = "scripted-tool-calling"

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-calling"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI-style schemas (the scripted rules read names and descriptions)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = {t["function"]["name"]: t["function"] for t in kwargs.get("tools") or []}
        # Imported here: the extraction rules load the extraction package, which chat turns never need.
        from .scripted_extraction import structured_reply

        message = structured_reply(messages, tools) or self._respond(messages, tools)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Pure CPU work measured in microseconds: no executor hop needed.
        return self._generate(messages, stop, **kwargs)

    # ------------------------------------------------------------------ rules

    def _respond(self, messages: list[BaseMessage], tools: dict[str, dict[str, Any]]) -> AIMessage:
        if not messages:
            return AIMessage(f"{PREFIX} Nothing to answer.")
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return self._after_tools(messages, tools)
        text = _text(last).strip() if isinstance(last, HumanMessage) else ""
        system = next((_text(m) for m in messages if isinstance(m, SystemMessage)), "")
        n = len(messages)

        def call(name: str, args: dict[str, Any], i: int = 0) -> dict[str, Any]:
            return {"name": name, "args": args, "id": f"scripted_{n}_{i}", "type": "tool_call"}

        specialists = [name for name in tools if name.startswith("ask_")]
        if specialists and text:
            target = self._route(text, specialists, tools)
            return AIMessage("", tool_calls=[call(target, {"request": text})])

        # "Tax: remember that …" / "Onboarding question: …": the label only routes.
        text = _LABEL.sub("", text, count=1)

        if m := _INJECTED_SEARCH.search(text):
            scope, who, query = m.group(1).lower(), m.group(2), m.group(3) or "everything"
            name = f"search_{scope}_memory"
            if name in tools:
                forged = {"query": query, f"{scope}_id": who}
                return AIMessage("", tool_calls=[call(name, forged)])

        if (m := _FORGET.match(text)) and "forget_memory" in tools:
            scope = "company" if m.group("company") else "user"
            return AIMessage(
                "",
                tool_calls=[call("forget_memory", {"scope": scope, "slug": suggest_slug(m.group("what"))})],
            )

        if m := _REMEMBER.match(text):
            fact = m.group("fact").strip()
            company = bool(m.group("company")) or bool(re.match(r"^(our|we|the company)\b", fact, re.I))
            scope = "company" if company and "save_company_memory" in tools else "user"
            name = f"save_{scope}_memory"
            if name in tools:
                args = {
                    "slug": _slug_for(fact, scope),
                    "content": _third_person(fact, scope),
                    "category": _category_for(fact, scope),
                }
                return AIMessage("", tool_calls=[call(name, args)])

        if text.endswith("?") or _QUESTION_START.match(text):
            wants_company = bool(_COMPANY_WORDS.search(text))
            wants_user = bool(_USER_WORDS.search(text))
            scopes = (
                ["company"]
                if wants_company and not wants_user
                else ["user"]
                if wants_user and not wants_company
                else ["user", "company"]
            )
            calls = [
                call(f"search_{s}_memory", {"query": text}, i)
                for i, s in enumerate(scopes)
                if f"search_{s}_memory" in tools
            ]
            if calls:
                return AIMessage("", tool_calls=calls)

        core = system.count("\n- [")
        return AIMessage(
            f"{PREFIX} I follow fixed rules and am not an AI. I have {core} core memories in my"
            " system prompt. Say 'remember that …' to save a fact, ask a question to search memory,"
            " or 'forget <slug>' to delete one."
        )

    @staticmethod
    def _route(text: str, specialists: list[str], tools: dict[str, dict[str, Any]]) -> str:
        lowered = text.lower()
        named = []
        for name in specialists:
            label = name.removeprefix("ask_").removesuffix("_specialist").replace("_", " ")
            pos = lowered.find(label)
            if pos >= 0:
                named.append((pos, name))
        if named:
            return min(named)[1]
        words = set(re.findall(r"[a-z0-9]+", lowered))
        best, best_score = specialists[0], 0
        for name in specialists:
            topics = _TOPICS.search(tools[name].get("description", "") or "")
            keys = {w.strip().lower() for w in topics.group(1).split(",")} if topics else set()
            score = len(words & keys)
            if score > best_score:
                best, best_score = name, score
        return best

    def _after_tools(self, messages: list[BaseMessage], tools: dict[str, dict[str, Any]]) -> AIMessage:
        results: list[ToolMessage] = []
        for m in reversed(messages):
            if not isinstance(m, ToolMessage):
                break
            results.append(m)
        results.reverse()
        calls: dict[str, dict[str, Any]] = {}
        for m in messages:
            if isinstance(m, AIMessage):
                for c in m.tool_calls:
                    calls[c["id"] or ""] = dict(c)
        lines: list[str] = []
        for result in results:
            name = result.name or calls.get(result.tool_call_id, {}).get("name", "tool")
            content = _text(result)
            if result.status == "error":
                previous = calls.get(result.tool_call_id)
                hint = _TRY_SLUG.search(content)
                if (
                    hint
                    and previous is not None
                    and name.startswith("save_")
                    and previous["args"].get("slug") != hint.group(1)
                ):
                    retry = {**previous["args"], "slug": hint.group(1)}
                    return AIMessage(
                        "", tool_calls=[{**previous, "args": retry, "id": f"{previous['id']}_retry"}]
                    )
                lines.append(f"The {name} tool reported a problem: {content}")
            elif name.startswith("search_"):
                scope = "company" if "company" in name else "your"
                hit = re.search(r"^- \[[^\]]+\] \([^)]*\) (.+)$", content, re.MULTILINE)
                if hit:
                    lines.append(f"From {scope} memory: {hit.group(1)}")
                else:
                    lines.append(f"I found nothing in {scope} memory about that.")
            elif name.startswith("ask_"):
                label = name.removeprefix("ask_").replace("_", " ")
                lines.append(f"The {label} says: {content.removeprefix(PREFIX).strip()}")
            else:
                lines.append(content)
        return AIMessage(f"{PREFIX} " + " ".join(lines))

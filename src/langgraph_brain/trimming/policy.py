"""Which messages the model sees: the newest ones that fit a token budget, by a few rules.

Rules, in order of precedence:

1. A leading system message is always kept (and its tokens count against the budget).
2. The rest is a contiguous run of the newest messages (a suffix of the history).
3. It starts on a human message, and no AI message is separated from the ToolMessages that
   answer its tool calls (parallel calls included): a cut is only made right before a human
   message that no later ToolMessage reaches back across.
4. Among such cuts, the oldest one whose window fits `max_tokens` is taken, so no further
   older message could be added without breaking the budget or rule 3.
5. Never empty: if even the newest human message with everything after it (the turn in
   progress) is over budget, that turn is kept whole anyway, over budget, and older history is
   dropped. The model may then reject the request as too long, which is a clearer failure
   than answering a question it was never shown. `TrimResult.over_budget` tells you.

Histories without any human message (unusual) start on the oldest non-tool message that fits,
else the newest such; a history with no valid start at all is returned unchanged.

Cost: messages are visited newest first and the walk stops at the first cut past the budget,
so a turn costs O(window), not O(history), given cached per-message counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from .counter import REPLY_OVERHEAD, TokenCounter


@dataclass(frozen=True)
class TrimResult:
    """The kept window and its exact token count (system message and reply priming included)."""

    messages: list[BaseMessage]
    tokens: int
    over_budget: bool
    dropped: int


def trim_history(
    messages: Sequence[BaseMessage],
    counter: TokenCounter,
    max_tokens: int,
    *,
    system_message: SystemMessage | None = None,
) -> TrimResult:
    """Trim `messages` to the newest window that fits `max_tokens` under the module's rules.

    Args:
        messages: The conversation, oldest first. A leading SystemMessage is kept.
        counter: Token counter (its cache makes repeated calls cheap).
        max_tokens: The budget, e.g. `BRAIN_MAX_HISTORY_TOKENS`.
        system_message: A system message held outside `messages` (create_agent's
            `ModelRequest.system_message`); counted against the budget, not returned.

    Returns:
        The kept messages (leading system message first) and their exact token count.
    """
    head: list[BaseMessage] = []
    start = 0
    if messages and isinstance(messages[0], SystemMessage):
        head = [messages[0]]
        start = 1
    fixed = REPLY_OVERHEAD + sum(counter.count_message(m) for m in head)
    if system_message is not None:
        fixed += counter.count_message(system_message)
    budget = max_tokens - fixed

    total = 0
    open_calls: set[str] = set()
    human_fit: int | None = None  # oldest human cut that fits
    human_fit_total = 0
    other_fit: int | None = None  # oldest non-tool cut that fits (no-human fallback)
    other_fit_total = 0
    other_any: int | None = None  # newest non-tool cut at all (no-human fallback)
    other_any_total = 0
    over_human: int | None = None
    over_human_total = 0

    for i in range(len(messages) - 1, start - 1, -1):
        m = messages[i]
        total += counter.count_message(m)
        if isinstance(m, ToolMessage):
            open_calls.add(m.tool_call_id)
        elif isinstance(m, AIMessage):
            for call in m.tool_calls:
                open_calls.discard(call.get("id") or "")
        valid = not open_calls and not isinstance(m, ToolMessage)
        fits = total <= budget
        if valid and isinstance(m, HumanMessage):
            if fits:
                human_fit, human_fit_total = i, total
            else:
                if human_fit is None:
                    # Rule 5: the newest human message does not fit even alone with its turn.
                    over_human, over_human_total = i, total
                break
        elif valid:
            if fits:
                other_fit, other_fit_total = i, total
            if other_any is None:
                other_any, other_any_total = i, total
        if not fits and human_fit is not None:
            break

    if human_fit is not None:
        cut, kept_total, over = human_fit, human_fit_total, False
    elif over_human is not None:
        cut, kept_total, over = over_human, over_human_total, True
    elif other_fit is not None:
        cut, kept_total, over = other_fit, other_fit_total, False
    elif other_any is not None:
        cut, kept_total, over = other_any, other_any_total, True
    else:
        rest = list(messages[start:])
        kept_total = sum(counter.count_message(m) for m in rest)
        return TrimResult(head + rest, fixed + kept_total, fixed + kept_total > max_tokens, 0)
    kept = head + list(messages[cut:])
    return TrimResult(kept, fixed + kept_total, over or fixed + kept_total > max_tokens, cut - start)

"""Where a conversation may be cut: the one walk behind both trimming and compaction.

Trimming (what the model sees) and compaction (what stays in graph state) both keep "the
newest messages within a budget"; they differ only in what a message costs (tokens, or one per
message) and in what they do when nothing fits. The rules live here, once:

1. **System messages are kept**, wherever they are, in place. They are instructions, not
   conversation: compaction never archives them, so trimming must not hide them from the model
   either. Their cost counts against the budget before anything else.
2. **Nothing is cut when everything fits.** The history is returned as the caller gave it.
3. Otherwise the kept part is a contiguous run of the newest messages that **starts on a human
   message**.
4. **A tool round is never split.** A message that carries `tool_calls` (in LangChain, an
   `AIMessage`) is never separated from the `ToolMessage`s that answer them, parallel calls
   included: a cut is only made right before a human message that no later `ToolMessage`
   reaches back across.
5. Among such cuts, the **oldest one that fits** is taken: no older message could be added
   without breaking the budget or rule 4.
6. **Never empty.** When no cut fits, the result names the newest valid cut (the turn in
   progress, kept whole) and says it does not fit; the caller decides (trimming sends it over
   budget, compaction waits for a later turn).

A history in which no human message is a valid start (say, an agent driven by a system prompt
alone) starts on the oldest message that is not a `ToolMessage` and fits, else the newest such;
a history with no valid start at all is kept whole.

Cost: messages are visited newest first and the walk stops at the first cut past the budget,
so it costs O(window) cost lookups; finding the system messages is a C-speed pass over the types.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage


@dataclass(frozen=True)
class SafeCut:
    """Where the kept part of a history starts, and what keeping it costs."""

    index: int
    """First kept message; system messages before it are kept too. 0: nothing is cut."""
    cost: int
    """Cost of every kept message, system messages included."""
    fits: bool
    """Whether `cost` is within the budget."""
    head: tuple[int, ...] = ()
    """Positions of the system messages before `index` (kept in front of the rest)."""

    @property
    def dropped_count(self) -> int:
        """How many messages the cut leaves out."""
        return self.index - len(self.head)

    def kept(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The kept messages, oldest first: system messages before the cut, then the rest."""
        return [*(messages[i] for i in self.head), *messages[self.index :]]

    def dropped(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """The messages the cut leaves out, oldest first (never a system message)."""
        return [m for m in messages[: self.index] if not isinstance(m, SystemMessage)]


def system_positions(messages: Sequence[BaseMessage]) -> list[int]:
    """Positions of the system messages in `messages`, found at C speed.

    `isinstance` on a message goes through pydantic's ABC machinery (~0.2 µs); a 5,000-message
    history would spend more on finding its system messages than on the whole walk. So: the
    few message classes present are tested once, then their positions are found by C scans.
    """
    kinds = list(map(type, messages))
    positions: list[int] = []
    for kind in set(kinds):
        if issubclass(kind, SystemMessage):
            # list.index scans in C; system messages are few, so this is a handful of calls.
            i = -1
            with contextlib.suppress(ValueError):
                while True:
                    i = kinds.index(kind, i + 1)
                    positions.append(i)
    return sorted(positions)


def safe_cut(messages: Sequence[BaseMessage], *, budget: int, cost: Callable[[BaseMessage], int]) -> SafeCut:
    """Find the oldest cut of `messages` that fits `budget`, by the rules of this module.

    Args:
        messages: The conversation, oldest first.
        budget: The most the kept messages may cost.
        cost: What one message costs (non-negative), e.g. its token count; it is called for
            every system message and for the newest messages only, back to the cut.

    Returns:
        The cut. When `fits` is False, `index` is the newest valid cut (or 0 when there is
        none) and `cost` is what keeping from there costs.
    """
    systems = system_positions(messages)
    total = sum(cost(messages[i]) for i in systems)
    open_calls: set[str] = set()
    human_fit: tuple[int, int] | None = None  # oldest valid human cut that fits
    newest_human: tuple[int, int] | None = None  # newest valid human cut, fitting or not
    other_fit: tuple[int, int] | None = None  # the same two for histories with no human start
    newest_other: tuple[int, int] | None = None

    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, SystemMessage):
            continue
        total += cost(m)
        if isinstance(m, ToolMessage):
            open_calls.add(m.tool_call_id)
        else:
            # Any message with a `tool_calls` field, not only AIMessage. Read from the field dict:
            # getattr on a pydantic model that lacks the field costs microseconds per message.
            for call in m.__dict__.get("tool_calls") or ():
                open_calls.discard(call.get("id") or "")
        fits = total <= budget
        if not open_calls and not isinstance(m, ToolMessage):
            if isinstance(m, HumanMessage):
                newest_human = newest_human or (i, total)
                if fits:
                    human_fit = (i, total)
            else:
                newest_other = newest_other or (i, total)
                if fits:
                    other_fit = (i, total)
        if not fits and newest_human is not None:
            # Every older cut costs at least as much, so none of them fits either.
            break
    else:
        # The walk reached the oldest message: the whole history was visited.
        if total <= budget:
            return SafeCut(0, total, True)
    for found, fit in ((human_fit, True), (newest_human, False), (other_fit, True), (newest_other, False)):
        if found is not None:
            index, kept_cost = found
            return SafeCut(index, kept_cost, fit, tuple(i for i in systems if i < index))
    return SafeCut(0, total, total <= budget)


__all__ = ["SafeCut", "safe_cut", "system_positions"]

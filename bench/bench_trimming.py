"""Trimming a long history: `trim_messages` with a tiktoken counter vs langgraph-brain's trimmer.

Each "turn" appends a human and an AI message to a history of `--messages` messages (human 30
words, AI 60 words, one tool round with two parallel calls every 10 turns) and trims it to
`--budget` tokens. Both use the same offline tiktoken encoding and the same message-count rule.
Ours is measured warm (its per-message cache filled by earlier turns), as in a running agent.
Each kept window is checked: exact token count <= budget, and no further older message fits.

    python bench/bench_trimming.py --messages 5000 --turns 50

Needs no database.
"""

from __future__ import annotations

import argparse
import statistics
import time

import tiktoken
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import trim_messages

from langgraph_brain.middleware import trim_history
from langgraph_brain.middleware.tokens import OFFLINE_ENCODING, REPLY_OVERHEAD, TokenCounter

WORDS = [
    "memory",
    "graph",
    "thread",
    "token",
    "budget",
    "window",
    "human",
    "model",
    "tool",
    "result",
    "postgres",
    "cursor",
    "transcript",
    "agent",
    "company",
    "regime",
]


def words(n: int, seed: int) -> str:
    return " ".join(WORDS[(seed * 5 + i * 3) % len(WORDS)] for i in range(n))


def turn(i: int) -> list[BaseMessage]:
    out: list[BaseMessage] = [HumanMessage(words(30, i), id=f"h{i}")]
    if i % 10 == 0:
        calls = [
            {"name": "lookup", "args": {"q": words(4, i + k)}, "id": f"c{i}-{k}", "type": "tool_call"}
            for k in range(2)
        ]
        out.append(AIMessage("", tool_calls=calls, id=f"t{i}"))
        out += [ToolMessage(words(20, i + k), tool_call_id=f"c{i}-{k}", id=f"r{i}-{k}") for k in range(2)]
    out.append(AIMessage(words(60, i), id=f"a{i}"))
    return out


def history(n_messages: int) -> list[BaseMessage]:
    msgs: list[BaseMessage] = [SystemMessage("You are a helpful assistant with memory.", id="sys")]
    i = 0
    while len(msgs) < n_messages:
        msgs += turn(i)
        i += 1
    return msgs


def check(window: list[BaseMessage], full: list[BaseMessage], counter: TokenCounter, budget: int) -> None:
    """Exact count within budget, and the next older start (a human message) would not fit."""
    assert counter.count_messages(window) <= budget, "window over budget"
    body = window[1:]
    cut = len(full) - len(body)
    assert full[cut:] == body and isinstance(body[0], HumanMessage)
    older = next((j for j in range(cut - 1, 0, -1) if isinstance(full[j], HumanMessage)), None)
    if older is not None:
        assert counter.count_messages([full[0], *full[older:]]) > budget, "an older message would fit"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=30, help="timed turns per implementation")
    parser.add_argument("--budget", type=int, default=3000)
    args = parser.parse_args()

    enc = tiktoken.get_encoding(OFFLINE_ENCODING)
    ours = TokenCounter(enc)

    # Stock: the same counting rule, encoding every message on every call, as a plain
    # tiktoken `token_counter` does (no cache).
    def stock_count(messages: list[BaseMessage]) -> int:
        return REPLY_OVERHEAD + sum(ours.measure(m) for m in messages)

    base = history(args.messages)
    trim_history(base, ours, args.budget)  # warm-up: a running agent has counted these already

    results: dict[str, list[float]] = {"trim_messages + tiktoken": [], "langgraph-brain trim_history": []}
    msgs = list(base)
    for t in range(args.turns):
        msgs += turn(100_000 + t)
        start = time.perf_counter()
        kept_stock = trim_messages(
            msgs,
            max_tokens=args.budget,
            token_counter=stock_count,
            strategy="last",
            start_on="human",
            include_system=True,
            allow_partial=False,
        )
        results["trim_messages + tiktoken"].append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        kept = trim_history(msgs, ours, args.budget).messages
        results["langgraph-brain trim_history"].append((time.perf_counter() - start) * 1000)
        check(kept, msgs, ours, args.budget)
        assert stock_count(kept_stock) <= args.budget

    print(
        f"\ntrimming {len(msgs)} messages to {args.budget} tokens ({enc.name}); "
        f"median / p95 of {args.turns} turns\n"
    )
    print("| implementation | median ms | p95 ms |")
    print("|---|---:|---:|")
    for name, lat in results.items():
        p95 = sorted(lat)[max(0, int(len(lat) * 0.95) - 1)]
        print(f"| {name} | {statistics.median(lat):.2f} | {p95:.2f} |")
    s = statistics.median(results["trim_messages + tiktoken"])
    o = statistics.median(results["langgraph-brain trim_history"])
    print(
        f"\nspeed-up: {s / o:.0f}x; every kept window checked: exact count <= budget, no older message fits"
    )


if __name__ == "__main__":
    main()

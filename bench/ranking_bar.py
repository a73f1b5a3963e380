"""The issue's bar, checked on replayed figures (bench/eval_ranking.py --summary).

The default ranking must be no worse than vector-only on every generated set at k=5 and k=10,
and on LoCoMo no worse than today's hybrid overall or in any category, and better on temporal
questions. `check` applies it to one split ("tune" for choosing, "held-out" for confirming;
LoCoMo has no split, all of it is used for both) and says what fails, in questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Figures = Mapping[str, Mapping[str, Mapping[str, float]]]  # configuration -> group -> metric
SETS = ("cross-lingual", "paraphrase")
EPS = 1e-9


def check(figures: Mapping[str, Figures], name: str, split: str) -> list[str]:
    """What `name` misses of the bar on `split`, as "set group R@k -n questions"; [] = passes."""
    misses: list[str] = []
    for data in SETS:
        base, mine = figures[data]["vector"], figures[data][name]
        group = "all" if split == "all" else f"split:{split}"
        for k in ("r5", "r10"):
            gap = (mine[group][k] - base[group][k]) * base[group]["n"]
            if gap < -EPS:
                misses.append(f"{data} {group} {k} {gap:+.1f} q")
    base, mine = figures["locomo"]["hybrid (today)"], figures["locomo"][name]
    for group in sorted(g for g in base if g == "all" or g.startswith("cat:")):
        for k in ("r5", "r10"):
            gap = (mine[group][k] - base[group][k]) * base[group]["n"]
            if gap < -EPS or (group == "cat:temporal" and gap <= EPS):
                misses.append(f"locomo {group} {k} {gap:+.1f} q")
    return misses


def summary(figures: Mapping[str, Figures]) -> str:
    """One Markdown table: every configuration on every set, and the bar on both splits."""
    head = (
        "| configuration | XL R@5 | XL R@10 | XL hit@1 | XL held-out R@5 / R@10 | PP R@5 | PP R@10 | PP hit@1"
        " | PP held-out R@5 / R@10 | LoCoMo R@5 | LoCoMo R@10 | LoCoMo hit@1 | temporal R@5 / R@10"
        " | bar (tune) | bar (held-out) | bar (all) |"
    )
    lines = [head, "|" + "---|" * 16]
    for name in figures["locomo"]:
        if name not in figures["cross-lingual"] or name.startswith("asearch"):
            continue
        xl, pp, lo = (figures[s][name] for s in ("cross-lingual", "paraphrase", "locomo"))
        cells = [
            f"{xl['all']['r5']:.3f}", f"{xl['all']['r10']:.3f}", f"{xl['all']['hit1']:.3f}",
            f"{xl['split:held-out']['r5']:.3f} / {xl['split:held-out']['r10']:.3f}",
            f"{pp['all']['r5']:.3f}", f"{pp['all']['r10']:.3f}", f"{pp['all']['hit1']:.3f}",
            f"{pp['split:held-out']['r5']:.3f} / {pp['split:held-out']['r10']:.3f}",
            f"{lo['all']['r5']:.3f}", f"{lo['all']['r10']:.3f}", f"{lo['all']['hit1']:.3f}",
            f"{lo['cat:temporal']['r5']:.3f} / {lo['cat:temporal']['r10']:.3f}",
            "; ".join(check(figures, name, "tune")) or "**meets**",
            "; ".join(check(figures, name, "held-out")) or "**meets**",
            "; ".join(check(figures, name, "all")) or "**meets**",
        ]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def categories(figures: Mapping[str, Figures], names: list[str]) -> str:
    """LoCoMo by category for `names`."""
    any_name = next(iter(figures["locomo"]))
    groups = ["all", *sorted(g for g in figures["locomo"][any_name] if g.startswith("cat:"))]
    head = " | ".join(
        f"{g.removeprefix('cat:')} ({figures['locomo'][any_name][g]['n']}) R@5 / R@10" for g in groups
    )
    lines = [f"| configuration | {head} | hit@1 |", "|" + "---|" * (len(groups) + 2)]
    for name in names:
        res: Any = figures["locomo"][name]
        cells = " | ".join(f"{res[g]['r5']:.3f} / {res[g]['r10']:.3f}" for g in groups)
        lines.append(f"| {name} | {cells} | {res['all']['hit1']:.3f} |")
    return "\n".join(lines)

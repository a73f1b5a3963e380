"""CLI start-up: `brain --help` and `brain memories list` against a warm embedded server.

Times whole processes (what a user waits for), N runs each after one warm-up, A/B interleaved
against a baseline checkout of an earlier commit, on the same Python, the same installed
dependencies and the same warm embedded Postgres. Prints medians and the ratio per pair.

    .venv/bin/python bench/bench_cli.py --baseline c54cebb --runs 9

The baseline is checked out with `git worktree` into a temporary directory and run with
PYTHONPATH pointing at its `src/`; its CLI entry point (`langgraph_brain.cli:app`, or `:main`
when it exists) is called the way its console script would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENTRY = (
    "import sys, langgraph_brain.cli as c; f = getattr(c, 'main', None) or c.app; sys.argv[0] = 'brain'; f()"
)


def _worktree(commit: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="brain-baseline-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit], check=True,
                   capture_output=True)  # fmt: skip
    return path


def _time(src: Path, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env={**env, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed in {src}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="c54cebb", help="commit to compare against")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    os.environ.setdefault("MEM0_TELEMETRY", "False")
    sys.path.insert(0, str(ROOT / "src"))
    from langgraph_brain.db import embedded_database_url

    data_dir = Path(tempfile.mkdtemp(prefix="brain-cli-bench-"))
    embedded_database_url(data_dir)  # this process keeps the server warm for every run
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"BRAIN_DATA_DIR": str(data_dir), "BRAIN_MODEL": "scripted", "COLUMNS": "200"})
    baseline = _worktree(args.baseline)
    try:
        commands = {
            "brain --help": ["--help"],
            "brain memories list": ["memories", "list", "-s", "user", "-i", "x"],
        }
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for name, argv in commands.items():
            for src in (ROOT / "src", baseline / "src"):  # warm-up: migrations, caches, page cache
                _time(src, argv, env)
            new, old = [], []
            for _ in range(args.runs):
                new.append(_time(ROOT / "src", argv, env))
                old.append(_time(baseline / "src", argv, env))
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            now_ms, then_ms = statistics.median(new) * 1000, statistics.median(old) * 1000
            print(
                f"{name:22s} now {now_ms:7.0f} ms   {args.baseline} {then_ms:7.0f} ms"
                f"   now/then median ratio {statistics.median(ratios):.2f}"
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark at a size that finishes in minutes on 2 cores.

The README's figures come from the full-size commands listed in each section; this runs the same
code paths smaller, one after another (never in parallel: they would load each other), and
prints each one's output. LoCoMo runs only when its dataset path is given:

    .venv/bin/python bench/run_all.py [--locomo ../shared/data/locomo10.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = [
    ["bench_trimming.py", "--messages", "5000", "--turns", "10"],
    ["bench_short_term.py", "--turns", "200"],
    ["bench_cli.py", "--runs", "5"],
    [
        "bench_brain.py",
        "--memories",
        "20000",
        "--entities",
        "200",
        "--queries",
        "100",
        "--saves",
        "50",
        "--skip-stock",
    ],
    ["bench_rls.py", "--memories", "5000", "--entities", "50", "--queries", "100"],
    ["bench_engine.py", "--queries", "60"],
    ["bench_load.py", "--memories", "4000", "--entities", "40", "--distinct", "300", "--queries", "40",
     "--saves", "30"],
    ["bench_import.py", "--memories", "300", "--entities", "10", "--mem0-sample", "60"],
    ["bench_scale.py", "--others", "10000", "--sizes", "100,2000,10000", "--distinct", "500",
     "--queries", "30", "--index", "--threshold", "1000"],
    ["bench_http.py", "--memories", "100", "--queries", "60", "--health", "60"],
    ["bench_extraction_turns.py", "--pairs", "60", "--threads", "10", "--warmup", "10", "--backlog", "80"],
    ["bench_worker.py", "--threads", "40"],
    ["bench_signals.py", "--others", "5000", "--sizes", "100,2000", "--distinct", "300", "--queries", "30",
     "--flush-keys", "2000"],
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--locomo", help="path to locomo10.json (skipped when absent)")
    args = parser.parse_args()
    runs = list(QUICK)
    if args.locomo:
        runs.append(["locomo.py", args.locomo, "--limit-conversations", "2", "--modes", "vector,hybrid"])
        runs.append(["bench_store.py", args.locomo, "--conversations", "1"])
        # Skips itself (exit 0, no network) without an API key for the extraction model.
        runs.append(["extraction.py", args.locomo, "--conversations", "1", "--sessions", "2"])
    failed = []
    for cmd in runs:
        print(f"\n=== {' '.join(cmd)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], check=False).returncode != 0:
            failed.append(cmd[0])
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

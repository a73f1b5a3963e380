"""Reliability figures for the README: crash matrix, load with crashes, hostile inputs, isolation.

    python bench/reliability.py                 # full run: load = 8 workers x 200 operations
    python bench/reliability.py --ops 60        # the size the test suite uses

It runs the real test modules (real Postgres, real Mem0) with BRAIN_RELIABILITY_FIGURES pointing
at a scratch file that the tests append to, then prints the figures: faults injected per
protocol step, operations under load, bad inputs tried, leaks found and rows lost. A failing
assertion in any suite fails the run (exit 1): the figures are only printed for a green run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    "tests/test_reliability_crash.py",
    "tests/test_reliability_load.py",
    "tests/test_hostile_inputs.py",
    "tests/test_isolation.py",
    "tests/test_erase.py",
    "tests/test_outage.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=8, help="load-test worker processes (default 8)")
    parser.add_argument("--ops", type=int, default=200, help="operations per worker (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="load-test random seed (default 7)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="brain-reliability-") as tmp:
        figures_path = Path(tmp) / "figures.jsonl"
        env = {
            **os.environ,
            "BRAIN_RELIABILITY_FIGURES": str(figures_path),
            "BRAIN_LOAD_WORKERS": str(args.workers),
            "BRAIN_LOAD_OPS": str(args.ops),
            "BRAIN_LOAD_SEED": str(args.seed),
            "MEM0_TELEMETRY": "False",
        }
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
            cwd=ROOT,
            env=env,
            check=False,
        )
        elapsed = time.monotonic() - started
        records = (
            [json.loads(line) for line in figures_path.read_text().splitlines()]
            if figures_path.exists()
            else []
        )
    if proc.returncode != 0:
        print(
            f"\nreliability suites FAILED (pytest exit {proc.returncode}); no figures reported.",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(summarise(records, elapsed, args), indent=2))
    return 0


def summarise(records: list[dict[str, Any]], elapsed: float, args: argparse.Namespace) -> dict[str, Any]:
    crash = Counter(r["point"] for r in records if r["suite"] == "crash")
    load = next((r for r in records if r["suite"] == "load"), {})
    hostile = Counter(r["kind"] for r in records if r["suite"] == "hostile")
    isolation = next((r for r in records if r["suite"] == "isolation"), {})
    per_step = dict(crash)
    for step, n in (load.get("crashes_by_step") or {}).items():
        point = step.split("/", 1)[1]
        per_step[point] = per_step.get(point, 0) + n
    return {
        "faults_injected_per_step": dict(sorted(per_step.items())),
        "faults_injected_total": sum(per_step.values()),
        "crash_matrix_faults": dict(sorted(crash.items())),
        "load": {
            "workers": load.get("workers", args.workers),
            "operations_attempted": load.get("operations_attempted"),
            "operations_completed": load.get("operations"),
            "acknowledged_writes": load.get("acknowledged_writes"),
            "in_process_crashes": load.get("crashes_in_process"),
            "hard_process_kills": load.get("hard_kills"),
            "reconcile_repairs": load.get("reconcile"),
        },
        "bad_inputs_tried": {"service": hostile["service"], "tools": hostile["tools"]},
        "isolation_probes": isolation.get("probes"),
        "leaks_found": (load.get("leaks") or 0) + (isolation.get("leaks") or 0),
        "rows_lost": load.get("rows_lost"),
        "seconds": round(elapsed, 1),
    }


if __name__ == "__main__":
    sys.exit(main())

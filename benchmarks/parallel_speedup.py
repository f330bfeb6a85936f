"""Speed-up of `--workers N` (Ray) over the in-process loop, and the scheduling overhead per candidate.

    python benchmarks/parallel_speedup.py [--workers 1 2 4] [--trials 8] [--epochs 1] [--seed 0]

For each N runs `qnas-edge search --board nano33ble --virtual --workers N --trials T` (N = 1 is the
embedded default: no Ray) in a fresh output folder and reads the run's ledger with sqlite3. Prints the
process wall time, the loop wall time, the speed-up against N = 1 and, for N > 1, the median and maximum
scheduling overhead per candidate (time a candidate spent queued in Ray or crossing to and from a board
host, beyond its own build, its measurement and any wait for an idle board; ledger field
`timings.scheduling`) and the median wait for an idle board (`timings.board_wait`, a resource queue,
not overhead). With --virtual every worker gets its own virtual board, so measurement parallelises too.
Board figures are `simulated`; wall times are measured on this machine, with its load average printed
(other work on the machine slows the runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(workers: int, trials: int, epochs: int, seed: int) -> dict:
    """One search; returns wall times and the per-candidate timings from its ledger."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "qnas_edge", "search", "--board", "nano33ble", "--virtual",
               "--workers", str(workers), "--trials", str(trials), "--epochs", str(epochs),
               "--final-epochs", "0", "--seed", str(seed), "--out", str(out), "--json"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"--workers {workers} failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
        db = sqlite3.connect(str(out / "ledger.sqlite"))
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        timings = [json.loads(t) for (t,) in db.execute("SELECT timings FROM candidates WHERE status = 'done'")]
        db.close()
    return {"workers": workers, "wall": wall, "loop": meta["loop_wall_s"], "n": len(timings), "timings": timings}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if 1 not in args.workers:
        args.workers = [1, *args.workers]
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; nano33ble virtual board(s), {args.trials} candidates, "
          f"{args.epochs} proxy epoch(s), seed {args.seed}")
    rows = []
    for n in args.workers:
        r = run_once(n, args.trials, args.epochs, args.seed)
        rows.append(r)
        print(f"  --workers {n}: {r['n']} candidates, process {r['wall']:.1f} s, loop {r['loop']:.1f} s, "
              f"load average after {os.getloadavg()[0]:.2f}", flush=True)
    base = next(r for r in rows if r["workers"] == 1)
    print()
    print("| --workers | candidates | process wall (s) | loop wall (s) | speed-up (process) | speed-up (loop) "
          "| scheduling / candidate: median (max) s | board wait: median s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        sched = [t["scheduling"] for t in r["timings"] if "scheduling" in t]
        waits = [t["board_wait"] for t in r["timings"] if "board_wait" in t]
        s = f"{statistics.median(sched):.2f} ({max(sched):.2f})" if sched else "n/a (in-process)"
        w = f"{statistics.median(waits):.2f}" if waits else "n/a"
        print(f"| {r['workers']} | {r['n']} | {r['wall']:.1f} | {r['loop']:.1f} | {base['wall'] / r['wall']:.2f}x "
              f"| {base['loop'] / r['loop']:.2f}x | {s} | {w} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

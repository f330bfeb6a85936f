"""Per-candidate time of the closed loop on the virtual board (build + measure + bookkeeping).

    python benchmarks/loop_candidate_time.py [--repo DIR] [--trials 6] [--epochs 1] [--seed 0]

Runs `qnas-edge search --board nano33ble --virtual` from the checkout at --repo (default this one;
pass an older checkout to compare releases) and reads the run's ledger with plain sqlite3, so the same
script measures any release whose ledger has the candidates table. Prints the loop's wall time per
candidate and the median stage times (seconds) recorded per candidate. Figures are `simulated`
board timings; the wall times are measured on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(REPO), help="checkout whose qnas_edge to run (default this one)")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    repo = Path(args.repo).resolve()
    env = dict(os.environ, PYTHONPATH=str(repo), TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "qnas_edge", "search", "--board", "nano33ble", "--virtual",
               "--trials", str(args.trials), "--batch", "2", "--epochs", str(args.epochs), "--final-epochs", "0",
               "--runs", "5", "--seed", str(args.seed), "--out", str(out), "--json"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        total = time.perf_counter() - t0
        if res.returncode != 0:
            print(res.stderr[-2000:], file=sys.stderr)
            return 1
        db = sqlite3.connect(str(out / "ledger.sqlite"))
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        timings = [json.loads(t) for (t,) in db.execute("SELECT timings FROM candidates WHERE status = 'done'")]
        db.close()
    n = len(timings)
    print(f"repo {repo}, {n} candidates (nano33ble, virtual board, {args.epochs} epoch, seed {args.seed}), "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"process wall time {total:.1f} s; loop wall time {meta['loop_wall_s']:.1f} s = "
          f"{meta['loop_wall_s'] / n:.2f} s per candidate; board idle {meta.get('board_idle_s') or 0:.1f} s")
    keys = sorted({k for t in timings for k in t})
    for k in keys:
        vals = [t[k] for t in timings if k in t]
        print(f"  {k:<12} median {statistics.median(vals):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

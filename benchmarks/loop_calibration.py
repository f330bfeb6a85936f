"""Closed-loop calibration and pipelining (issue 7).

Runs `qnas-edge search` on the virtual nano33ble (whose board-twin timing model differs from the static
estimator) and reports, in candidate order, the latency the cost model predicted when the candidate was
proposed vs what the board measured. Target: mean |predicted - measured| / measured over the last third
of a 20-candidate run is at most half that over the first third. Also prints how long the board sat idle
while candidates trained (training and measuring overlap).

Run: python benchmarks/loop_calibration.py [--trials 20] [--epochs 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--board", default="nano33ble")
    ap.add_argument("--keep", metavar="DIR", help="keep the run directory here")
    a = ap.parse_args()
    from qnas_edge.run.ledger import Ledger

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.keep) if a.keep else Path(tmp) / "run"
        t0 = time.time()
        res = subprocess.run([sys.executable, "-m", "qnas_edge", "search", "--board", a.board, "--virtual",
                              "--trials", str(a.trials), "--epochs", str(a.epochs), "--final-epochs", "0",
                              "--seed", str(a.seed), "--out", str(out), "--json"],
                             cwd=ROOT, capture_output=True, text=True)
        wall = time.time() - t0
        if res.returncode not in (0, 1):
            sys.exit(f"search failed ({res.returncode}): {res.stderr[-2000:]}")
        with Ledger(out / "ledger.sqlite") as led:
            rows = [c for c in led.candidates() if c.status == "done" and c.measurement]
            meta = led.meta()
    errs = [abs(c.predicted["latency_ms"] - c.measurement.latency_ms_median) / c.measurement.latency_ms_median
            for c in rows]
    print(f"{len(rows)} measured candidates on {a.board} (virtual, simulated), wall {wall:.0f} s")
    print(" n  predicted ms  measured ms  rel.err")
    for c, e in zip(rows, errs, strict=True):
        print(f"{c.n:2d}  {c.predicted['latency_ms']:12.3f}  {c.measurement.latency_ms_median:11.3f}  {e:7.1%}")
    k = max(1, len(errs) // 3)
    first, last = statistics.mean(errs[:k]), statistics.mean(errs[-k:])
    print(f"mean relative latency error: first third {first:.1%}, last third {last:.1%} "
          f"(ratio {last / first if first else float('nan'):.2f}; target <= 0.50)")
    idle, loop_wall = meta.get("board_idle_s"), meta.get("loop_wall_s")
    if idle is not None and loop_wall:
        print(f"board idle {idle:.0f} s of {loop_wall:.0f} s loop time ({idle / loop_wall:.0%}); "
              "training of the next candidate overlaps each measurement")


if __name__ == "__main__":
    main()

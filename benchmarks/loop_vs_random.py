"""QUBO vs random search in the full loop (issue 7): same number of trained candidates, tight latency budget.

For each strategy and seed: `qnas-edge search --board nano33ble --virtual --max-latency-ms X`; reports the
best feasible int8 accuracy (measured figures) and how many candidates broke a budget when measured.
Run: python benchmarks/loop_vs_random.py [--trials 16] [--seeds 3] [--latency 6] [--epochs 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one(strategy: str, seed: int, a, tmp: Path) -> tuple[float | None, int, int]:
    from qnas_edge.run.ledger import Ledger

    out = tmp / f"{strategy}-{seed}"
    subprocess.run([sys.executable, "-m", "qnas_edge", "search", "--board", a.board, "--virtual",
                    "--strategy", strategy, "--trials", str(a.trials), "--epochs", str(a.epochs),
                    "--final-epochs", "0", "--max-latency-ms", str(a.latency), "--seed", str(seed),
                    "--out", str(out), "--json"], cwd=ROOT, capture_output=True, text=True)
    with Ledger(out / "ledger.sqlite") as led:
        rows = [c for c in led.candidates() if c.status == "done"]
    feasible = [c.accuracy for c in rows if c.feasible]
    return (max(feasible) if feasible else None), sum(1 for c in rows if not c.feasible), len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--latency", type=float, default=6.0, help="latency budget in ms (tight)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--board", default="nano33ble")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in ("qubo", "random"):
            accs, wasted = [], []
            for seed in range(a.seeds):
                best, bad, n = one(strategy, seed, a, Path(tmp))
                accs.append(best if best is not None else 0.0)
                wasted.append(bad)
                print(f"{strategy:7s} seed {seed}: best feasible int8 acc "
                      f"{'none' if best is None else f'{best:.3f}'}, {bad}/{n} candidates broke a budget", flush=True)
            print(f"{strategy:7s} median best {statistics.median(accs):.3f}, "
                  f"budget violations {sum(wasted)}/{a.seeds * a.trials}", flush=True)


if __name__ == "__main__":
    main()

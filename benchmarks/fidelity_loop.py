"""Multi-fidelity in the real loop (issue 16, benchmark 4b): best int8 accuracy reached vs wall-clock time,
`--fidelity auto` against `--fidelity off`, on the demo (digits, virtual nano33ble).

Per seed, the two modes run back to back (so machine load hits both alike):
    qnas-edge search --board nano33ble --virtual --seed S --fidelity off|auto --final-epochs 0 [--trials N --epochs E]
The final retrain is switched off in both: it trains the winner the same way whatever the mode, so it adds the
same time to both and would hide which candidate the search itself found.

Read from each run's ledger: the best-so-far curve of *full-fidelity* int8 accuracy (feasible, measured on the
virtual board: figures simulated), each point at the wall time its candidate completed, counted from the
process start. Reported per seed and as medians:
  - best accuracy of off and of auto, total wall time of each;
  - the time auto needed to reach off's final best accuracy, as a fraction of off's total wall time
    (the done-when asks for <= 60%); "never" when auto's best stays below off's.

    python benchmarks/fidelity_loop.py [--seeds 5] [--trials 12] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_once(mode: str, seed: int, a: argparse.Namespace, tmp: Path) -> dict:
    """One search; its best-so-far curve [(seconds, accuracy)], final best, wall time and budget check."""
    from qnas_edge.run.ledger import Ledger

    out = tmp / f"{mode}-{seed}"
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "qnas_edge", "search", "--board", "nano33ble", "--virtual",
                          "--seed", str(seed), "--fidelity", mode, "--trials", str(a.trials), "--epochs",
                          str(a.epochs), "--final-epochs", "0", "--out", str(out), "--json"],
                         cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    wall = time.time() - t0
    if res.returncode != 0:
        raise SystemExit(f"{mode} seed {seed} failed ({res.returncode}): {res.stderr[-1500:]}")
    with Ledger(out / "ledger.sqlite") as led:
        rows, meta = led.candidates(), led.meta()
    full = sorted((c for c in rows if c.status == "done" and c.feasible and c.measurement is not None
                   and c.fidelity >= 1.0), key=lambda c: c.completed)
    curve, best = [], -math.inf
    for c in full:
        if c.accuracy > best:
            best = c.accuracy
            curve.append((round(c.completed - t0, 1), c.accuracy))
    winner = next(c for c in rows if c.n == meta["best_n"])
    return {"mode": mode, "seed": seed, "wall_s": round(wall, 1), "best": best, "curve": curve,
            "trained": sum(len(c.metrics.get("rungs") or [1]) for c in rows),
            "measured": sum(1 for c in rows if c.measurement is not None),
            "winner_feasible": bool(winner.feasible), "winner_source": winner.source}


def _fmt(curve: list[tuple[float, float]]) -> str:
    return " ".join(f"{t:.0f}s:{acc:.4f}" for t, acc in curve)


def time_to(curve: list[tuple[float, float]], target: float) -> float:
    return next((t for t, acc in curve if acc >= target - 1e-9), math.inf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=12, help="candidates per run (the demo's default)")
    ap.add_argument("--epochs", type=int, default=4, help="full proxy epochs (the demo's default)")
    ap.add_argument("--json-out", type=Path, help="also write every run's figures here")
    a = ap.parse_args()
    print(f"# fidelity auto vs off, demo loop: python {platform.python_version()}, {os.cpu_count()} cores, "
          f"trials {a.trials}, epochs {a.epochs}, seeds {a.seeds}; board figures simulated", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.seeds):
            pair = {m: run_once(m, seed, a, Path(tmp)) for m in ("off", "auto")}
            results.append(pair)
            off, auto = pair["off"], pair["auto"]
            reach = time_to(auto["curve"], off["best"])
            when = "never" if math.isinf(reach) else f"{reach:.0f} s = {reach / off['wall_s']:.0%} of off"
            print(f"seed {seed}: off best {off['best']:.4f} in {off['wall_s']:.0f} s ({off['trained']} trainings, "
                  f"{off['measured']} measured) | auto best {auto['best']:.4f} in {auto['wall_s']:.0f} s "
                  f"({auto['trained']} trainings, {auto['measured']} measured) | auto reaches off's best at "
                  f"{when}"
                  f" | winners within budget: {off['winner_feasible']}/{auto['winner_feasible']}", flush=True)
            print(f"  curves (s, best full-fidelity acc): off {_fmt(off['curve'])}  auto {_fmt(auto['curve'])}",
                  flush=True)
    ratios = [time_to(p["auto"]["curve"], p["off"]["best"]) / p["off"]["wall_s"] for p in results]
    print()
    print("| figure | off | auto |")
    print("|---|---|---|")
    med = statistics.median
    print(f"| median best int8 accuracy (full fidelity) | {med(p['off']['best'] for p in results):.4f} | "
          f"{med(p['auto']['best'] for p in results):.4f} |")
    print(f"| median wall time per run | {med(p['off']['wall_s'] for p in results):.0f} s | "
          f"{med(p['auto']['wall_s'] for p in results):.0f} s |")
    print(f"| median trainings / board measurements per run | {med(p['off']['trained'] for p in results):.0f} / "
          f"{med(p['off']['measured'] for p in results):.0f} | {med(p['auto']['trained'] for p in results):.0f} / "
          f"{med(p['auto']['measured'] for p in results):.0f} |")
    print(f"| winners within every budget | {sum(p['off']['winner_feasible'] for p in results)}/{len(results)} | "
          f"{sum(p['auto']['winner_feasible'] for p in results)}/{len(results)} |")
    shown = ", ".join("never" if math.isinf(r) else f"{r:.0%}" for r in ratios)
    print(f"\ntime for auto to reach off's best, / off's wall time, per seed: {shown}; median "
          f"{'never' if math.isinf(med(ratios)) else f'{med(ratios):.0%}'} (done-when: <= 60%)")
    if a.json_out:
        a.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

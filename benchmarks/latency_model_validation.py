"""Held-out accuracy of the TFLM + CMSIS-NN instruction model, and its recalibration curve.

1. Group k-fold by model (default 5 folds; a model's layers are never split between train and test;
   fold = position in a seeded shuffle of the sorted model names): the instruction model is re-fitted on
   the training models and predicts the total Invoke() instructions of every held-out model. Per core:
   share of held-out networks (m*) within +-5 % / +-10 % of the measured total_instructions, the worst
   ratio, and the same for the single-operator models (op_*, +-10 %).
2. Calibration curve: a simulated "new board" per (core, fold, repeat) runs the held-out networks at
   scale s x the true (measured) instructions, with s log-normal around the prior (sigma --prior-sigma;
   the CPI table is that far off) and optionally a per-kernel-group factor (sigma --op-sigma). After
   N = 0, 1, 3, 5, 10 "measurements" of other (training) networks, `fit_residual` (scale only, and
   scale + per-group factors shrunk to 1) corrects the fold's predictor; the error on the held-out
   networks is reported.

Run:  python benchmarks/latency_model_validation.py [DATASET] [--folds 5] [--seed 0] [--repeats 10]
          [--op-sigma 0.15] [--prior-sigma 0.3] [--noise 0.01] [--shrink X] [--layers] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tflm_kernels"
MEASUREMENTS = (0, 1, 3, 5, 10)


def fold_of(names: list[str], folds: int, seed: int) -> dict[str, int]:
    """model -> fold index: a seeded shuffle of the sorted names, dealt round-robin."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    return {n: i % folds for i, n in enumerate(order)}


def cross_validate(ds: Any, folds: dict[str, int]) -> tuple[dict[str, dict[str, float]], dict[int, dict]]:
    """({core: {model: predicted / measured total}}, {fold: fitted document}) over held-out models."""
    from device_profiles.latency.fitting import fit_predictor
    from device_profiles.latency.predictor import predictor_from_document

    ratios: dict[str, dict[str, float]] = {c: {} for c in ds.cores}
    docs = {}
    for k in sorted(set(folds.values())):
        train = [n for n in ds.models if folds[n] != k]
        docs[k] = fit_predictor(ds, train)
        for core in ds.cores:
            p = predictor_from_document(core, docs[k])
            for n in (n for n in ds.models if folds[n] == k):
                m = ds.models[n]
                ratios[core][n] = p.model_instructions(m.layers) / m.total_instructions[core]
    return ratios, docs


def _worst(values: list[float]) -> float:
    return max(values, key=lambda r: abs(math.log(r)) if r > 0 else math.inf)


def accuracy_rows(ds: Any, ratios: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Per core: held-out accuracy figures of networks and single-operator models."""
    rows = []
    for core in ds.cores:
        nets = [ratios[core][n] for n in ds.names(single_op=False)]
        ops = [ratios[core][n] for n in ds.names(single_op=True)]
        rows.append({
            "core": core, "networks": len(nets),
            "nets_within_5": sum(abs(r - 1) <= 0.05 for r in nets) / len(nets),
            "nets_within_10": sum(abs(r - 1) <= 0.10 for r in nets) / len(nets),
            "nets_median_abs_err": statistics.median(abs(r - 1) for r in nets),
            "nets_worst_ratio": _worst(nets),
            "ops": len(ops), "ops_within_10": sum(abs(r - 1) <= 0.10 for r in ops) / max(len(ops), 1),
            "ops_worst_ratio": _worst(ops) if ops else None,
            "ops_outside_10": sorted(n for n in ds.names(single_op=True) if abs(ratios[core][n] - 1) > 0.10),
        })
    return rows


def layer_errors(ds: Any, folds: dict[str, int], docs: dict[int, dict]) -> dict[tuple[str, str], list[float]]:
    """{(core, kernel group): [predicted / measured - 1 of every held-out layer]} (layers >= 400 instr.)."""
    from device_profiles.latency.predictor import predictor_from_document

    out: dict[tuple[str, str], list[float]] = {}
    for core in ds.cores:
        for k, doc in docs.items():
            p = predictor_from_document(core, doc)
            for n in (n for n in ds.models if folds[n] == k):
                m = ds.models[n]
                for lay, y in zip(m.layers, m.layer_instructions[core], strict=True):
                    if y >= 400:                     # 10 timer ticks: below, the count's resolution dominates
                        e = p.explain(lay)
                        out.setdefault((core, e.group), []).append(e.instructions / y - 1.0)
    return out


def true_groups(ds: Any, name: str, core: str, predictor: Any) -> dict[str, float]:
    """Measured instructions of `name` on `core` split by the predictor's kernel groups (+ invoke)."""
    m = ds.models[name]
    out: dict[str, float] = {}
    for lay, y in zip(m.layers, m.layer_instructions[core], strict=True):
        g = predictor.explain(lay).group
        out[g] = out.get(g, 0.0) + y
    out["invoke"] = float(m.total_instructions[core] - sum(m.layer_instructions[core]))
    return out


def calibration_curve(ds: Any, folds: dict[str, int], docs: dict[int, dict], repeats: int, op_sigma: float,
                      prior_sigma: float, seed: int, noise: float = 0.01,
                      shrink: float | None = None) -> dict[str, dict[int, list[float]]]:
    """{"scale": {N: |errors|}, "scale+groups": {N: |errors|}} on held-out networks of simulated boards."""
    from device_profiles.latency.predictor import predictor_from_document
    from device_profiles.latency.residual import SHRINK, fit_residual_groups, group_instructions

    shrink = SHRINK if shrink is None else shrink

    errs: dict[str, dict[int, list[float]]] = {"scale": {}, "scale+groups": {}}
    nets = ds.names(single_op=False)
    for core in ds.cores:
        for k, doc in sorted(docs.items()):
            p = predictor_from_document(core, doc)
            pred = {n: group_instructions(p, ds.models[n].layers) for n in nets}
            truth = {n: true_groups(ds, n, core, p) for n in nets}
            test = [n for n in nets if folds[n] == k]
            pool = [n for n in nets if folds[n] != k]
            names = sorted({g for t in truth.values() for g in t})
            for r in range(repeats):
                rng = random.Random(f"{seed}/{core}/{k}/{r}")
                scale = math.exp(rng.gauss(0.0, prior_sigma))
                factor = {g: math.exp(rng.gauss(0.0, op_sigma)) if op_sigma > 0 else 1.0 for g in names}

                board = {n: scale * sum(factor[g] * v for g, v in truth[n].items()) for n in nets}
                order = rng.sample(pool, len(pool))
                measured = {n: board[n] * math.exp(rng.gauss(0.0, noise)) for n in order[:max(MEASUREMENTS)]}
                for n_meas in MEASUREMENTS:
                    rows = [(pred[n], measured[n]) for n in order[:n_meas]]
                    for label, per_group in (("scale", False), ("scale+groups", True)):
                        res = fit_residual_groups(rows, prior_scale=1.0, shrink=shrink, per_group=per_group)
                        errs[label].setdefault(n_meas, []).extend(
                            abs(res.correct(pred[n]) / board[n] - 1.0) for n in test)
    return errs


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main(argv: list[str] | None = None) -> int:
    from device_profiles.latency.dataset import load_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATA, help="tflm_kernels folder")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=10, help="simulated boards per core and fold")
    ap.add_argument("--op-sigma", type=float, default=0.15, help="sd of log per-group speed factors")
    ap.add_argument("--prior-sigma", type=float, default=0.3, help="sd of log(true scale / prior scale)")
    ap.add_argument("--noise", type=float, default=0.01, help="sd of log measurement noise")
    ap.add_argument("--shrink", type=float, default=None, help="ridge weight of the group factors "
                    "(default: fit_residual's)")
    ap.add_argument("--layers", action="store_true", help="also print held-out layer errors per kernel group")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ds = load_dataset(args.dataset)
    if ds.mismatches:
        print("error: the data set does not join with the parsed models", file=sys.stderr)
        return 1
    folds = fold_of(list(ds.models), args.folds, args.seed)
    ratios, docs = cross_validate(ds, folds)
    rows = accuracy_rows(ds, ratios)
    curve = calibration_curve(ds, folds, docs, args.repeats, args.op_sigma, args.prior_sigma, args.seed,
                              args.noise, args.shrink)
    summary = {
        label: {n: {"median": statistics.median(v), "p90": _pct(v, 0.9),
                    "within_5": sum(e <= 0.05 for e in v) / len(v),
                    "within_10": sum(e <= 0.10 for e in v) / len(v)}
                for n, v in sorted(per_n.items())}
        for label, per_n in curve.items()
    }
    if args.json:
        print(json.dumps({"accuracy": rows, "calibration": summary, "folds": args.folds, "seed": args.seed,
                          "repeats": args.repeats, "op_sigma": args.op_sigma, "prior_sigma": args.prior_sigma,
                          "noise": args.noise},
                         indent=1, sort_keys=True))
        return 0
    n_nets = rows[0]["networks"]
    print(f"Held-out accuracy, {args.folds}-fold grouped by model (seed {args.seed}); "
          f"{n_nets} networks, {rows[0]['ops']} single-op models per core")
    print(f"{'core':5s} {'nets <=5%':>10s} {'nets <=10%':>11s} {'median err':>11s} {'worst':>8s} "
          f"{'ops <=10%':>10s} {'ops worst':>10s}  ops outside 10%")
    for r in rows:
        print(f"{r['core']:5s} {r['nets_within_5']:10.1%} {r['nets_within_10']:11.1%} "
              f"{r['nets_median_abs_err']:11.2%} {r['nets_worst_ratio']:8.3f} {r['ops_within_10']:10.1%} "
              f"{r['ops_worst_ratio']:10.3f}  {', '.join(r['ops_outside_10']) or '-'}")
    print(f"\nCalibration on simulated boards (held-out networks; true scale ~ prior x "
          f"logN(0, {args.prior_sigma}), "
          f"per-group factors ~ logN(0, {args.op_sigma}), measurement noise logN(0, {args.noise}); "
          f"{args.repeats} boards per core and fold)")
    print(f"{'N meas.':>7s} | {'scale only: median':>18s} {'p90':>6s} {'<=5%':>6s} {'<=10%':>6s} | "
          f"{'+ per-group: median':>19s} {'p90':>6s} {'<=5%':>6s} {'<=10%':>6s}")
    for n in MEASUREMENTS:
        a, b = summary["scale"][n], summary["scale+groups"][n]
        print(f"{n:7d} | {a['median']:18.2%} {a['p90']:6.1%} {a['within_5']:6.1%} {a['within_10']:6.1%} | "
              f"{b['median']:19.2%} {b['p90']:6.1%} {b['within_5']:6.1%} {b['within_10']:6.1%}")
    if args.layers:
        errs = layer_errors(ds, folds, docs)
        print("\nHeld-out layers (>= 400 instructions): |predicted / measured - 1| per kernel group")
        head = " ".join(f"{c + ' med':>9s} {c + ' p90':>9s}" for c in ds.cores)
        print(f"{'group':12s} {head}  layers")
        for g in sorted({g for _, g in errs}):
            cells = []
            for c in ds.cores:
                v = sorted(abs(e) for e in errs.get((c, g), []))
                none = f"{'-':>9s} {'-':>9s}"
                cells.append(f"{statistics.median(v):9.2%} {_pct(v, 0.9):9.2%}" if v else none)
            n = max(len(errs.get((c, g), [])) for c in ds.cores)
            print(f"{g:12s} " + " ".join(cells) + f"  {n}")
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

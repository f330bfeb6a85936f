"""How well a short training ranks architectures (issue 16): the evidence behind `--fidelity auto`'s ladder.

Samples N architectures uniformly among those that meet the demo board's budgets (digits, nano33ble; the
search's own space and cost tables), builds each with the real pipeline at every epoch count given
(same seed per architecture), and reports, for each short training, the Spearman rank correlation of its
float and int8 validation accuracy with the int8 accuracy after the longest training, whether the best
architecture after the longest training is in the short training's top third (what successive halving
with eta 3 promotes), how much of the longest training's top third the short one's top third holds, and
the median build time of each training length with and without the int8 step.

    python benchmarks/screening_rank.py [--archs 14] [--epochs 1,2,4] [--seed 123]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sample_architectures(n: int, seed: int):
    """n distinct feasible architectures of the demo's search space (uniform, the `random` strategy)."""
    from device_profiles.catalog import get_profile
    from qnas_edge.pipeline.datasets import load_dataset
    from qnas_edge.run.calibration import Calibration
    from qnas_edge.run.search_space import MobileNetSpace
    from qnas_edge.run.strategy import make_strategy

    profile = get_profile("nano33ble").with_budgets()
    probe = load_dataset("digits", resolution=8, seed=0)
    space = MobileNetSpace(profile, probe.input_shape[2], probe.num_classes)
    cal = Calibration(profile)
    limits = {k: float(v) for k, v in profile.budgets.as_dict().items()}
    costs, base = space.cost_tables(cal.cost_model, limits, arena_factor=cal.arena_factor)
    engine = make_strategy("random", space.space, costs, base, space.search_budgets(limits), seed, "neal")
    return profile, [space.to_architecture(a) for a in engine.ask(n)]


def main() -> None:
    from scipy.stats import spearmanr

    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", type=int, default=14)
    ap.add_argument("--epochs", default="1,2,4", help="comma-separated epoch counts; the last is the reference")
    ap.add_argument("--seed", type=int, default=123)
    a = ap.parse_args()
    epochs = [int(e) for e in a.epochs.split(",")]
    full = epochs[-1]
    profile, archs = sample_architectures(a.archs, a.seed)
    print(f"# screening rank: python {platform.python_version()}, {os.cpu_count()} cores, {len(archs)} feasible "
          f"architectures of the demo space (digits, {profile.id}), epochs {epochs}", flush=True)
    acc = {e: {"float": [], "int8": []} for e in epochs}
    secs = {e: {"all": [], "no_int8": []} for e in epochs}
    with tempfile.TemporaryDirectory() as tmp:
        for i, arch in enumerate(archs):
            row = []
            for e in epochs:
                t0 = time.perf_counter()
                res = build_candidate(arch, "digits", profile, BuildSettings(train=TrainSettings(epochs=e)),
                                      seed=1000 + i, out_dir=Path(tmp) / f"{i}-{e}")
                total = time.perf_counter() - t0
                t = res.metrics["timings_s"]
                int8_part = t.get("quantize_s", 0) + t.get("int8_eval_s", 0) + t.get("tflm_s", 0)
                acc[e]["float"].append(res.metrics["accuracy"]["float_val"])
                acc[e]["int8"].append(res.int8_accuracy)
                secs[e]["all"].append(total)
                secs[e]["no_int8"].append(total - int8_part)
                row.append(f"{e} ep: float {acc[e]['float'][-1]:.3f} int8 {acc[e]['int8'][-1]:.3f} {total:.1f} s")
            print(f"arch {i} ({arch.id}): " + " | ".join(row), flush=True)
    ref = acc[full]["int8"]
    best = max(range(len(ref)), key=lambda i: ref[i])
    k = max(1, len(ref) // 3)
    print()
    true_top = set(sorted(range(len(ref)), key=lambda i: -ref[i])[:k])
    print(f"| training | Spearman vs {full}-epoch int8 (float / int8) | best in top third | top-third overlap | "
          "median build s (with int8 / without) |")
    print("|---|---|---|---|---|")
    for e in epochs:
        rho_f = spearmanr(acc[e]["float"], ref).statistic
        rho_q = spearmanr(acc[e]["int8"], ref).statistic
        top = sorted(range(len(ref)), key=lambda i: -acc[e]["float"][i])[:k]
        print(f"| {e} epochs | {rho_f:.2f} / {rho_q:.2f} | {'yes' if best in top else 'no'} | "
              f"{len(true_top & set(top))}/{k} | "
              f"{statistics.median(secs[e]['all']):.1f} / {statistics.median(secs[e]['no_int8']):.1f} |")


if __name__ == "__main__":
    main()

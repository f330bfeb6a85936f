"""Per-candidate time of the pipeline: build + 3 epochs on digits + int8 conversion + TFLM check.

    python benchmarks/candidate_time.py [--runs 5] [--epochs 3] [--arch examples/arch_mcu.json] [--board nano33ble]

TensorFlow is imported once before timing (paid once per process, excluded as the issue asks). Prints
the median / min / max per-candidate time, the median time of every stage, and the int8 accuracy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--arch", default=str(REPO / "examples" / "arch_mcu.json"))
    ap.add_argument("--board", default="nano33ble")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")

    t = time.perf_counter()
    import tensorflow  # noqa: F401
    import tf_keras  # noqa: F401
    tf_import = time.perf_counter() - t

    from device_profiles.catalog import get_profile
    from qnas_edge.pipeline.architecture import Architecture
    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    arch = Architecture.load(args.arch)
    profile = get_profile(args.board)
    settings = BuildSettings(train=TrainSettings(epochs=args.epochs, early_stopping_patience=0))
    totals, stages, accs = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            t = time.perf_counter()
            res = build_candidate(arch, "digits", profile, settings, seed=i, out_dir=Path(tmp) / f"c{i}")
            totals.append(time.perf_counter() - t)
            accs.append(res.int8_accuracy)
            for k, v in res.timings.items():
                stages.setdefault(k, []).append(v)
            print(f"run {i}: {totals[-1]:.2f} s  int8 acc {res.int8_accuracy:.3f}", flush=True)
    print(f"\narch {arch.id} ({Path(args.arch).name}) on {profile.id}, {args.epochs} epochs, {args.runs} runs, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"TensorFlow import (excluded): {tf_import:.2f} s")
    print(f"per candidate: median {statistics.median(totals):.2f} s  min {min(totals):.2f} s  "
          f"max {max(totals):.2f} s")
    print("stage medians:")
    for k, v in stages.items():
        if k != "total_s":
            print(f"  {k[:-2]:<10} {statistics.median(v):6.2f} s")
    print(f"int8 val accuracy: median {statistics.median(accs):.3f}  min {min(accs):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

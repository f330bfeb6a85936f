"""Foundation speed targets (issue 2): CLI start-up and `estimate` on a ~300 KB int8 model.

Targets: `qnas-edge --help` and `qnas-edge boards` < 0.5 s (no TensorFlow/TVM import on those paths);
`qnas-edge estimate` of a 300 KB int8 model < 2 s including the exact TFLM arena search.
Run: python benchmarks/foundation_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time_cmd(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_300kb_model(path: Path) -> int:
    """A MobileNetV1-like int8 model with ~300 KB of weights (random, structure is what matters)."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((96, 96, 1))
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inp)
    for ch, s in [(32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (256, 1), (320, 2)]:
        x = L.DepthwiseConv2D(3, strides=s, padding="same", activation="relu")(x)
        x = L.Conv2D(ch, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    model = keras.Model(inp, x)
    from qnas_edge.pipeline.quantize import convert_int8

    data = convert_int8(model, np.random.default_rng(0).random((4, 96, 96, 1), dtype=np.float32))
    path.write_bytes(data)
    return len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    exe = [sys.executable, "-m", "qnas_edge"]
    print(f"qnas-edge --help      median {_time_cmd(exe + ['--help'], a.repeat):.3f} s   (target < 0.5 s)")
    print(f"qnas-edge boards      median {_time_cmd(exe + ['boards'], a.repeat):.3f} s   (target < 0.5 s)")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "mnv1_300k.tflite"
        size = build_300kb_model(model)
        for board in ("nano33ble", "stm32f746", "rpi4"):
            t = _time_cmd(exe + ["estimate", str(model), "--board", board, "--json"], a.repeat)
            print(f"estimate {size / 1024:.0f} KB int8 on {board:10s} median {t:.3f} s   (target < 2 s)")


if __name__ == "__main__":
    main()

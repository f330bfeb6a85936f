"""Static cost model vs published on-board latencies of the same models on the same boards.

Builds the MLPerf Tiny closed-division reference architectures (KWS DS-CNN, VWW MobileNetV1 x0.25,
IC ResNet-8, AD FC autoencoder) plus two more published TFLM models (TFLM's person-detection
MobileNetV1 x0.25 96x96x1, MobileNetV2 x0.30 80x80), converts them to full-int8 .tflite with the real
TFLite converter (random weights: latency depends on structure, not on the values), estimates each
with `CostModel(profile).estimate_tflite(path)` and prints estimate / published for every pair in
PUBLISHED. The published figures and their sources are in device_profiles/COEFFICIENTS.md.

Also prints a leave-one-model-out check for the board with four published models (stm32l4r5): starting
from coefficients that saw none of that board's data (the Cortex-M33 fit), `CostModel.recalibrate`
refits on three models and the fourth is predicted -- how far the coefficients generalise beyond the
models that ground them.

Run:  python benchmarks/cost_model_accuracy.py [--cache DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@dataclass(frozen=True)
class Published:
    """One published on-board latency: board (catalog id or validation profile), model, ms, source."""

    board: str
    model: str
    latency_ms: float
    runtime: str
    source: str


# Median throughput from the EEMBC runner logs (latency = 1000 / inferences per second).
PUBLISHED = [
    Published("stm32l4r5", "kws", 1000 / 5.497, "TFLM 2.3.1 + CMSIS-NN",
              "MLPerf Tiny v0.5 closed/reference, Nucleo-L4R5ZI kws/performance/results.txt"),
    Published("stm32l4r5", "vww", 1000 / 1.665, "TFLM 2.3.1 + CMSIS-NN",
              "MLPerf Tiny v0.5 closed/reference, Nucleo-L4R5ZI vww/performance/results.txt"),
    Published("stm32l4r5", "ic", 1000 / 1.420, "TFLM 2.3.1 + CMSIS-NN",
              "MLPerf Tiny v0.5 closed/reference, Nucleo-L4R5ZI ic/performance/results.txt"),
    Published("stm32l4r5", "ad", 1000 / 99.487, "TFLM 2.3.1 + CMSIS-NN",
              "MLPerf Tiny v0.5 closed/reference, Nucleo-L4R5ZI ad/performance/results.txt"),
    Published("ek-ra6m4", "kws", 1000 / 19.774, "tflite-micro + CMSIS-NN",
              "MLPerf Tiny v0.7 closed/renesas, EK-RA6M4 kws/performance/results.txt"),
    Published("ek-ra6m4", "vww", 1000 / 6.159, "tflite-micro + CMSIS-NN",
              "MLPerf Tiny v0.7 closed/renesas, EK-RA6M4 vww/performance/results.txt"),
    Published("ek-ra6m4", "ic", 1000 / 4.062, "tflite-micro + CMSIS-NN",
              "MLPerf Tiny v0.7 closed/renesas, EK-RA6M4 ic/performance/results.txt"),
    Published("ek-ra6m4", "ad", 1000 / 216.772, "tflite-micro + CMSIS-NN",
              "MLPerf Tiny v0.7 closed/renesas, EK-RA6M4 ad/performance/results.txt"),
    Published("ek-ra8d1", "kws", 1000 / 288.611, "TFLM + CMSIS-NN (Helium), LLVM 17",
              "MLPerf Tiny v1.2 closed/Renesas, EK-RA8D1 kws/performance/results.txt"),
    Published("ek-ra8d1", "vww", 1000 / 74.665, "TFLM + CMSIS-NN (Helium), LLVM 17",
              "MLPerf Tiny v1.2 closed/Renesas, EK-RA8D1 vww/performance/results.txt"),
    Published("ek-ra8d1", "ic", 1000 / 117.948, "TFLM + CMSIS-NN (Helium), LLVM 17",
              "MLPerf Tiny v1.2 closed/Renesas, EK-RA8D1 ic/performance/results.txt"),
    Published("ek-ra8d1", "ad", 1000 / 1884.138, "TFLM + CMSIS-NN (Helium), LLVM 17",
              "MLPerf Tiny v1.2 closed/Renesas, EK-RA8D1 ad/performance/results.txt"),
    Published("stm32f746", "mbv2_030_80", 129.0, "TFLM 2.5 + CMSIS-NN",
              "Plumerai blog 2021-10-04, table 'TensorFlow Lite for Microcontrollers 2.5 (with CMSIS-NN)'"),
    Published("stm32f746", "cifar10_cmsisnn", 99.1, "CMSIS-NN q7 kernels, no interpreter",
              "Lai, Suda, Chandra 2018, 'CMSIS-NN' (arXiv:1801.06601) CIFAR-10 CNN on Cortex-M7 @ 216 MHz"),
    Published("esp32s3", "person_detect", 54.0, "tflite-micro + ESP-NN",
              "espressif/esp-tflite-micro README, 'Performance Comparison' table"),
]

# EK-RA6M4 (Renesas RA6M4, Cortex-M33 @ 200 MHz) is not a catalog board (the schema has no Renesas
# family); it is the only published TFLM run of all four MLPerf Tiny models on a Cortex-M33, so it
# validates the Cortex-M33 coefficients used by stm32u575 / nrf5340dk. Same coefficients as those.
VALIDATION_PROFILES = {
    "ek-ra6m4": {
        "id": "ek-ra6m4", "name": "Renesas EK-RA6M4 (validation only)", "family": "sbc",
        "core": "cortex-m33", "clock_mhz": 200, "runtime": "tflm",
        "memory": {"flash_kb": 1024, "ram_kb": 256, "flash_reserve_kb": 64, "ram_reserve_kb": 32},
        "budgets": {}, "power": {"active_mw": 100.0, "idle_mw": 10.0},
        "link": {"kind": "serial", "baud": 115200},
        "cost": "stm32u575",   # copy the cost table of this catalog board
    },
    # EK-RA8D1 (Renesas RA8D1, Cortex-M85 @ 480 MHz with Helium/MVE): the published TFLM runs of a
    # Helium core; grounds the M55/M85-class values in COEFFICIENTS.md (no catalog board has Helium yet).
    "ek-ra8d1": {
        "id": "ek-ra8d1", "name": "Renesas EK-RA8D1 (validation only)", "family": "sbc",
        "core": "cortex-m85", "clock_mhz": 480, "runtime": "tflm",
        "memory": {"flash_kb": 2048, "ram_kb": 1024, "flash_reserve_kb": 64, "ram_reserve_kb": 32},
        "budgets": {}, "power": {"active_mw": 200.0, "idle_mw": 10.0},
        "link": {"kind": "serial", "baud": 115200},
        "cost": {"cycles_per_mac": {"conv_2d": 0.31, "conv_2d_1x1": 0.68, "depthwise_conv_2d": 1.2,
                                    "fully_connected": 0.9, "default": 0.7},
                 "cycles_per_element": {"add": 4.0, "mul": 4.0, "pool": 20.0, "mean": 20.0,
                                        "softmax": 30.0, "default": 4.0},
                 "layer_overhead_cycles": 1000, "invoke_overhead_cycles": 3000, "float_slowdown": 2.0},
    },
}

MODEL_NOTES = {
    "kws": "DS-CNN (MLPerf Tiny KWS): 49x10x1, conv 10x4/2 + 4 DS blocks, 64 ch",
    "vww": "MobileNetV1 x0.25 (MLPerf Tiny VWW): 96x96x3, 2 classes",
    "ic": "ResNet-8 (MLPerf Tiny IC): 32x32x3, 3 stacks 16/32/64",
    "ad": "FC autoencoder (MLPerf Tiny AD): 640-128x4-8-128x4-640",
    "person_detect": "TFLM person detection: MobileNetV1 x0.25 96x96x1, 2 classes",
    "mbv2_030_80": "MobileNetV2 x0.30, 80x80x3, 1000 classes (keras.applications layout)",
    "cifar10_cmsisnn": "CMSIS-NN paper CIFAR-10 CNN: 3x conv5x5 (32/32/64) + pools + FC 10",
}


def build_models(folder: Path, names: tuple[str, ...] | None = None) -> dict[str, Path]:
    """name -> int8 .tflite path (built once, reused from `folder` when present); all models by default."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {name: folder / f"{name}.tflite" for name in (names or tuple(MODEL_NOTES))}
    missing = [n for n, p in out.items() if not p.exists()]
    if not missing:
        return out
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    builders = {"kws": _kws, "vww": _vww, "ic": _ic, "ad": _ad, "person_detect": _person_detect,
                "mbv2_030_80": _mbv2, "cifar10_cmsisnn": _cifar10}
    for name in missing:
        model = builders[name](keras)
        _convert(tf, model, out[name])
    return out


def _convert(tf, model, path: Path) -> None:
    """Full int8 with the pipeline's converter (random calibration data: latency depends on structure)."""
    import numpy as np

    from qnas_edge.pipeline.quantize import convert_int8

    shape = tuple(int(d) for d in model.input_shape[1:])
    path.write_bytes(convert_int8(model, np.random.default_rng(0).random((4, *shape), dtype=np.float32)))


def _kws(keras):
    L = keras.layers
    inp = keras.Input((49, 10, 1))
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    for _ in range(4):
        x = L.DepthwiseConv2D((3, 3), padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        x = L.Conv2D(64, (1, 1), padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    x = L.Dense(12, activation="softmax")(x)
    return keras.Model(inp, x)


def _mobilenet_v1(keras, shape, alpha=0.25, classes=2):
    L = keras.layers
    inp = keras.Input(shape)
    f = int(32 * alpha)
    x = L.Conv2D(f, 3, strides=2, padding="same")(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
        [(1024, 2), (1024, 1)]
    for filters, stride in plan:
        x = L.DepthwiseConv2D(3, strides=stride, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        x = L.Conv2D(int(filters * alpha), 1, padding="same")(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Flatten()(x)
    x = L.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, x)


def _vww(keras):
    return _mobilenet_v1(keras, (96, 96, 3))


def _person_detect(keras):
    return _mobilenet_v1(keras, (96, 96, 1))


def _ic(keras):
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(16, 3, padding="same")(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = L.Conv2D(filters, 3, padding="same")(y)
        y = L.BatchNormalization()(y)
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    x = L.Flatten()(x)
    x = L.Dense(10, activation="softmax")(x)
    return keras.Model(inp, x)


def _ad(keras):
    L = keras.layers
    inp = keras.Input((640,))
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Dense(units)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.Dense(640)(x)
    return keras.Model(inp, x)


def _mbv2(keras):
    return keras.applications.MobileNetV2(input_shape=(80, 80, 3), alpha=0.3, weights=None, classes=1000)


def _cifar10(keras):
    L = keras.layers
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(32, 5, padding="same", activation="relu")(inp)
    x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    x = L.Conv2D(32, 5, padding="same", activation="relu")(x)
    x = L.AveragePooling2D(3, strides=2, padding="same")(x)
    x = L.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = L.AveragePooling2D(3, strides=2, padding="same")(x)
    x = L.Flatten()(x)
    x = L.Dense(10)(x)
    return keras.Model(inp, x)


def load_boards() -> dict:
    """Catalog boards plus the validation-only profiles, as Profile objects keyed by id."""
    from dataclasses import replace

    from device_profiles.catalog import load_catalog
    from device_profiles.profile import parse_profile

    boards = dict(load_catalog(include_user=False))
    for bid, spec in VALIDATION_PROFILES.items():
        data = {k: v for k, v in spec.items() if k != "cost"}
        if isinstance(spec["cost"], dict):
            data["cost"], note = spec["cost"], "validation only, own cost table (COEFFICIENTS.md)"
        else:
            donor = boards[spec["cost"]].cost
            data["cost"] = {"cycles_per_mac": dict(donor.cycles_per_mac),
                            "cycles_per_element": dict(donor.cycles_per_element),
                            "layer_overhead_cycles": donor.layer_overhead_cycles,
                            "invoke_overhead_cycles": donor.invoke_overhead_cycles,
                            "float_slowdown": donor.float_slowdown}
            note = f"validation only, cost table of {spec['cost']}"
        prof = parse_profile(data, f"<validation profile {bid}>")
        boards[bid] = replace(prof, notes=note)
    return boards


def run(cache: Path) -> dict:
    """Estimate every published pair; returns rows + leave-one-out check + summary."""
    from device_profiles.cost_model import CostModel
    from device_profiles.tflite_model import parse_tflite

    t0 = time.perf_counter()
    models = build_models(cache)
    build_s = time.perf_counter() - t0
    boards = load_boards()
    rows = []
    for pub in PUBLISHED:
        prof = boards[pub.board]
        est = CostModel(prof).estimate_tflite(models[pub.model], arena=False)
        rows.append({
            "board": pub.board, "core": prof.core, "clock_mhz": prof.clock_hz / 1e6, "model": pub.model,
            "macs": est.macs, "estimated_ms": est.latency_ms, "published_ms": pub.latency_ms,
            "ratio": est.latency_ms / pub.latency_ms, "runtime": pub.runtime, "source": pub.source,
        })
    # Leave one model out on the board with four published models.
    loo = []
    board = "stm32l4r5"
    pubs = [p for p in PUBLISHED if p.board == board]
    layers = {p.model: parse_tflite(models[p.model]).layers for p in pubs}
    # Start from coefficients that saw none of this board's data (the Cortex-M33 fit of stm32u575), so the
    # held-out model is a true out-of-sample prediction.
    base = CostModel(boards[board].with_cost(boards["stm32u575"].cost))
    for held in pubs:
        train = [(layers[p.model], p.latency_ms) for p in pubs if p is not held]
        refit = base.recalibrate(train, prior_weight=0.05)
        pred = refit.latency_ms(layers[held.model])
        loo.append({"board": board, "held_out": held.model, "predicted_ms": pred,
                    "published_ms": held.latency_ms, "ratio": pred / held.latency_ms})
    cortex_m = [r for r in rows if r["core"].startswith("cortex-m")]
    worst = max(cortex_m, key=lambda r: max(r["ratio"], 1 / r["ratio"]))
    return {"rows": rows, "leave_one_out": loo, "build_seconds": build_s,
            "worst_cortex_m": worst, "all_cortex_m_within_1_5x":
                all(1 / 1.5 <= r["ratio"] <= 1.5 for r in cortex_m)}


_MEASURE = """
import json, sys, time
import numpy as np
try:
    from tflite_runtime.interpreter import Interpreter
    import tflite_runtime as rt
    version = "tflite-runtime " + rt.__version__
except ImportError:
    import tensorflow as tf
    Interpreter, version = tf.lite.Interpreter, "tensorflow " + tf.__version__
out = {"runtime": version, "ms": {}}
for path in sys.argv[1:]:
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.random.default_rng(0).integers(-128, 127, size=d["shape"]).astype(d["dtype"]))
    for _ in range(5):
        it.invoke()
    ts = []
    for _ in range(100):
        t = time.perf_counter(); it.invoke(); ts.append((time.perf_counter() - t) * 1000)
    out["ms"][path] = float(np.min(ts))   # minimum: the shared 2-core machine is often busy
print(json.dumps(out))
"""


def measure_host(python: str, models: dict[str, Path]) -> dict:
    """Fastest of 100 runs (1 thread) of each model under `python`'s TFLite runtime vs linux-host; the
    minimum, not the median, because other jobs share this 2-core machine."""
    import subprocess

    from device_profiles.catalog import get_profile
    from device_profiles.cost_model import CostModel

    proc = subprocess.run([python, "-c", _MEASURE, *map(str, models.values())], capture_output=True,
                          text=True, timeout=600, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    cm = CostModel(get_profile("linux-host"))
    rows = []
    for name, path in models.items():
        meas = res["ms"][str(path)]
        est = cm.estimate_tflite(path, arena=False).latency_ms
        rows.append({"model": name, "measured_ms": meas, "estimated_ms": est, "ratio": est / meas})
    return {"runtime": res["runtime"], "python": python, "rows": rows}


def _print(result: dict) -> None:
    print(f"{'board':<11} {'core':<11} {'MHz':>5} {'model':<14} {'MACs':>10} {'est ms':>9} "
          f"{'pub ms':>9} {'ratio':>6}  runtime / source")
    for r in result["rows"]:
        print(f"{r['board']:<11} {r['core']:<11} {r['clock_mhz']:>5.0f} {r['model']:<14} {r['macs']:>10,} "
              f"{r['estimated_ms']:>9.2f} {r['published_ms']:>9.2f} {r['ratio']:>6.2f}  "
              f"{r['runtime']}; {r['source']}")
    print()
    print("leave-one-model-out (stm32l4r5: start from the Cortex-M33 coefficients, CostModel.recalibrate on 3 "
          "published models, predict the 4th):")
    for r in result["leave_one_out"]:
        print(f"  held out {r['held_out']:<4} predicted {r['predicted_ms']:8.2f} ms  published "
              f"{r['published_ms']:8.2f} ms  ratio {r['ratio']:.2f}")
    w = result["worst_cortex_m"]
    print()
    print(f"worst Cortex-M pair: {w['board']} / {w['model']} ratio {w['ratio']:.2f}; "
          f"all Cortex-M pairs within 1.5x: {result['all_cortex_m_within_1_5x']}")
    print(f"(model build + int8 conversion {result['build_seconds']:.1f} s)")
    host = result.get("linux_host")
    if host:
        print()
        print(f"linux-host profile vs this machine ({host['runtime']}, 1 thread, min of 100; {host['python']}):")
        for r in host["rows"]:
            print(f"  {r['model']:<16} measured {r['measured_ms']:8.3f} ms  estimated {r['estimated_ms']:8.3f} ms  "
                  f"ratio {r['ratio']:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "qnas-mlperf-tiny",
                    help="folder for the built .tflite models (reused between runs)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    venv = Path(os.environ.get("QNAS_EDGE_BOARD_VENV", Path.home() / ".cache/qnas-edge/board-venv"))
    ap.add_argument("--host-python", default=str(venv / "bin" / "python"),
                    help="Python whose TFLite runtime is timed for the linux-host check (default: the SSH "
                         "board venv; 'none' to skip)")
    args = ap.parse_args(argv)
    result = run(args.cache)
    if args.host_python != "none" and Path(args.host_python).exists():
        result["linux_host"] = measure_host(args.host_python, build_models(args.cache))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

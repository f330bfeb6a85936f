"""One candidate, end to end: the self-contained unit of work of `qnas-edge build` and of the search.

    build_candidate(arch, dataset_spec, profile, settings, seed, out_dir) -> BuildResult

(architecture, dataset spec, board profile, settings, seed) in; a folder of artifacts and a result
record out. Steps: static estimate from the architecture -> dataset -> tf_keras model -> proxy
training -> full-int8 PTQ (refused unless every op is int8) -> int8 accuracy with the TFLite
interpreter -> TFLM check + `model_data.cc/.h` (tflm boards) or TVM compile (tvm boards) -> cost
model estimate of the built file -> `metrics.json`.

Everything is written into a temporary sibling folder and renamed to `out_dir` only when every step
succeeded, so a failure never leaves a half-written `out_dir`. Only picklable arguments and results,
so it runs unchanged in a process pool (or a Ray task).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from device_profiles.profile import Profile
from device_profiles.tflite_model import ModelInfo
from qnas_edge.errors import UsageError
from qnas_edge.pipeline.architecture import Architecture
from qnas_edge.pipeline.datasets import Dataset
from qnas_edge.pipeline.training import TrainSettings

ProgressFn = Callable[[str, dict], None]


@dataclass(frozen=True)
class BuildSettings:
    """Everything but the architecture, data, board and seed that changes a build."""

    train: TrainSettings = field(default_factory=TrainSettings)
    val_fraction: float = 0.2
    representative_samples: int = 128   # training samples used to calibrate int8 ranges
    c_array: bool = True                 # model_data.cc/.h on TFLM boards
    tvm_compile: bool = True             # TVM library on tvm boards
    int8: bool = True                    # False: screen only (train, float accuracy; no .tflite, no artifacts)


@dataclass
class BuildResult:
    """Where the artifacts are and what was measured (all sizes bytes, latency ms, energy mJ)."""

    arch_id: str
    board_id: str
    runtime: str
    out_dir: str
    files: dict[str, str]
    metrics: dict[str, Any]
    timings: dict[str, float]
    model: ModelInfo | None = None      # the built .tflite, parsed once (layers, I/O, sizes)

    @property
    def model_path(self) -> Path | None:
        """The int8 .tflite; None for a screening build (`BuildSettings.int8=False`)."""
        return Path(self.files["model.tflite"]) if "model.tflite" in self.files else None

    @property
    def library_path(self) -> Path | None:
        """The compiled library the board runs (TVM boards), or None."""
        lib = (self.metrics.get("tvm") or {}).get("library")
        return Path(self.out_dir) / lib if lib else None

    @property
    def arena_bytes(self) -> int | None:
        return self.metrics.get("arena_bytes")

    @property
    def int8_accuracy(self) -> float | None:
        acc = self.metrics["accuracy"]["int8_val"]
        return None if acc is None else float(acc)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (the parsed model stays out: the .tflite is in `files`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"{out_dir}: output folder already exists and is not empty; "
                         "choose another --out or remove it")
    parent = out_dir.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise UsageError(f"{parent}: cannot create output folder ({exc.strerror})") from None


def static_estimate(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int, profile: Profile):
    """Cost-model Estimate of `arch` before any training (model size approximated, no arena)."""
    from device_profiles.cost_model import CostModel
    from qnas_edge.pipeline.lowering import estimate_model_bytes, lower, total_weight_bytes

    layers = lower(arch, input_shape, num_classes)
    return CostModel(profile).estimate_layers(layers, estimate_model_bytes(layers),
                                              weight_bytes=total_weight_bytes(layers))


def build_candidate(arch: Architecture, dataset_spec: str | Path | Dataset, profile: Profile,
                    settings: BuildSettings | None = None, seed: int = 0, out_dir: str | Path = "build",
                    progress: ProgressFn | None = None) -> BuildResult:
    """Train, quantize and compile `arch` for `profile`; artifacts land in `out_dir` only on success.

    `dataset_spec` is 'digits', a folder, an .npz path, or an already loaded Dataset whose images have
    the architecture's resolution. Raises UsageError (bad input, exit 2) or RunFailed (exit 1).
    """
    settings = settings or BuildSettings()
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir)
    notify = progress or (lambda stage, info: None)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # ---- data + static estimate (cheap, before TensorFlow) ----------------------------------------
    t = time.perf_counter()
    notify("dataset", {"spec": str(dataset_spec) if not isinstance(dataset_spec, Dataset) else dataset_spec.source})
    if isinstance(dataset_spec, Dataset):
        data = dataset_spec
        if data.input_shape[:2] != (arch.resolution, arch.resolution):
            raise UsageError(f"dataset images are {data.input_shape[0]}x{data.input_shape[1]} but the "
                             f"architecture's resolution is {arch.resolution}; reload the dataset at it")
    else:
        from qnas_edge.pipeline.datasets import load_dataset

        data = load_dataset(dataset_spec, arch.resolution, seed, settings.val_fraction)
    timings["dataset_s"] = time.perf_counter() - t
    static = static_estimate(arch, data.input_shape, data.num_classes, profile)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    into = _build_into if settings.int8 else _screen_into
    try:
        files, metrics, info = into(tmp, arch, data, profile, settings, seed, notify, timings, static)
        timings["total_s"] = time.perf_counter() - t_all
        metrics["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        files["metrics.json"] = str(tmp / "metrics.json")
        if out_dir.exists():
            out_dir.rmdir()  # checked empty above
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = {k: str(out_dir / Path(v).name) for k, v in files.items()}
    notify("done", {"out_dir": str(out_dir)})
    return BuildResult(arch.id, profile.id, profile.runtime, str(out_dir), files, metrics, timings, info)


def _build_into(tmp: Path, arch: Architecture, data: Dataset, profile: Profile, settings: BuildSettings,
                seed: int, notify: ProgressFn, timings: dict[str, float], static) -> tuple[dict, dict, Any]:
    """Train, quantize, check int8 accuracy, build the target's artifacts; (files, metrics, parsed model)."""
    from qnas_edge.pipeline.targets import target_for

    target = target_for(profile)
    model, tr = _train(arch, data, settings, seed, notify, timings)
    tflite_bytes, info, int8_acc, x_check = _quantize(model, data, settings, seed, target.kernels, notify, timings)
    model_path = tmp / "model.tflite"
    model_path.write_bytes(tflite_bytes)
    t = time.perf_counter()
    art = target.build_artifacts(model_path, tmp, x_check, settings.train.threads,
                                 f"architecture {arch.id} for board {profile.id}", notify, settings)
    timings[f"{target.runtime}_s"] = time.perf_counter() - t
    files = {"model.tflite": str(model_path), **art.files}
    built = target.estimate(info, art.arena_bytes)
    arch.save(tmp / "arch.json")
    files["arch.json"] = str(tmp / "arch.json")
    metrics = {
        "arch_id": arch.id, "board": profile.id, "runtime": profile.runtime, "seed": seed,
        "dataset": data.summary(), "training": _training_summary(settings, tr),
        "accuracy": {"float_val": tr.float_val_accuracy, "int8_val": int8_acc},
        "params": int(model.count_params()), **_figures(built, info.model_bytes, art.arena_bytes),
        "ops": sorted(set(info.ops)), "static_vs_built": _static_vs_built(static, built), **art.metrics,
    }
    return files, metrics, info


def _screen_into(tmp: Path, arch: Architecture, data: Dataset, profile: Profile, settings: BuildSettings,
                 seed: int, notify: ProgressFn, timings: dict[str, float], static) -> tuple[dict, dict, None]:
    """Multi-fidelity screening: train and score float validation accuracy, nothing else (the int8
    conversion, int8 check and TFLM/TVM build cost as much as a few epochs here); the figures are the
    architecture's static estimate. (files, metrics, None)."""
    model, tr = _train(arch, data, settings, seed, notify, timings)
    arch.save(tmp / "arch.json")
    metrics = {
        "arch_id": arch.id, "board": profile.id, "runtime": profile.runtime, "seed": seed,
        "dataset": data.summary(), "training": _training_summary(settings, tr), "screen": True,
        "accuracy": {"float_val": tr.float_val_accuracy, "int8_val": None},
        "params": int(model.count_params()), **_figures(static, static.model_bytes, None),
    }
    return {"arch.json": str(tmp / "arch.json")}, metrics, None


def _train(arch: Architecture, data: Dataset, settings: BuildSettings, seed: int, notify: ProgressFn,
           timings: dict[str, float]):
    """Keras model of `arch`, trained for the proxy epochs; (model, TrainResult)."""
    from qnas_edge.pipeline.keras_model import build_model
    from qnas_edge.pipeline.training import configure_tensorflow, seed_everything, train

    t = time.perf_counter()
    notify("build", {"arch_id": arch.id})
    configure_tensorflow(settings.train.threads)
    seed_everything(seed)
    model = build_model(arch, data.input_shape, data.num_classes)
    timings["build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    tr = train(model, data.x_train, data.y_train, data.x_val, data.y_val, settings.train, seed, notify)
    timings["train_s"] = time.perf_counter() - t
    return model, tr


def _quantize(model, data: Dataset, settings: BuildSettings, seed: int, kernels: str, notify: ProgressFn,
              timings: dict[str, float]):
    """Full-int8 PTQ, parsed once; int8 validation accuracy with the board's kernels.

    Returns (tflite bytes, ModelInfo, int8 accuracy, one quantized check input)."""
    from qnas_edge.pipeline import quantize

    t = time.perf_counter()
    notify("quantize", {})
    rep_idx = np.random.default_rng(seed).permutation(len(data.x_train))[:settings.representative_samples]
    tflite_bytes = quantize.convert_int8(model, data.x_train[np.sort(rep_idx)])
    info = quantize.check_full_int8(tflite_bytes)
    timings["quantize_s"] = time.perf_counter() - t
    t = time.perf_counter()
    acc = quantize.int8_accuracy(tflite_bytes, info, data.x_val, data.y_val, settings.train.threads, kernels)
    qin, _ = quantize.io_params(info)
    timings["int8_eval_s"] = time.perf_counter() - t
    return tflite_bytes, info, acc, qin.quantize(data.x_val[:1])


def _training_summary(settings: BuildSettings, tr) -> dict[str, Any]:
    return {"epochs_requested": settings.train.epochs, "epochs_run": tr.epochs_run, "stopped": tr.stopped,
            "batch_size": settings.train.batch_size, "learning_rate": settings.train.learning_rate,
            "lr_schedule": settings.train.lr_schedule, "history": tr.history}


def _figures(built, model_bytes: int, arena_bytes: int | None) -> dict[str, Any]:
    """A model's static figures (bytes, ms, mJ), labelled estimated: of the built file, or of the
    architecture for a screen (model bytes approximated, no arena)."""
    return {"macs": built.macs, "weight_bytes": built.weight_bytes, "model_bytes": model_bytes,
            "flash_bytes": built.flash_bytes, "arena_bytes": arena_bytes, "ram_bytes": built.ram_bytes,
            "latency_ms": built.latency_ms, "energy_mj": built.energy_mj, "fits": built.fits,
            "budgets": built.budgets, "fits_all": all(built.fits.values()), "status": "estimated"}


def _static_vs_built(static, built) -> dict[str, Any]:
    """The architecture's estimate before training against the built file's (they must agree)."""
    rel = abs(static.latency_ms - built.latency_ms) / built.latency_ms if built.latency_ms else 0.0
    return {"macs_static": static.macs, "macs_built": built.macs,
            "weight_bytes_static": static.weight_bytes, "weight_bytes_built": built.weight_bytes,
            "latency_ms_static": static.latency_ms, "latency_ms_built": built.latency_ms,
            "latency_rel_diff": rel, "model_bytes_static_approx": static.model_bytes}

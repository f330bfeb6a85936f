"""One candidate inside a run: build it (the pipeline's unit of work), then judge what the board said.

`build` turns an architecture into a `Built` record (the parsed model and its static estimate
included, so nothing is parsed or bisected twice); `judge` decides the figures that count (the one
rule in `qnas_edge.records.figures_of`), feasibility and the score the strategy is told.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.cost_model import CostModel
from device_profiles.layers import Layer
from device_profiles.profile import Profile
from firmware_bridge.measurement import Measurement
from qnas_edge.pipeline.targets import target_for
from qnas_edge.records import Figures, budget_violations, figures_of

INFEASIBLE_PENALTY = 1.0   # score = accuracy - penalty when a figure breaks a budget


@dataclass
class Built:
    """A built candidate: where its files are and what the loop and the ledger need of it."""

    arch: dict[str, Any]
    tflite: Path | None           # None: a screening build (float accuracy only, nothing to measure)
    library: Path | None          # compiled library the board runs (TVM), if any
    metrics: dict[str, Any]       # what the ledger stores (accuracy, MACs, arena, static, ...)
    timings: dict[str, float] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    folder: Path | None = None    # the candidate's folder (defaults to the .tflite's)

    def __post_init__(self) -> None:
        if self.folder is None and self.tflite is not None:
            self.folder = self.tflite.parent

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])

    @property
    def arena_bytes(self) -> int | None:
        return self.metrics.get("arena_bytes")


def build(architecture, arch: dict[str, Any], data: str, profile: Profile, cost_model: CostModel, epochs: int,
          seed: int, out: Path, progress: Callable[[str, dict], None], screen: bool = False) -> Built:
    """Train, quantize and compile one architecture into `out`; static figures from `cost_model`.

    `screen` (multi-fidelity screening): train and score float accuracy only; the figures are the
    architecture's static estimate, and there is no model file to measure."""
    from qnas_edge.pipeline.build import BuildSettings, build_candidate
    from qnas_edge.pipeline.training import TrainSettings

    res = build_candidate(architecture, data, profile, BuildSettings(train=TrainSettings(epochs=epochs),
                                                                    int8=not screen),
                          seed=seed, out_dir=out, progress=progress)
    m = res.metrics
    float_acc = m["accuracy"]["float_val"]
    metrics = {"tflite_path": str(res.model_path) if res.model_path else None,
               "tvm_lib": str(res.library_path) if res.library_path else None,
               "accuracy": float_acc if screen else res.int8_accuracy, "float_accuracy": float_acc,
               "accuracy_kind": "float" if screen else "int8",
               "arena_bytes": m.get("arena_bytes"), "macs": m["macs"], "params": m["params"],
               "model_bytes": m["model_bytes"], "ops": m.get("ops"), "arch_id": res.arch_id,
               "epochs_run": m["training"]["epochs_run"]}
    if screen:
        metrics["static"] = {k: m[k] for k in ("latency_ms", "energy_mj", "flash_bytes", "ram_bytes",
                                               "arena_bytes", "macs")}
        return Built(arch, None, None, metrics, dict(res.timings), folder=Path(res.out_dir))
    metrics["static"] = static_estimate(profile, cost_model, res.model, m.get("arena_bytes"))
    return Built(arch, res.model_path, res.library_path, metrics, dict(res.timings), list(res.model.layers))


def static_estimate(profile: Profile, cost_model: CostModel, info, arena_bytes: int | None) -> dict[str, Any]:
    """The static figures of a parsed, built model under the run's current (recalibrated) cost model."""
    est = target_for(profile).estimate(info, arena_bytes, cost_model)
    return {"latency_ms": est.latency_ms, "energy_mj": est.energy_mj, "flash_bytes": est.flash_bytes,
            "ram_bytes": est.ram_bytes, "arena_bytes": est.arena_bytes, "macs": est.macs}


@dataclass(frozen=True)
class Verdict:
    """The figures that count, whether they meet the budgets, and the score told to the strategy."""

    figures: Figures
    feasible: bool
    score: float


def judge(accuracy: float, measurement: Measurement | None, static: Mapping[str, Any], profile: Profile,
          limits: Mapping[str, float], refused: bool = False) -> Verdict:
    """Budget check on the figures that count; a model the board refused is infeasible."""
    fig = figures_of(measurement, static, profile)
    feasible = not refused and not budget_violations(fig, limits)
    return Verdict(fig, feasible, accuracy if feasible else accuracy - INFEASIBLE_PENALTY)

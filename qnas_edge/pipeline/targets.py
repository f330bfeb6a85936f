"""One Target per runtime: what differs between a TFLite Micro microcontroller and a Linux board.

A target owns the deployable artifacts (C array vs TVM library), the fit check (the TFLM arena,
computed once per candidate from the already parsed model), the kernels the int8 accuracy is
checked with, and the RAM rule of the static estimate. Callers ask the target; they never branch on
`profile.runtime`. A new runtime is one new subclass registered in `TARGETS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from device_profiles.cost_model import CostModel, Estimate
from device_profiles.profile import Profile
from device_profiles.tflite_model import ModelInfo

Notify = Callable[[str, dict], None]


@dataclass
class Artifacts:
    """What a target built next to model.tflite: file name -> path, metrics, the exact arena (bytes)."""

    files: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    arena_bytes: int | None = None
    library: str | None = None          # file name of the compiled library the board runs, if any


class Target:
    """Base: a Linux board running the .tflite with its TFLite runtime (no extra artifacts)."""

    runtime: ClassVar[str] = "tflite"
    kernels: ClassVar[str] = "default"   # TFLite interpreter kernels closest to what the board runs
    simulable: ClassVar[bool] = False    # the virtual board can stand in for it
    arena_is_ram: ClassVar[bool] = False  # a measured TFLM arena (+ reserve) is the board's RAM figure
    deployment: ClassVar[str] = "linux"  # which deployment guide the export bundle carries

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def build_artifacts(self, model_path: Path, out_dir: Path, x_check: np.ndarray, threads: int,
                        label: str, notify: Notify, options: Any) -> Artifacts:
        """Compile / check `model_path` for the board into `out_dir`; the default has nothing to add."""
        return Artifacts()

    def estimate(self, info: ModelInfo, arena_bytes: int | None, cost_model: CostModel | None = None) -> Estimate:
        """Static figures of a parsed, built model (arena as found by `build_artifacts`)."""
        cm = cost_model or CostModel(self.profile)
        return cm.estimate_layers(info.layers, info.model_bytes, self.ram_arena(arena_bytes),
                                  info.activation_dtype, info.peak_activation_bytes, info.weight_bytes)

    def ram_arena(self, arena_bytes: int | None) -> int | None:
        """The arena that counts towards RAM on this runtime (None: RAM is activations + weights)."""
        return arena_bytes if self.arena_is_ram else None

    def ram_needed(self, peak_bytes: float, weight_bytes: float, arena_factor: float) -> float:
        """RAM (bytes) a network part needs before it is built: activations + weights in process memory."""
        return self.profile.ram_reserve_bytes + peak_bytes + weight_bytes



class TflmTarget(Target):
    """A microcontroller running TensorFlow Lite Micro: exact arena, TFLM check, model_data.cc/.h."""

    runtime = "tflm"
    kernels = "builtin"     # TFLM's reference kernels share the builtin kernels' int8 rounding
    simulable = True
    arena_is_ram = True
    deployment = "tflm"

    def build_artifacts(self, model_path: Path, out_dir: Path, x_check: np.ndarray, threads: int,
                        label: str, notify: Notify, options: Any) -> Artifacts:
        from qnas_edge.pipeline.c_array import recommended_arena, write_c_array
        from qnas_edge.pipeline.tflm_check import check_tflm

        notify("tflm", {})
        rep = check_tflm(model_path, x_check, threads)
        out = Artifacts(arena_bytes=rep.arena_bytes)
        out.metrics["tflm"] = {"arena_bytes": rep.arena_bytes,
                               "recommended_arena_bytes": recommended_arena(rep.arena_bytes),
                               "max_abs_diff_vs_tflite": rep.max_abs_diff}
        if getattr(options, "c_array", True):
            cc, h = write_c_array(model_path.read_bytes(), out_dir, rep.arena_bytes, comment=label)
            out.files["model_data.cc"], out.files["model_data.h"] = str(cc), str(h)
        return out

    def ram_needed(self, peak_bytes: float, weight_bytes: float, arena_factor: float) -> float:
        """Weights stay in flash; the arena is ~`arena_factor` x the peak live activations."""
        return self.profile.ram_reserve_bytes + arena_factor * peak_bytes



class TvmTarget(Target):
    """A Linux board running an Apache TVM library compiled for its CPU (the .tflite as fallback)."""

    runtime = "tvm"

    def build_artifacts(self, model_path: Path, out_dir: Path, x_check: np.ndarray, threads: int,
                        label: str, notify: Notify, options: Any) -> Artifacts:
        if not getattr(options, "tvm_compile", True):
            return Artifacts()
        from qnas_edge.pipeline.tvm_backend import compile_tvm

        notify("tvm", {"target": self.profile.tvm_target})
        art = compile_tvm(model_path, self.profile.tvm_target or "llvm", out_dir, x_check, threads)
        out = Artifacts(library=Path(art.library).name)
        out.files[Path(art.library).name] = art.library
        out.files[Path(art.manifest).name] = art.manifest
        out.metrics["tvm"] = {"library": Path(art.library).name, "manifest": Path(art.manifest).name,
                              "machine": art.machine, "target": art.target,
                              "host_max_abs_diff_vs_tflite": art.host_max_abs_diff}
        return out


TARGETS: dict[str, type[Target]] = {"tflm": TflmTarget, "tflite": Target, "tvm": TvmTarget}


def target_class(runtime: str) -> type[Target]:
    """The Target class of a runtime name (what a ledger's profile record stores)."""
    return TARGETS.get(runtime, Target)


def target_for(profile: Profile) -> Target:
    """The Target of the profile's runtime (profiles are validated, so the runtime is known)."""
    return TARGETS.get(profile.runtime, Target)(profile)

"""Static cost model: latency, energy, flash and RAM of a network on a board, before running it.

Latency comes from the board's timing model (`device_profiles.timing`): on TFLite Micro boards with a
modelled core, the kernel-level instruction model learned from measured TFLM + CMSIS-NN executions x
the core family's CPI / clock; elsewhere the profile's cycle coefficients. Both are linear in their
coefficients, so the closed loop refits them from (predicted, measured) pairs and the QUBO tables
are rebuilt from feature vectors. Energy is the one rule of `device_profiles.energy`.

Memory: flash = model bytes + flash reserve. RAM on TFLM boards = the exact minimum arena (found with
the tflite-micro interpreter) + RAM reserve; on Linux boards = peak activations + weights + reserve.
Budgets are compared with these totals; a budget that is not set defaults to the board's capacity.
Every figure here is `estimated`; measured figures come from `firmware_bridge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.energy import energy_mj
from device_profiles.layers import Layer
from device_profiles.profile import Profile
from device_profiles.timing import INVOKE, OVERHEAD, CoefficientTiming, KernelTiming, timing_for

__all__ = ["INVOKE", "OVERHEAD", "CostModel", "Estimate", "LayerEstimate"]


@dataclass(frozen=True)
class LayerEstimate:
    """Per-layer share of the latency (ms) with the figures it was computed from."""

    index: int
    op: str
    kind: str
    macs: int
    weight_bytes: int
    activation_bytes: int
    output_shape: tuple[int, ...]
    cycles: float
    latency_ms: float


@dataclass
class Estimate:
    """Static figures of one model on one board (all `estimated`)."""

    board_id: str
    runtime: str
    dtype: str
    latency_ms: float
    energy_mj: float
    flash_bytes: int
    ram_bytes: int
    model_bytes: int
    arena_bytes: int | None
    macs: int
    weight_bytes: int
    peak_activation_bytes: int
    fits: dict[str, bool]
    budgets: dict[str, float]
    layers: list[LayerEstimate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unsupported_ops: list[str] = field(default_factory=list)
    status: str = "estimated"

    @property
    def fits_all(self) -> bool:
        return all(self.fits.values()) and not self.unsupported_ops

    def metric(self, name: str) -> float:
        """Value of a budgeted metric by its budget name (latency_ms, ram_bytes, flash_bytes, energy_mj)."""
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fits_all"] = self.fits_all
        return d


class CostModel:
    """Prices layers on one board. Immutable: `recalibrate` returns a new model."""

    def __init__(self, profile: Profile, timing: CoefficientTiming | KernelTiming | None = None) -> None:
        self.timing = timing if timing is not None else timing_for(profile)
        self.profile = self.timing.profile if timing is not None else profile

    # ---- coefficients as a flat, named vector (the recalibration works on this) -------------------
    def coefficient(self, name: str) -> float:
        """Cycles per unit of feature `name` (per MAC, per element, per instruction of a kernel group)."""
        return self.timing.coefficient(name)

    def knows(self, name: str) -> bool:
        """Whether `name` is a coefficient of this board's timing model."""
        return self.timing.knows(name)

    def with_coefficients(self, values: dict[str, float]) -> CostModel:
        return CostModel(self.profile, self.timing.with_coefficients(values))

    def features(self, layers: Sequence[Layer]) -> dict[str, float]:
        return self.timing.features(layers)

    def describe(self) -> dict:
        """Which predictor and which CPI source produce this board's latency figures."""
        return self.timing.describe()

    # ---- latency ----------------------------------------------------------------------------------
    def cycles(self, features: dict[str, float]) -> float:
        return sum(self.coefficient(k) * v for k, v in features.items() if v)

    def layer_cycles(self, layer: Layer) -> float:
        return self.cycles(self.timing.features([layer], invoke=False))

    def layer_latency_ms(self, layer: Layer) -> float:
        return self.layer_cycles(layer) / self.profile.clock_hz * 1000.0

    def latency_ms(self, layers: Sequence[Layer]) -> float:
        return self.cycles(self.features(layers)) / self.profile.clock_hz * 1000.0

    def energy_mj(self, latency_ms: float) -> float:
        return energy_mj(latency_ms, self.profile.power.active_mw)

    # ---- memory -----------------------------------------------------------------------------------
    def flash_bytes(self, model_bytes: int) -> int:
        return int(model_bytes) + self.profile.flash_reserve_bytes

    def ram_bytes(self, arena_bytes: int | None, peak_activation_bytes: int, weight_bytes: int) -> int:
        if self.profile.is_mcu:
            working = arena_bytes if arena_bytes is not None else peak_activation_bytes
            return int(working) + self.profile.ram_reserve_bytes
        return int(peak_activation_bytes + weight_bytes) + self.profile.ram_reserve_bytes

    def budget_limits(self) -> dict[str, float]:
        """Budgets in force: the profile's, with RAM and flash defaulting to the board's capacity."""
        b = self.profile.budgets.as_dict()
        b.setdefault("ram_bytes", self.profile.ram_bytes)
        b.setdefault("flash_bytes", self.profile.flash_bytes)
        return b

    # ---- whole-model estimates --------------------------------------------------------------------
    def estimate_layers(self, layers: Sequence[Layer], model_bytes: int, arena_bytes: int | None = None,
                        dtype: str = "int8", peak_activation_bytes: int | None = None,
                        weight_bytes: int | None = None) -> Estimate:
        """Estimate from a layer list (an architecture before training, or a parsed file)."""
        per_layer = []
        for layer in layers:
            cyc = self.layer_cycles(layer)
            per_layer.append(LayerEstimate(
                index=layer.index, op=layer.op, kind=layer.kind, macs=layer.macs,
                weight_bytes=layer.weight_bytes, activation_bytes=layer.input_bytes + layer.output_bytes,
                output_shape=tuple(layer.output_shape), cycles=cyc,
                latency_ms=cyc / self.profile.clock_hz * 1000.0))
        latency = self.latency_ms(layers)
        peak = peak_activation_bytes if peak_activation_bytes is not None else max(
            (lay.input_bytes + lay.output_bytes for lay in layers), default=0)
        weights = weight_bytes if weight_bytes is not None else sum(lay.weight_bytes for lay in layers)
        energy = self.energy_mj(latency)
        flash = self.flash_bytes(model_bytes)
        ram = self.ram_bytes(arena_bytes, peak, weights)
        limits = self.budget_limits()
        values = {"latency_ms": latency, "energy_mj": energy, "ram_bytes": ram, "flash_bytes": flash}
        fits = {k: values[k] <= v for k, v in limits.items()}
        notes = []
        if self.profile.is_mcu and arena_bytes is None:
            notes.append("RAM uses peak activations: the TFLM arena was not computed")
        if dtype != "int8" and self.profile.is_mcu:
            notes.append(f"model is {dtype}, not int8: priced with float kernels "
                         f"(x{self.profile.cost.float_slowdown:g}); quantize to full int8 for this board")
        return Estimate(
            board_id=self.profile.id, runtime=self.profile.runtime, dtype=dtype,
            latency_ms=latency, energy_mj=energy, flash_bytes=flash, ram_bytes=ram,
            model_bytes=int(model_bytes), arena_bytes=arena_bytes,
            macs=sum(lay.macs for lay in layers), weight_bytes=int(weights),
            peak_activation_bytes=int(peak), fits=fits, budgets=limits, layers=per_layer, notes=notes)

    def estimate_tflite(self, source: str | Path | bytes, arena: bool = True) -> Estimate:
        """Parse a .tflite and estimate it; on TFLM boards the arena is found with tflite-micro."""
        from device_profiles.tflite_model import parse_tflite

        info = parse_tflite(source)
        arena_bytes, unsupported, arena_note = None, [], ""
        if self.profile.is_mcu and arena:
            from device_profiles.tflm_arena import find_min_arena

            res = find_min_arena(source, lower_bound=info.peak_activation_bytes)
            from device_profiles.tflm_ops import unsupported_ops

            arena_bytes = res.arena_bytes
            unsupported = sorted(set(res.unsupported_ops) | set(unsupported_ops(info.ops)))
            if res.arena_bytes is None:
                arena_note = f"TFLite Micro cannot load this model: {res.error}"
        est = self.estimate_layers(info.layers, info.model_bytes, arena_bytes, info.activation_dtype,
                                   info.peak_activation_bytes, info.weight_bytes)
        est.unsupported_ops = unsupported
        if arena_note:
            est.notes.append(arena_note)
        if unsupported:
            est.fits["tflm_ops"] = False
        return est

    # ---- recalibration (closing the loop) ---------------------------------------------------------
    def recalibrate(self, samples: Sequence[tuple[Sequence[Layer], float]], prior_weight: float = 0.05,
                    iterations: int = 5) -> CostModel:
        """Refit from (layers, measured latency ms) pairs: the coefficients (CoefficientTiming) or the
        board's residual on the instruction model (KernelTiming). No samples: this model."""
        refit = self.timing.recalibrate(samples, prior_weight, iterations)
        return self if refit is self.timing else CostModel(self.profile, refit)

"""A board's latency model: which one prices it, and its coefficients.

Both models are linear, `latency_ms = sum_k coefficient[k] x feature[k] / clock_hz x 1000` (coefficients
in cycles per feature unit), which is what lets the QUBO cost tables store feature vectors and the
closed loop refit coefficients without re-lowering anything.

- `KernelTiming` — TensorFlow Lite Micro boards whose core has the kernel-level instruction model
  (`device_profiles.latency`, learned from measured TFLM + CMSIS-NN executions) and a CPI calibrated
  against published runs of the same runtime: features are predicted instructions per kernel group,
  coefficients cycles per instruction (the family CPI; after on-board measurements, the board's
  residual: a scale and per-group corrections).
- `CoefficientTiming` — every other board (Linux boards, cores without an instruction model or without
  a published TFLM run): the profile's cycles per MAC / per output element / per layer.

`timing_for(profile)` picks one; `describe()` says which predictor and which CPI source it uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from device_profiles.layers import FREE_KINDS, MAC_KINDS, Layer
from device_profiles.profile import CostCoefficients, Profile

INVOKE = "invoke"
OVERHEAD = "overhead"


class CoefficientTiming:
    """Cycles = invoke + sum over layers (cycles/MAC x MACs | cycles/element x outputs + overhead),
    x float_slowdown for float32 layers. Coefficients come from the profile (COEFFICIENTS.md)."""

    kind = "coefficients"

    def __init__(self, profile: Profile, note: str = "") -> None:
        self.profile = profile
        self.note = note

    def features(self, layers: Iterable[Layer], invoke: bool = True) -> dict[str, float]:
        slowdown = self.profile.cost.float_slowdown
        feats: dict[str, float] = {INVOKE: 1.0} if invoke else {}
        for layer in layers:
            scale = slowdown if layer.dtype == "float32" else 1.0
            feats[OVERHEAD] = feats.get(OVERHEAD, 0.0) + scale
            if layer.kind in FREE_KINDS:
                continue
            key = f"mac:{layer.kind}" if layer.kind in MAC_KINDS else f"elem:{layer.kind}"
            amount = layer.macs if layer.kind in MAC_KINDS else layer.output_elements
            feats[key] = feats.get(key, 0.0) + scale * amount
        return feats

    def coefficient(self, name: str) -> float:
        c = self.profile.cost
        if name == INVOKE:
            return c.invoke_overhead_cycles
        if name == OVERHEAD:
            return c.layer_overhead_cycles
        kind = name.split(":", 1)[1]
        return c.mac_cost(kind) if name.startswith("mac:") else c.element_cost(kind)

    def knows(self, name: str) -> bool:
        return name in (INVOKE, OVERHEAD) or (name.startswith(("mac:", "elem:")) and len(name) > 5)

    def with_coefficients(self, values: dict[str, float]) -> CoefficientTiming:
        c = self.profile.cost
        per_mac, per_elem = dict(c.cycles_per_mac), dict(c.cycles_per_element)
        invoke, overhead = c.invoke_overhead_cycles, c.layer_overhead_cycles
        for name, v in values.items():
            if name == INVOKE:
                invoke = v
            elif name == OVERHEAD:
                overhead = v
            elif name.startswith("mac:"):
                per_mac[name[4:]] = v
            else:
                per_elem[name[5:]] = v
        cost = CostCoefficients(per_mac, per_elem, overhead, invoke, c.float_slowdown)
        return CoefficientTiming(self.profile.with_cost(cost), self.note)

    def recalibrate(self, samples: Sequence[tuple[Sequence[Layer], float]], prior_weight: float = 0.05,
                    iterations: int = 5) -> CoefficientTiming:
        """Refit from (layers, measured ms): robust least squares on relative error with a prior."""
        from device_profiles.recalibration import refit_coefficients

        values = refit_coefficients(self, samples, prior_weight, iterations)
        return self if values is None else self.with_coefficients(values)

    def describe(self) -> dict[str, Any]:
        src = self.profile.source if self.profile.source and "device_profiles" not in self.profile.source else ""
        name = (f"static cost model: cycle coefficients of {Path(src).name}" if src else
                f"static cost model: catalog cycle coefficients for {self.profile.core} (COEFFICIENTS.md)")
        return {"kind": self.kind, "predictor": name, "cpi": None, "cpi_source": None,
                "note": self.note or None}


class KernelTiming:
    """Cycles = sum over kernel groups g of cycles-per-instruction[g] x predicted instructions[g]
    (+ the interpreter's invoke overhead), on a core with the TFLM instruction model."""

    kind = "tflm-kernels"

    def __init__(self, profile: Profile, core: str, cpi: Any, per_group: dict[str, float] | None = None,
                 scale: float = 1.0, samples: int = 0) -> None:
        from device_profiles.latency import load_predictor

        self.profile = profile
        self.core = core
        self.cpi = cpi                                  # CpiEntry of the core family
        self.predictor = load_predictor(core)
        self.per_group = dict(per_group or {})          # cycles / instruction set by calibration
        self.scale = float(scale)                       # the board's residual on the family CPI
        self.samples = samples

    def features(self, layers: Iterable[Layer], invoke: bool = True) -> dict[str, float]:
        from device_profiles.latency import group_instructions

        layers = list(layers)
        feats = group_instructions(self.predictor, [la for la in layers if la.dtype != "float32"])
        floats = [la for la in layers if la.dtype == "float32"]
        if floats:       # TFLM's float reference kernels, priced as the int8 ones x the profile's slowdown
            slow = group_instructions(self.predictor, floats)
            slow[INVOKE] -= self.predictor.invoke_overhead
            for k, v in slow.items():
                feats[k] = feats.get(k, 0.0) + self.profile.cost.float_slowdown * v
        if not invoke:
            feats[INVOKE] = feats.get(INVOKE, 0.0) - self.predictor.invoke_overhead
        return feats

    def coefficient(self, name: str) -> float:
        """Cycles per instruction of kernel group `name` (the family CPI of that group x the residual)."""
        if name in self.per_group:
            return self.per_group[name]
        return self.scale * float(self.cpi.for_group(name))

    def knows(self, name: str) -> bool:
        return name == INVOKE or name in self.predictor.groups

    def with_coefficients(self, values: dict[str, float]) -> KernelTiming:
        return KernelTiming(self.profile, self.core, self.cpi, {**self.per_group, **values}, self.scale,
                            self.samples)

    def recalibrate(self, samples: Sequence[tuple[Sequence[Layer], float]], prior_weight: float | None = None,
                    iterations: int = 5) -> KernelTiming:
        """Learn the board's residual from (layers, measured ms): a scale on the family CPI (shrunk
        towards it) and per-kernel-group corrections (shrunk towards 1)."""
        from device_profiles.latency import fit_residual_groups

        clock_ms = self.profile.clock_hz / 1000.0
        rows = [(layers, ms * clock_ms) for layers, ms in samples if ms and math.isfinite(ms) and ms > 0]
        if not rows:
            return self
        rows = _without_outliers(rows, [self.cycles_of(layers) for layers, _ in rows])
        catalog = [({g: v * float(self.cpi.for_group(g)) for g, v in self.features(layers).items()}, cycles)
                   for layers, cycles in rows]          # catalog cycles per kernel group
        res = fit_residual_groups(catalog, prior_scale=1.0)
        groups = {g for feats, _ in catalog for g in feats}
        per_group = {g: float(self.cpi.for_group(g)) * res.scale * res.factors.get(g, 1.0) for g in groups}
        return KernelTiming(self.profile, self.core, self.cpi, per_group, res.scale, len(rows))

    def cycles_of(self, layers: Sequence[Layer]) -> float:
        return sum(self.coefficient(k) * v for k, v in self.features(layers).items())

    def describe(self) -> dict[str, Any]:
        fam = self.cpi
        src = "; ".join(fam.sources) if fam.sources else fam.note
        calibrated = f", refit on {self.samples} on-board measurements" if self.samples else ""
        return {"kind": self.kind,
                "predictor": f"TFLM + CMSIS-NN instruction model for {self.core} (device_profiles/latency)",
                "cpi": round(self.scale * fam.cpi, 4), "cpi_family": fam.family,
                "cpi_groups": {g: round(self.scale * v, 4) for g, v in fam.groups.items()},
                "cpi_source": f"{fam.note} [{src}]{calibrated}", "note": None}


def _without_outliers(rows: list, predicted: list[float]) -> list:
    """Drop glitched samples (a throttled run, a mis-read): from 5 samples on, those whose
    measured / predicted ratio is far (> 3 MADs, at least 30 %) from the median ratio in log space."""
    if len(rows) < 5:
        return rows
    logs = [math.log(m / p) if p > 0 else 0.0 for (_, m), p in zip(rows, predicted, strict=True)]
    med = sorted(logs)[len(logs) // 2]
    mad = sorted(abs(x - med) for x in logs)[len(logs) // 2]
    limit = max(math.log(1.3), 3 * 1.4826 * mad)
    return [r for r, x in zip(rows, logs, strict=True) if abs(x - med) <= limit]


def timing_for(profile: Profile) -> KernelTiming | CoefficientTiming:
    """The kernel model where it applies (TFLM runtime, a modelled core, a published CPI), else the
    profile's coefficients with a note saying why."""
    if profile.runtime != "tflm":
        return CoefficientTiming(profile)
    from device_profiles.latency import available_cores, core_of, cpi_for

    core = core_of(profile.core)
    if core is None or core not in available_cores():
        return CoefficientTiming(profile, f"no TFLM instruction model for {profile.core}")
    cpi = cpi_for(profile.core)
    if cpi is None or cpi.cpi is None:
        why = cpi.note if cpi is not None else f"no published TFLM run for {profile.core}"
        return CoefficientTiming(profile, f"{why}: priced with the catalog's cycle coefficients")
    return KernelTiming(profile, core, cpi)

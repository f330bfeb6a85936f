"""Static cost model: latency, energy, flash and RAM of a network on a board, before running it.

Latency is linear in the profile's coefficients, which is what lets the closed loop recalibrate them
from (predicted, measured) pairs by least squares:

    cycles = invoke_overhead
           + sum over layers of  ( cycles_per_mac[kind] * MACs
                                 + cycles_per_element[kind] * output elements
                                 + layer_overhead ) * (float_slowdown if the layer is float32)
    latency_ms = cycles / clock_hz * 1000          energy_mj = latency_ms * active_mw / 1000

Memory: flash = model bytes + flash reserve. RAM on TFLM boards = the exact minimum arena (found with
the tflite-micro interpreter) + RAM reserve; on Linux boards = peak activations + weights + reserve.
Budgets are compared with these totals; a budget that is not set defaults to the board's capacity.
Every figure here is `estimated`; measured figures come from `firmware_bridge`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device_profiles.layers import FREE_KINDS, MAC_KINDS, Layer
from device_profiles.profile import CostCoefficients, Profile

INVOKE = "invoke"
OVERHEAD = "overhead"


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


def _feature_vector(layers: Iterable[Layer], float_slowdown: float) -> dict[str, float]:
    """Coefficient name -> multiplier, so that cycles = sum(coef[name] * feature[name])."""
    feats: dict[str, float] = {INVOKE: 1.0}
    for layer in layers:
        scale = float_slowdown if layer.dtype == "float32" else 1.0
        feats[OVERHEAD] = feats.get(OVERHEAD, 0.0) + scale
        if layer.kind in FREE_KINDS:
            continue
        if layer.kind in MAC_KINDS:
            key = f"mac:{layer.kind}"
            feats[key] = feats.get(key, 0.0) + scale * layer.macs
        else:
            key = f"elem:{layer.kind}"
            feats[key] = feats.get(key, 0.0) + scale * layer.output_elements
    return feats


class CostModel:
    """Prices layers on one board. Immutable: `recalibrate` returns a new model."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    # ---- coefficients as a flat, named vector (the recalibration works on this) -------------------
    def coefficient(self, name: str) -> float:
        c = self.profile.cost
        if name == INVOKE:
            return c.invoke_overhead_cycles
        if name == OVERHEAD:
            return c.layer_overhead_cycles
        kind = name.split(":", 1)[1]
        return c.mac_cost(kind) if name.startswith("mac:") else c.element_cost(kind)

    def with_coefficients(self, values: dict[str, float]) -> CostModel:
        c = self.profile.cost
        per_mac = dict(c.cycles_per_mac)
        per_elem = dict(c.cycles_per_element)
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
        return CostModel(self.profile.with_cost(cost))

    def features(self, layers: Sequence[Layer]) -> dict[str, float]:
        return _feature_vector(layers, self.profile.cost.float_slowdown)

    # ---- latency ----------------------------------------------------------------------------------
    def layer_cycles(self, layer: Layer) -> float:
        feats = _feature_vector([layer], self.profile.cost.float_slowdown)
        feats.pop(INVOKE)
        return sum(self.coefficient(k) * v for k, v in feats.items())

    def layer_latency_ms(self, layer: Layer) -> float:
        return self.layer_cycles(layer) / self.profile.clock_hz * 1000.0

    def latency_ms(self, layers: Sequence[Layer]) -> float:
        feats = self.features(layers)
        return sum(self.coefficient(k) * v for k, v in feats.items()) / self.profile.clock_hz * 1000.0

    def energy_mj(self, latency_ms: float) -> float:
        return latency_ms * self.profile.power.active_mw / 1000.0

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
        """Refit coefficients from (layers, measured latency ms) pairs.

        Least squares on the relative error, robust (Huber weights from the residuals' MAD, by
        iteratively reweighted least squares) once there are >= 5 samples, with a Gaussian prior of
        strength `prior_weight` pulling every coefficient towards its catalog value (relative scale),
        coefficients kept >= 0. Coefficients no sample exercises keep their values.
        """
        import numpy as np

        rows = [(self.features(layers), float(ms)) for layers, ms in samples
                if ms and math.isfinite(ms) and ms > 0]
        if not rows:
            return self
        names = sorted({k for feats, _ in rows for k, v in feats.items() if v > 0})
        prior = np.array([self.coefficient(n) for n in names])
        scale = np.maximum(prior, 1e-3 * max(float(prior.max()), 1.0))
        clock_ms = self.profile.clock_hz / 1000.0
        x = np.array([[feats.get(n, 0.0) for n in names] for feats, _ in rows])
        y = np.array([ms * clock_ms for _, ms in rows])
        # Work in units of the prior (theta = c / scale) so the prior is isotropic.
        a = x * scale / y[:, None]
        target = np.ones(len(rows))
        w = np.ones(len(rows))
        lam = math.sqrt(prior_weight)
        theta = prior / scale
        for _ in range(iterations):
            sw = np.sqrt(w)[:, None]
            lhs = np.vstack([a * sw, lam * np.eye(len(names))])
            rhs = np.concatenate([target * sw[:, 0], lam * prior / scale])
            theta, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
            theta = np.maximum(theta, 0.0)
            resid = a @ theta - target
            # Huber threshold from the residuals' spread (MAD): a shared bias is learned, outliers
            # (a throttled run, a glitch) are down-weighted.
            if len(rows) < 5:
                break
            mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
            delta = max(0.1, 1.345 * mad)
            w = np.where(np.abs(resid) <= delta, 1.0, delta / np.maximum(np.abs(resid), 1e-12))
        return self.with_coefficients(dict(zip(names, (theta * scale).tolist(), strict=True)))

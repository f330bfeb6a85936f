"""What a run learns from its measurements: the board's latency coefficients and the TFLM arena ratio.

Every (layers, measured latency ms) pair refits the board's cost model (least squares, robust, with
a prior towards the catalog; see `device_profiles.cost_model.CostModel.recalibrate`); every built
TFLM model's exact arena over its peak activation bytes corrects the search's RAM rule. Both feed the
next round's QUBO cost tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from device_profiles.cost_model import CostModel
from device_profiles.layers import Layer
from device_profiles.profile import Profile

DEFAULT_ARENA_FACTOR = 1.25   # TFLM arena / peak activation bytes before any model was built
ARENA_MARGIN = 1.02


class Calibration:
    """Latency samples and arena ratios of one run; `cost_model` and `arena_factor` are the refit values."""

    def __init__(self, profile: Profile) -> None:
        self.base = CostModel(profile)
        self.cost_model = self.base
        self.samples: list[tuple[Sequence[Layer], float]] = []
        self.arena_ratios: list[float] = []

    @property
    def arena_factor(self) -> float:
        """The largest arena ratio seen (plus a margin), never below 1; the prior before any."""
        if not self.arena_ratios:
            return DEFAULT_ARENA_FACTOR
        return max(1.0, max(self.arena_ratios) * ARENA_MARGIN)

    def add_latency(self, layers: Sequence[Layer], measured_ms: float) -> None:
        self.samples.append((layers, float(measured_ms)))

    def add_arena(self, arena_bytes: int | None, peak_activation_bytes: float) -> None:
        if arena_bytes and peak_activation_bytes:
            self.arena_ratios.append(float(arena_bytes) / float(peak_activation_bytes))

    def refit(self) -> tuple[dict[str, float], float] | None:
        """Refit the coefficients from every sample; (coefficients used, mean relative error) or None."""
        if not self.samples:
            return None
        cm = self.cost_model = self.base.recalibrate(self.samples)
        errs = [abs(cm.latency_ms(layers) - ms) / ms for layers, ms in self.samples]
        names = sorted({k for layers, _ in self.samples for k in cm.features(layers)})
        return {k: cm.coefficient(k) for k in names}, sum(errs) / len(errs)

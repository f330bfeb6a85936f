"""Timing of the virtual board ("board twin"): what the board's latency model says, plus jitter.

There is one timing model in qnas-edge: `device_profiles.cost_model.CostModel` (on TFLite Micro boards
with a modelled core, the kernel-level instruction model learned from measured TFLM + CMSIS-NN
executions x the core family's CPI / clock). The virtual board reports that model's latency for the
model it runs, with seeded run-to-run jitter, and labels every figure `simulated`; `qnas-edge
estimate` and the search's cost tables call the same model, so they agree with it by construction::

    latency_ms = CostModel(profile).latency_ms(parse_tflite(model).layers) x (1 + jitter)
    jitter     = clip(N(0, jitter_sigma), -3 sigma, +3 sigma)        (seeded RNG, per inference)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from device_profiles.layers import Layer
from device_profiles.profile import Profile

JITTER_SIGMA = 0.006     # relative run-to-run spread of a microcontroller without caches (~0.6 %)


@dataclass
class BoardTwin:
    """Per-inference latency (ms) of a model on a board, with seeded run-to-run jitter."""

    profile: Profile
    layers: list[Layer]
    seed: int = 0
    jitter_sigma: float = JITTER_SIGMA
    _rng: random.Random = field(init=False, repr=False)
    _nominal: float | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def cost_model(self):
        from device_profiles.cost_model import CostModel

        return CostModel(self.profile)

    def nominal_ms(self) -> float:
        """Latency without jitter (ms): the board's latency model."""
        if self._nominal is None:
            self._nominal = self.cost_model.latency_ms(self.layers)
        return self._nominal

    def sample_ms(self) -> float:
        """One inference's latency (ms) including seeded jitter."""
        s = self.jitter_sigma
        j = max(-3 * s, min(3 * s, self._rng.gauss(0.0, s)))
        return self.nominal_ms() * (1.0 + j)

    def breakdown(self) -> list[dict[str, float | str | int]]:
        """Per-layer share of the latency (ms), as `qnas-edge estimate` lists it."""
        cm = self.cost_model
        return [{"index": lay.index, "op": lay.op, "kind": lay.kind, "ms": cm.layer_latency_ms(lay)}
                for lay in self.layers]

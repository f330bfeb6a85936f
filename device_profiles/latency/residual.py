"""Per-board recalibration of the instruction model from a few on-board measurements.

A board runs the same kernels as the emulated core but at its own speed: measured = scale x predicted
instructions, where `scale` absorbs CPI and clock (ms per instruction when measurements are in ms, 1 when
they are instructions) and, less so, kernel groups that run faster or slower than average on that
board (caches, wait states, dual issue). `fit_residual` estimates

    measured ~ scale x sum over groups g of  c_g x predicted_g(layers)          (g includes "invoke")

from (layers, measured) samples: `scale` by the geometric mean of measured / predicted, shrunk towards
`prior_scale` by `prior_weight` pseudo-samples; then the per-group factors `c_g` by ridge regression on
each sample's group shares, shrunk towards 1 by `shrink` (so one or two samples move only the scale).
numpy is imported inside the fit only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from device_profiles.latency.predictor import InstructionPredictor
from device_profiles.layers import Layer

INVOKE = "invoke"
SHRINK = 0.1          # default ridge weight of the per-group factors (tuned on simulated boards)
PRIOR_WEIGHT = 0.01   # default pseudo-samples of the prior scale: (2 % model error / 30 % CPI doubt)^2


def group_instructions(predictor: InstructionPredictor, layers: Iterable[Layer]) -> dict[str, float]:
    """Predicted instructions of one Invoke() split by kernel group (+ "invoke" for the interpreter)."""
    out: dict[str, float] = {}
    n = 0
    for lay in layers:
        p = predictor.explain(lay)
        out[p.group] = out.get(p.group, 0.0) + p.instructions
        n += 1
    out[INVOKE] = predictor.invoke_overhead + predictor.per_layer_overhead * n
    return out


@dataclass(frozen=True)
class Residual:
    """measured ~ scale x sum_g factors.get(g, 1) x predicted_g. `n` samples were fitted."""

    scale: float = 1.0
    factors: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def correct(self, groups: dict[str, float]) -> float:
        """Corrected figure (unit of the samples) from per-group predicted instructions."""
        return self.scale * sum(self.factors.get(g, 1.0) * v for g, v in groups.items())

    def predict(self, predictor: InstructionPredictor, layers: Iterable[Layer]) -> float:
        """Corrected figure (unit of the samples: instructions, cycles or ms) of one Invoke()."""
        return self.correct(group_instructions(predictor, layers))


def fit_residual(samples: Sequence[tuple[Sequence[Layer], float]], predictor: InstructionPredictor,
                 prior_scale: float = 1.0, prior_weight: float = PRIOR_WEIGHT, shrink: float = SHRINK,
                 per_group: bool = True) -> Residual:
    """Fit a board's Residual from (layers, measured) samples (measured in instructions, cycles or ms).

    No samples: Residual(prior_scale). `prior_weight`: pseudo-samples pulling log(scale) to
    log(prior_scale). `shrink`: ridge weight pulling each group factor to 1 (relative units; larger =
    stiffer). `per_group` False fits the scale only."""
    rows = [(group_instructions(predictor, layers), float(m)) for layers, m in samples]
    return fit_residual_groups(rows, prior_scale, prior_weight, shrink, per_group)


def fit_residual_groups(rows: Sequence[tuple[dict[str, float], float]], prior_scale: float = 1.0,
                        prior_weight: float = PRIOR_WEIGHT, shrink: float = SHRINK,
                        per_group: bool = True) -> Residual:
    """`fit_residual` from precomputed (group_instructions(...), measured) rows."""
    rows = [(g, float(m)) for g, m in rows if m > 0 and sum(g.values()) > 0]
    if not rows:
        return Residual(prior_scale, {}, 0)
    logs = [math.log(m / sum(g.values())) for g, m in rows]
    log_scale = (prior_weight * math.log(prior_scale) + sum(logs)) / (prior_weight + len(logs))
    scale = math.exp(log_scale)
    if not per_group or len(rows) < 2:
        return Residual(scale, {}, len(rows))
    import numpy as np

    names = sorted({k for g, _ in rows for k in g})
    shares = np.array([[g.get(k, 0.0) / sum(g.values()) for k in names] for g, _ in rows])
    target = np.array([m / (scale * sum(g.values())) for g, m in rows]) - 1.0
    lhs = shares.T @ shares + shrink * np.eye(len(names))
    delta = np.linalg.solve(lhs, shares.T @ target)
    factors = {k: float(max(1.0 + d, 0.05)) for k, d in zip(names, delta, strict=True)}
    return Residual(scale, factors, len(rows))

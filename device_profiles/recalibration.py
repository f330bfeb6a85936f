"""Refit a board's cycle coefficients from (layers, measured latency ms) pairs — the closed loop's
correction of `CoefficientTiming` (boards priced by per-MAC / per-element coefficients).

Least squares on the relative error, robust (Huber weights from the residuals' MAD, by iteratively
reweighted least squares) once there are >= 5 samples, with a Gaussian prior of strength
`prior_weight` pulling every coefficient towards its catalog value (relative scale), coefficients
kept >= 0. Coefficients no sample exercises keep their values. numpy is imported here only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from device_profiles.layers import Layer


def refit_coefficients(timing: Any, samples: Sequence[tuple[Sequence[Layer], float]], prior_weight: float = 0.05,
                       iterations: int = 5) -> dict[str, float] | None:
    """New coefficient values (cycles per feature unit) by name, or None without usable samples."""
    import numpy as np

    rows = [(timing.features(layers), float(ms)) for layers, ms in samples
            if ms and math.isfinite(ms) and ms > 0]
    if not rows:
        return None
    names = sorted({k for feats, _ in rows for k, v in feats.items() if v > 0})
    prior = np.array([timing.coefficient(n) for n in names])
    scale = np.maximum(prior, 1e-3 * max(float(prior.max()), 1.0))
    clock_ms = timing.profile.clock_hz / 1000.0
    x = np.array([[feats.get(n, 0.0) for n in names] for feats, _ in rows])
    y = np.array([ms * clock_ms for _, ms in rows])
    a = x * scale / y[:, None]            # in units of the prior (theta = c / scale): isotropic prior
    target, w = np.ones(len(rows)), np.ones(len(rows))
    lam = math.sqrt(prior_weight)
    theta = prior / scale
    for _ in range(iterations):
        sw = np.sqrt(w)[:, None]
        lhs = np.vstack([a * sw, lam * np.eye(len(names))])
        rhs = np.concatenate([target * sw[:, 0], lam * prior / scale])
        theta, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
        theta = np.maximum(theta, 0.0)
        resid = a @ theta - target
        if len(rows) < 5:
            break
        # Huber threshold from the residuals' spread: a shared bias is learned, outliers (a throttled
        # run, a glitch) are down-weighted.
        mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
        delta = max(0.1, 1.345 * mad)
        w = np.where(np.abs(resid) <= delta, 1.0, delta / np.maximum(np.abs(resid), 1e-12))
    return dict(zip(names, (theta * scale).tolist(), strict=True))

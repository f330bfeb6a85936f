"""Bayesian second-order surrogate over one-hot features with exact Thompson sampling.

The model is BOCS-style regression on one-hot + pairwise (cross-decision) product features,
``f(x) = c + sum_u w_u x_u + sum_{u<v} q_uv x_u x_v`` with Gaussian priors
``w ~ N(0, s1)``, ``q ~ N(0, s2)``, ``c ~ N(0, s0)`` and Gaussian noise. For one-hot architectures the
feature inner product only depends on ``m``, the number of decisions two architectures share, so the
model is a GP with kernel ``s0 + s1*m + s2*m(m-1)/2``: hyper-parameters are chosen by marginal
likelihood on a small grid (N x N algebra only), and a posterior sample of every weight is drawn
exactly with Matheron's rule (prior draw + data correction), which yields a QUBO directly.

Multi-fidelity: a score from a cheaper evaluation (fewer proxy epochs, float instead of int8) is
modelled as ``f(x) + b_level + noise``, one unknown offset ``b`` per lower fidelity level with a broad
prior (the kernel gains ``level_var`` between observations of the same lower level). The offset is learned from the
architectures scored at two levels (the promoted ones), so a low-fidelity score informs the ranking
without dragging the full-fidelity prediction towards its systematically lower values; samples and the
mean are always of ``f``, the full-fidelity score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .space import Space


@dataclass
class QuadraticModel:
    """``f(idx) = const + sum_j lin[a_j] + sum_{j<k} pair[a_j, a_k]`` on one-hot variables.

    ``pair`` is symmetric with zero blocks within a decision.
    """

    const: float
    lin: np.ndarray
    pair: np.ndarray | None

    def value(self, space: Space, idx: np.ndarray) -> np.ndarray:
        """Model value for rows of choice positions ``(N, J)`` (or one row)."""
        act = np.atleast_2d(np.asarray(idx, dtype=np.int64)) + space.offsets
        out = self.const + self.lin[act].sum(-1)
        if self.pair is not None:
            out = out + 0.5 * self.pair[act[:, :, None], act[:, None, :]].sum((-1, -2))
        return out if np.ndim(idx) > 1 else out[0]


@dataclass(frozen=True)
class Hyper:
    """Prior variances (per architecture: linear part s1*J, pairwise part s2*J(J-1)/2) and noise."""

    s0: float
    s1: float
    s2: float
    noise: float


class BayesianQuadraticSurrogate:
    """Fit on (architecture, score) data; draw Thompson samples or the posterior mean as a QuadraticModel."""

    def __init__(self, space: Space, interactions: bool = True) -> None:
        self.space = space
        self.interactions = interactions
        J = len(space)
        dec = space.var_decision
        self._cross = dec[:, None] != dec[None, :]  # allowed pairwise entries
        self._iu = np.triu_indices(space.n_vars, 1)
        self._iu_keep = self._cross[self._iu]
        self.J = J
        self.X: np.ndarray | None = None
        self.y_mean = 0.0
        self.y_std = 1.0
        amps = (0.3, 1.0, 3.0)
        fracs = (0.0, 0.15, 0.4, 0.7) if interactions and J > 1 else (0.0,)
        noises = (1e-3, 1e-2, 0.05, 0.2)
        npairs = max(1, J * (J - 1) // 2)
        self._grid = [
            Hyper(0.1, a * (1 - f) / J, a * f / npairs, nz) for a in amps for f in fracs for nz in noises
        ]
        self.hyper = Hyper(0.1, 1.0 / J, (0.3 / npairs) if interactions else 0.0, 0.05)
        self._chol: np.ndarray | None = None
        self._nscale = np.ones(0)
        self._level = np.zeros(0, dtype=np.int64)
        self.level_var = 4.0          # prior variance of a fidelity level's offset (standardised units)

    # ------------------------------------------------------------------ fitting
    def _kernel(self, m: np.ndarray, h: Hyper) -> np.ndarray:
        return h.s0 + h.s1 * m + h.s2 * m * (m - 1) / 2.0

    def fit(self, idx: np.ndarray, y: np.ndarray, noise_scale: np.ndarray | None = None,
            level: np.ndarray | None = None) -> None:
        """Condition on rows of choice positions ``idx`` (N, J) with scores ``y`` (N,).

        ``noise_scale`` (N,), >= 1, multiplies each observation's noise variance: low-fidelity scores
        (e.g. after a few proxy epochs) are noisier observations of the full-fidelity score, so they pull
        the posterior less. ``level`` (N,) ints: 0 = full fidelity, k > 0 = the k-th lower fidelity, whose
        scores carry an unknown offset learned with the rest. None = all full fidelity.
        """
        X = np.asarray(idx, dtype=np.int64).reshape(-1, self.J)
        y = np.asarray(y, dtype=float)
        self.X = X
        self._nscale = np.ones(len(y)) if noise_scale is None else np.asarray(noise_scale, dtype=float)
        self._level = np.zeros(len(y), dtype=np.int64) if level is None else np.asarray(level, dtype=np.int64)
        if len(y) == 0:
            self._chol = None
            return
        self.y_mean = float(y.mean())
        sd = float(y.std())
        self.y_std = sd if sd > 1e-12 else 1.0
        self.y = (y - self.y_mean) / self.y_std
        m = (X[:, None, :] == X[None, :, :]).sum(-1).astype(float)
        lv = self._level
        same_level = self.level_var * ((lv[:, None] == lv[None, :]) & (lv[:, None] > 0))
        best, best_ll = None, -np.inf
        for h in self._grid:
            K = self._kernel(m, h) + same_level + np.diag(h.noise * self._nscale)
            try:
                L = np.linalg.cholesky(K)
            except np.linalg.LinAlgError:
                continue
            a = np.linalg.solve(L, self.y)
            ll = -0.5 * a @ a - np.log(np.diag(L)).sum()
            if ll > best_ll:
                best, best_ll = (h, L), ll
        assert best is not None
        self.hyper, self._chol = best

    # ---------------------------------------------------------------- sampling
    def _model(self, rng: np.random.Generator | None, beta: float) -> QuadraticModel:
        sp, h = self.space, self.hyper
        D = sp.n_vars
        use_pair = self.interactions and h.s2 > 0 and self.J > 1
        if rng is not None and beta > 0:
            c0 = beta * rng.normal(0.0, np.sqrt(h.s0))
            w0 = beta * rng.normal(0.0, np.sqrt(h.s1), D)
            if use_pair:
                vals = beta * rng.normal(0.0, np.sqrt(h.s2), len(self._iu[0])) * self._iu_keep
                Q0 = np.zeros((D, D))
                Q0[self._iu] = vals
                Q0 = Q0 + Q0.T
            else:
                Q0 = None
        else:
            c0, w0, Q0 = 0.0, np.zeros(D), (np.zeros((D, D)) if use_pair else None)
        if self._chol is None or self.X is None or len(self.X) == 0:
            return QuadraticModel(float(c0), w0, Q0)
        act = self.X + sp.offsets
        f0 = c0 + w0[act].sum(-1)
        if Q0 is not None:
            f0 = f0 + 0.5 * Q0[act[:, :, None], act[:, None, :]].sum((-1, -2))
        if rng is not None and beta > 0 and self._level.any():   # prior draw of each level's offset
            b0 = beta * rng.normal(0.0, np.sqrt(self.level_var), int(self._level.max()) + 1)
            b0[0] = 0.0
            f0 = f0 + b0[self._level]
        eps = beta * rng.normal(0.0, np.sqrt(h.noise * self._nscale)) if (rng is not None and beta > 0) else 0.0
        r = self.y - f0 - eps
        L = self._chol
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, r))
        c = c0 + h.s0 * alpha.sum()
        w = w0.copy()
        np.add.at(w, act.ravel(), h.s1 * np.repeat(alpha, self.J))
        Q = None
        if Q0 is not None:
            Xo = np.zeros((len(alpha), D))
            np.put_along_axis(Xo, act, 1.0, axis=1)
            Q = Q0 + h.s2 * (Xo.T * alpha) @ Xo * self._cross
            np.fill_diagonal(Q, 0.0)
        return QuadraticModel(float(c), w, Q)

    def sample(self, rng: np.random.Generator, beta: float = 1.0) -> QuadraticModel:
        """Thompson sample (standardised units); ``beta`` < 1 shrinks it towards the posterior mean."""
        return self._model(rng, beta)

    def mean(self) -> QuadraticModel:
        """Posterior mean (standardised units)."""
        return self._model(None, 0.0)

"""QUBO-based search: Thompson-sampled quadratic surrogate + budget penalties, sampled by annealing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import Key, Strategy
from .constraints import RawCostTables
from .encoding import build_bqm, decode, onehot_groups, onehot_penalty
from .samplers import resolve_sampler
from .space import Space
from .surrogate import BayesianQuadraticSurrogate, QuadraticModel


class QuboSearch(Strategy):
    """Ask/tell search whose proposals come from annealing a QUBO.

    Each proposal: draw a Thompson sample of the Bayesian second-order surrogate (a quadratic function
    of the one-hot variables), add the soft terms ``-(b*latency + c*size + ...)`` and Lagrangian budget
    penalties (multipliers adapted between asks), add one-hot penalties, sample the BQM with the chosen
    sampler, decode, repair infeasible samples greedily, polish with single-decision moves that keep
    every budget, and return the best untold architecture. Budgets are checked exactly on the decoded
    architecture, so every proposal meets them. Before ``n_init`` observations exist the proposals are a
    space-filling (max-min Hamming distance) design over random feasible architectures.

    ``exploration`` scales the Thompson sample's deviation from the posterior mean (1 = plain Thompson
    sampling, 0 = greedy on the mean); ``n_init`` is the size of the initial design.

    ``weights``: ``{"error": a, metric: b, ...}`` gives the objective ``C = a*error + b*metric + ...``
    (error = -score, in score units; ``a`` defaults to 1).

    Trust region (TuRBO-style exploitation around the incumbent): once the surrogate is *confident* —
    at least ``tr_after`` tells, i.e. the initial design plus enough data for the marginal-likelihood
    fit to be informed — a fraction ``trust_region`` of the proposals (every 1/fraction-th ask when asking
    one at a time) is the best point of the Thompson sample inside the Hamming ball of radius
    ``tr_radius`` (number of decisions changed) around the incumbent, the told feasible architecture
    with the best posterior mean. The ball is sampled directly and polished with in-ball moves, since
    for radii of a few decisions that is exact and cheaper than a cardinality penalty in the QUBO.
    The radius halves after ``tr_fail_tol`` consecutive local proposals that do not beat the incumbent's
    score, doubles (up to ``tr_max_radius``) after ``tr_succ_tol`` consecutive ones that do, and
    restarts at the maximum radius when it reaches 0. ``trust_region=0`` turns it off. Local proposals
    use their own Thompson sample scaled by ``tr_exploration`` (default: ``exploration``). The remaining
    proposals are global QUBO proposals. Scores told with ``fidelity < 1`` enter the surrogate with
    noise variance inflated by ``1/fidelity`` and an offset per fidelity level learned from the
    architectures told at more than one (see ``surrogate``); every (architecture, fidelity) score is kept.
    """

    def __init__(
        self,
        space: Space,
        costs: RawCostTables | None = None,
        budgets: Mapping[str, float] | None = None,
        seed: int | None = None,
        base_costs: Mapping[str, float] | None = None,
        weights: Mapping[str, float] | None = None,
        sampler: Any = "neal",
        n_init: int | None = None,
        num_reads: int = 8,
        exploration: float = 0.25,
        interactions: bool = True,
        sampler_kwargs: Mapping[str, Any] | None = None,
        trust_region: float = 0.0,
        tr_after: int = 10,
        tr_radius: int | None = None,
        tr_max_radius: int | None = None,
        tr_fail_tol: int = 3,
        tr_succ_tol: int = 2,
        tr_exploration: float | None = None,
    ) -> None:
        super().__init__(space, costs, budgets, seed, base_costs)
        self.weights = self._parse_weights(weights)
        self.sampler = resolve_sampler(sampler, space.n_vars, **dict(sampler_kwargs or {}))
        self.surrogate = BayesianQuadraticSurrogate(space, interactions=interactions)
        self.n_init = int(n_init) if n_init is not None else 4
        if num_reads < 1:
            raise ValueError("num_reads must be >= 1")
        if not (math.isfinite(exploration) and exploration >= 0):
            raise ValueError(f"exploration must be a finite number >= 0, got {exploration!r}")
        self.num_reads = int(num_reads)
        self.exploration = float(exploration)
        if isinstance(trust_region, bool):
            trust_region = 0.5 if trust_region else 0.0
        if not (0.0 <= float(trust_region) <= 1.0):
            raise ValueError(f"trust_region must be a fraction in [0, 1], got {trust_region!r}")
        self.trust_region = float(trust_region)
        self.tr_after = max(int(tr_after), self.n_init)
        self.tr_max_radius = int(tr_max_radius) if tr_max_radius is not None else max(1, (len(space) + 1) // 2)
        self.tr_radius = int(tr_radius) if tr_radius is not None else max(1, self.tr_max_radius // 2)
        if not (1 <= self.tr_radius <= self.tr_max_radius):
            raise ValueError("need 1 <= tr_radius <= tr_max_radius")
        self.tr_fail_tol, self.tr_succ_tol = int(tr_fail_tol), int(tr_succ_tol)
        self.tr_exploration = self.exploration if tr_exploration is None else float(tr_exploration)
        self._tr_credit = 0.0
        self._tr_fails = self._tr_succs = 0
        self._local: dict[Key, float] = {}  # local proposal -> incumbent score when it was proposed
        self.local_proposals = 0
        self.lam = np.zeros(len(self.tables.metrics))
        self.last_bqm = None
        self._fitted_version: tuple[int, int] | None = None
        self._version = 0

    def _parse_weights(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        out = {"error": 1.0}
        for k, v in dict(weights or {}).items():
            if k != "error" and k not in self.tables.metrics:
                raise ValueError(f"weight given for {k!r}, which is neither 'error' nor a metric with a cost table")
            x = float(v)
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"weight for {k!r} must be a finite number >= 0, got {v!r}")
            out[k] = x
        return out

    # ----------------------------------------------------------------- model
    def _on_tell(self, key: Key, score: float, first: bool) -> None:
        self._version += 1
        ref = self._local.pop(key, None)
        if ref is None:
            return
        if score > ref:
            self._tr_succs, self._tr_fails = self._tr_succs + 1, 0
        else:
            self._tr_succs, self._tr_fails = 0, self._tr_fails + 1
        if self._tr_succs >= self.tr_succ_tol:
            self.tr_radius, self._tr_succs = min(2 * self.tr_radius, self.tr_max_radius), 0
        elif self._tr_fails >= self.tr_fail_tol:
            self.tr_radius, self._tr_fails = self.tr_radius // 2, 0
            if self.tr_radius == 0:  # collapsed: restart from the widest region
                self.tr_radius = self.tr_max_radius

    def _refit(self) -> None:
        version = (self._version, len(self.observed))
        if self._fitted_version == version:
            return
        pairs = list(self.observed)
        lower = sorted({f for _, f in pairs if f < 1.0}, reverse=True)   # level 1 = the highest below full
        self.surrogate.fit(
            np.array([k for k, _ in pairs], dtype=np.int64).reshape(-1, len(self.space)),
            [self.observed[p] for p in pairs],
            noise_scale=[1.0 / f for _, f in pairs],
            level=[0 if f >= 1.0 else 1 + lower.index(f) for _, f in pairs],
        )
        self._fitted_version = version

    def incumbent(self) -> Key | None:
        """Told feasible architecture with the best posterior mean (robust to noisy scores), or None."""
        feas = [k for k in self.history if self.tables.feasible(k)]
        if not feas:
            return None
        self._refit()
        vals = self.surrogate.mean().value(self.space, np.array(feas, dtype=np.int64))
        return feas[int(np.argmax(vals))]

    def predict(self, arch: Mapping[str, Any]) -> float:
        """Posterior-mean score of ``arch`` (in score units)."""
        self._refit()
        m = self.surrogate.mean()
        v = m.value(self.space, np.array(self.space.encode(arch)))
        return float(self.surrogate.y_mean + self.surrogate.y_std * v)

    def _acquisition(self, model: QuadraticModel) -> tuple[np.ndarray, np.ndarray | None]:
        """Objective to maximise, as (linear, symmetric pairwise) terms on one-hot variables."""
        a = self.weights["error"]
        lin = a * model.lin
        pair = None if model.pair is None else a * model.pair
        cm = self.tables
        for mi, m in enumerate(cm.metrics):
            b = self.weights.get(m, 0.0)
            if b:
                lin = lin - b * cm.unary[mi] / self.surrogate.y_std
                if cm.pair is not None:
                    soft = b * cm.pair[mi] / self.surrogate.y_std
                    pair = -soft if pair is None else pair - soft
        return lin, pair

    # ------------------------------------------------------------------ asks
    def _ask(self, n: int) -> list[Key]:
        self._refit()
        out: list[Key] = []
        if len(self.history) < self.n_init:
            out = self._initial_design(min(n, self.n_init - len(self.history)))
        while len(out) < n:
            model = self.surrogate.sample(self.rng, self.exploration)
            lin, pair = self._acquisition(model)
            k = None
            if self.trust_region > 0 and len(self.history) >= self.tr_after:
                self._tr_credit += self.trust_region
                if self._tr_credit >= 1.0 - 1e-9:
                    self._tr_credit -= 1.0
                    if self.tr_exploration != self.exploration:
                        lin_l, pair_l = self._acquisition(self.surrogate.sample(self.rng, self.tr_exploration))
                    else:
                        lin_l, pair_l = lin, pair
                    k = self._local_proposal(lin_l, pair_l, self._taken(set(out)))
            if k is None:
                k = self._optimise(lin, pair, self._taken(set(out)))
            if k is None:
                break
            out.append(k)
        return out

    # ----------------------------------------------------------- trust region
    def _local_proposal(self, lin: np.ndarray, pair: np.ndarray | None, taken: set[Key]) -> Key | None:
        """Best untold feasible point of the acquisition within Hamming distance ``tr_radius`` of the incumbent."""
        inc = self.incumbent()
        if inc is None:
            return None
        sp, r = self.space, self.tr_radius
        J, sizes = len(sp), np.array([len(d.choices) for d in sp.decisions])
        c = np.array(inc, dtype=np.int64)
        m = 512
        rows = np.repeat(c[None, :], m, 0)
        d = self.rng.integers(1, r + 1, m)  # number of decisions changed
        pri = self.rng.random((m, J))
        pri[:, sizes < 2] = 2.0  # decisions with one choice cannot change
        rank = np.argsort(np.argsort(pri, 1), 1)
        change = rank < d[:, None]
        shift = self.rng.integers(1, np.maximum(sizes, 2)[None, :], (m, J))  # to a different choice
        rows = np.where(change & (sizes[None, :] > 1), (rows + shift) % sizes[None, :], rows)
        rows = np.unique(rows[self.tables.feasible(rows)], axis=0)
        cands = [tuple(int(v) for v in row) for row in rows]
        cands = [k for k in cands if k not in taken]
        if not cands:
            return None
        vals = self._value(cands, lin, pair)
        top = [cands[i] for i in np.argsort(-vals)[:4]]
        polished = {self._polish(k, lin, pair, centre=c, radius=r) for k in top}
        fresh = [k for k in polished if k not in taken] or top
        best = fresh[int(np.argmax(self._value(fresh, lin, pair)))]
        ref = self.history.get(inc, -np.inf)
        self._local[best] = ref
        self.local_proposals += 1
        return best

    def _initial_design(self, n: int) -> list[Key]:
        pool = self._random_feasible(max(32, 8 * n), set())
        chosen: list[Key] = []
        ref = np.array(list(self.history) + list(self.pending), dtype=np.int64).reshape(-1, len(self.space))
        P = np.array(pool, dtype=np.int64).reshape(-1, len(self.space))
        dmin = np.full(len(P), len(self.space) + 1.0)
        if len(ref):
            dmin = (P[:, None, :] != ref[None, :, :]).sum(-1).min(1).astype(float)
        for _ in range(min(n, len(P))):
            i = int(np.argmax(dmin + 1e-3 * self.rng.random(len(P))))
            chosen.append(pool[i])
            dmin = np.minimum(dmin, (P != P[i]).sum(-1))
            dmin[i] = -1.0
        return chosen

    def _moves(self, cur: np.ndarray, lin: np.ndarray, pair: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Objective change and feasibility of every single-decision change of ``cur`` (per variable)."""
        sp, cm = self.space, self.tables
        act = sp.offsets + cur
        g = lin if pair is None else lin + pair[:, act].sum(1)
        curvar = act[sp.var_decision]
        dacq = g - g[curvar]
        G = cm.gains(act)
        new_cost = cm.evaluate(cur)[:, None] + G - G[:, curvar]
        feas = np.all((new_cost <= cm._cap[:, None]) | ~cm.budgeted[:, None], axis=0)
        return dacq, feas

    def _polish(self, key: Key, lin: np.ndarray, pair: np.ndarray | None,
                centre: np.ndarray | None = None, radius: int = 0) -> Key:
        """Best-improvement local search over single-decision changes that keep every budget
        (and, given ``centre``, stay within Hamming distance ``radius`` of it)."""
        sp = self.space
        cur = np.array(key, dtype=np.int64)
        for _ in range(3 * len(sp)):
            dacq, feas = self._moves(cur, lin, pair)
            if centre is not None:
                dist = int((cur != centre).sum())
                j = sp.var_decision
                to_centre = (np.arange(sp.n_vars) - sp.offsets[j]) == centre[j]
                moved = cur[j] != centre[j]  # decision already changed: any move keeps or cuts the distance
                feas = feas & (moved | to_centre | (dist < radius))
            dacq = np.where(feas, dacq, -np.inf)
            v = int(np.argmax(dacq))
            if not dacq[v] > 1e-12:
                break
            j = int(sp.var_decision[v])
            cur[j] = v - sp.offsets[j]
        return tuple(int(c) for c in cur)

    def _value(self, keys: list[Key], lin: np.ndarray, pair: np.ndarray | None) -> np.ndarray:
        return QuadraticModel(0.0, lin, pair).value(self.space, np.array(keys, dtype=np.int64).reshape(len(keys), -1))

    def _optimise(self, lin: np.ndarray, pair: np.ndarray | None, taken: set[Key]) -> Key | None:
        sp, cm = self.space, self.tables
        scale = float(np.abs(lin).max()) + 1e-12
        e_lin = -lin.copy()
        e_pair = None if pair is None else -pair
        for mi in np.flatnonzero(cm.budgeted):
            if self.lam[mi] > 0:
                e_lin += self.lam[mi] * scale * cm.unary[mi] / cm.scale[mi] * len(sp)
                if cm.pair is not None:
                    pen = self.lam[mi] * scale * cm.pair[mi] / cm.scale[mi] * len(sp)
                    e_pair = pen if e_pair is None else e_pair + pen
        bqm = build_bqm(sp, e_lin, e_pair, onehot_penalty(sp, e_lin, e_pair))
        self.last_bqm = bqm
        samples = self.sampler.sample(bqm, self.rng, self.num_reads, groups=onehot_groups(sp))
        rows = np.unique(decode(sp, samples, e_lin), axis=0)
        costs = cm.evaluate(rows)
        over = (costs > cm._cap) & cm.budgeted
        frac = over.mean(0)
        for mi in np.flatnonzero(cm.budgeted):
            if frac[mi] > 0.5:
                self.lam[mi] = max(2.0 * self.lam[mi], 0.05)
            elif frac[mi] == 0:
                self.lam[mi] *= 0.7
        cands: set[Key] = set()
        for r, bad in zip(rows, over.any(1), strict=True):
            k = cm.repair(r, acq=lin, acq_pair=pair, rng=self.rng) if bad else tuple(int(c) for c in r)
            if k is not None:
                cands.add(self._polish(k, lin, pair))
        fresh = [k for k in cands if k not in taken]
        if fresh:
            vals = self._value(fresh, lin, pair)
            return fresh[int(np.argmax(vals))]
        # every local optimum was already evaluated: best untold feasible neighbour of one of them
        best, best_val = None, -np.inf
        for k in cands:
            cur = np.array(k, dtype=np.int64)
            dacq, feas = self._moves(cur, lin, pair)
            order = np.argsort(-np.where(feas, dacq, -np.inf))
            for v in order[: 4 * len(sp)]:
                if not feas[v]:
                    break
                j = int(sp.var_decision[v])
                if v == sp.offsets[j] + cur[j]:
                    continue
                nb = list(k)
                nb[j] = int(v - sp.offsets[j])
                t = tuple(nb)
                if t not in taken:
                    val = float(self._value([k], lin, pair)[0] + dacq[v])
                    if val > best_val:
                        best, best_val = t, val
                    break
        if best is not None:
            return best
        found, _ = cm.search_feasible(mode="pref", pref=lin, rng=self.rng, exclude=taken, node_limit=200_000)
        return found[0] if found else None

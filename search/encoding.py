"""One-hot QUBO encoding of a categorical space and decoding of samples back to architectures."""

from __future__ import annotations

import dimod
import numpy as np

from .space import Decision, Space


def onehot_penalty(space: Space, lin: np.ndarray, pair: np.ndarray | None) -> float:
    """Smallest one-hot penalty that makes every valid one-hot state beat adding a second choice.

    For each variable: its linear term plus the largest coupling it can have to each other decision.
    """
    bound = np.abs(lin).copy()
    if pair is not None:
        absq = np.abs(pair)
        for j in range(len(space)):
            o, s = int(space.offsets[j]), int(space.sizes[j])
            bound += absq[:, o : o + s].max(1)
    return float(max(bound.max(), 1e-6))


def onehot_groups(space: Space) -> list[list[int]]:
    """Variables of each decision (one list per decision): exactly one of each must be 1."""
    return [list(range(int(o), int(o) + int(s))) for o, s in zip(space.offsets, space.sizes, strict=True)]


def random_architecture_bqm(decisions: int, choices: int, seed: int) -> tuple[Space, dimod.BinaryQuadraticModel]:
    """A seeded random architecture QUBO (the sampler tests' and benchmarks' reference instances).

    `decisions` one-hot groups of `choices` variables; Gaussian N(0, 1) linear terms and couplings between
    variables of different decisions, plus the one-hot penalties `QuboSearch` would add.
    """
    rng = np.random.default_rng(seed)
    sp = Space([Decision(f"d{j}", list(range(choices))) for j in range(decisions)])
    n = sp.n_vars
    lin = rng.normal(size=n)
    pair = rng.normal(size=(n, n))
    pair = (pair + pair.T) / 2 * (sp.var_decision[:, None] != sp.var_decision[None, :])
    return sp, build_bqm(sp, lin, pair, onehot_penalty(sp, lin, pair))


def build_bqm(
    space: Space, lin: np.ndarray, pair: np.ndarray | None, penalty: float
) -> dimod.BinaryQuadraticModel:
    """BQM minimising ``lin.x + x^T pair x / 2 + penalty * sum_j (sum_{v in j} x_v - 1)^2``.

    ``pair`` is symmetric with zero diagonal; variables are labelled 0..D-1.
    """
    D = space.n_vars
    h = np.asarray(lin, dtype=float) - penalty
    rows, cols, vals = [], [], []
    if pair is not None:
        iu = np.triu_indices(D, 1)
        q = pair[iu]
        nz = q != 0
        rows.append(iu[0][nz])
        cols.append(iu[1][nz])
        vals.append(q[nz])
    for j in range(len(space)):
        o, s = int(space.offsets[j]), int(space.sizes[j])
        if s > 1:
            a, b = np.triu_indices(s, 1)
            rows.append(a + o)
            cols.append(b + o)
            vals.append(np.full(len(a), 2.0 * penalty))
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        h, (r, c, v), penalty * len(space), dimod.BINARY, variable_order=list(range(D))
    )
    return bqm


def decode(space: Space, samples: np.ndarray, lin: np.ndarray) -> np.ndarray:
    """0/1 samples ``(R, D)`` -> choice positions ``(R, J)``.

    A decision with exactly one active variable takes it; with none or several, the candidate
    (active ones, else all) with the lowest linear energy ``lin`` wins.
    """
    S = np.asarray(samples)
    out = np.zeros((S.shape[0], len(space)), dtype=np.int64)
    for j in range(len(space)):
        o, s = int(space.offsets[j]), int(space.sizes[j])
        block = S[:, o : o + s].astype(float)
        cnt = block.sum(1)
        key = np.where(block > 0, 0.0, 1e9) + lin[o : o + s][None, :]
        key = np.where(cnt[:, None] == 0, lin[o : o + s][None, :], key)
        out[:, j] = np.argmin(key, axis=1)
    return out

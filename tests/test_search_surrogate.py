"""The Bayesian second-order surrogate and QUBO search efficiency on a planted quadratic."""

import itertools

import numpy as np

from search import BayesianQuadraticSurrogate, Decision, QuboSearch, RandomSearch, Space


def planted(seed, J=8, C=3, n_pairs=6):
    rng = np.random.default_rng(seed)
    sp = Space([Decision(f"d{j}", list(range(C))) for j in range(J)])
    W = rng.normal(size=(J, C))
    pairs = {(i, k): rng.normal(0, 1.5, (C, C)) for i, k in itertools.combinations(range(J), 2)}
    keep = list(pairs)[:: max(1, len(pairs) // n_pairs)][:n_pairs]
    P = {k: pairs[k] for k in keep}

    def f(idx):
        return float(sum(W[j, c] for j, c in enumerate(idx)) + sum(M[idx[i], idx[k]] for (i, k), M in P.items()))

    return sp, f


def test_posterior_mean_learns_a_quadratic():
    sp, f = planted(0)
    rng = np.random.default_rng(1)
    X = sp.random_index(rng, 150)
    y = np.array([f(tuple(r)) for r in X])
    s = BayesianQuadraticSurrogate(sp)
    s.fit(X, y)
    Xt = sp.random_index(np.random.default_rng(2), 300)
    yt = np.array([f(tuple(r)) for r in Xt])
    pred = s.y_mean + s.y_std * s.mean().value(sp, Xt)
    assert np.corrcoef(pred, yt)[0, 1] > 0.9
    assert s.hyper.s2 > 0  # interactions were detected by marginal likelihood
    thompson = s.y_mean + s.y_std * s.sample(np.random.default_rng(3)).value(sp, Xt)
    assert 0.5 < np.corrcoef(thompson, yt)[0, 1] < np.corrcoef(pred, yt)[0, 1] + 1e-9


def test_qubo_beats_random_search_on_planted_quadratic():
    gaps = []
    for seed in range(6):
        sp, f = planted(10 + seed)
        allv = np.array([f(idx) for idx in itertools.product(*[range(s) for s in sp.sizes])])
        opt, med = allv.max(), np.median(allv)
        found = {}
        for cls in (QuboSearch, RandomSearch):
            eng = cls(sp, seed=seed)
            best = -np.inf
            for _ in range(50):
                for a in eng.ask(1):
                    v = f(sp.encode(a))
                    eng.tell(a, v)
                    best = max(best, v)
            found[cls.__name__] = (opt - best) / (opt - med)  # normalised regret
        gaps.append(found)
    q = np.array([g["QuboSearch"] for g in gaps])
    r = np.array([g["RandomSearch"] for g in gaps])
    print(q.round(3), r.round(3))
    assert (q < r).sum() >= 5, (q, r)
    assert np.median(q) < 0.4 * np.median(r), (q, r)

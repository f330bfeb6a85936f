"""Ask/tell behaviour shared by QuboSearch and the baselines (property tests with hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import (
    QIEA,
    CostTables,
    Decision,
    InfeasibleBudgetError,
    QuboSearch,
    RandomSearch,
    RegularizedEvolution,
    Space,
)

ALL = [QuboSearch, RandomSearch, RegularizedEvolution, QIEA]


def make_problem(seed, n_dec, max_choices, n_metrics, tightness, pairwise):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_choices + 1, n_dec)
    sp = Space([Decision(f"d{j}", [f"c{c}" for c in range(s)]) for j, s in enumerate(sizes)])
    costs = {}
    for m in range(n_metrics):
        t = {(d.name, c): float(rng.uniform(0.5, 10)) for d in sp for c in d.choices}
        if pairwise and n_dec > 1:
            for _ in range(3):
                i, j = rng.choice(n_dec, 2, replace=False)
                t[((f"d{i}", f"c{rng.integers(sizes[i])}"), (f"d{j}", f"c{rng.integers(sizes[j])}"))] = float(
                    rng.uniform(-2, 4)
                )
        costs[f"m{m}"] = t
    cm = CostTables(sp, costs)
    samples = cm.evaluate(sp.random_index(rng, 400))
    mins = np.array([mn.value for mn in cm.minima()])
    budgets = {m: float(mins[i] + tightness * (np.quantile(samples[:, i], 0.9) - mins[i]) + 1e-6)
               for i, m in enumerate(cm.metrics)}
    return sp, costs, budgets


def run(cls, sp, costs, budgets, seed, rounds=4, batch=3, **kw):
    eng = cls(sp, costs=costs, budgets=budgets, seed=seed, **kw)
    w = np.random.default_rng(seed).normal(size=sp.n_vars)
    proposed = []
    for _ in range(rounds):
        b = eng.ask(batch)
        proposed.append(b)
        for a in b:
            eng.tell(a, float(w[sp.active_vars(sp.encode(a))].sum()))
    return eng, proposed


@pytest.mark.parametrize("cls", ALL)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_dec=st.integers(1, 6),
    max_choices=st.integers(1, 4),
    n_metrics=st.integers(1, 3),
    tightness=st.floats(0.05, 1.0),
    pairwise=st.booleans(),
)
def test_every_proposal_is_valid_feasible_and_new(cls, seed, n_dec, max_choices, n_metrics, tightness, pairwise):
    sp, costs, budgets = make_problem(seed, n_dec, max_choices, n_metrics, tightness, pairwise)
    cm = CostTables(sp, costs, budgets)
    feasible_count = int(sum(cm.feasible(np.array(k)) for k in np.ndindex(*sp.sizes)))
    if feasible_count == 0:
        with pytest.raises(InfeasibleBudgetError, match="Minimum achievable"):
            cls(sp, costs=costs, budgets=budgets, seed=seed)
        return
    eng, proposed = run(cls, sp, costs, budgets, seed)
    flat = [a for b in proposed for a in b]
    keys = [sp.encode(a) for a in flat]  # raises if not one-of-each in the space
    assert all(set(a) == set(sp.names) for a in flat)
    assert len(set(keys)) == len(keys), "duplicate proposal"
    assert all(cm.feasible(np.array(k)) for k in keys), "infeasible proposal"
    # batches are full unless the feasible set has been used up
    assert len(flat) == min(feasible_count, 12)


@pytest.mark.parametrize("cls", ALL)
def test_deterministic_by_seed(cls):
    sp, costs, budgets = make_problem(5, 6, 4, 3, 0.8, True)
    _, a = run(cls, sp, costs, budgets, seed=42, rounds=5)
    _, b = run(cls, sp, costs, budgets, seed=42, rounds=5)
    _, c = run(cls, sp, costs, budgets, seed=43, rounds=5)
    assert a == b
    assert a != c


@pytest.mark.parametrize("cls", ALL)
def test_tell_duplicate_updates_and_external_archs(cls):
    sp, costs, budgets = make_problem(1, 4, 3, 2, 0.9, False)
    eng = cls(sp, costs=costs, budgets=budgets, seed=0)
    arch = eng.ask(1)[0]
    eng.tell(arch, 1.0)
    eng.tell(arch, 0.25)
    assert len(eng.observations) == 1 and eng.observations[0].score == 0.25
    outside_proposals = {"d0": "c0", "d1": "c0", "d2": "c0", "d3": "c0"}
    eng.tell(outside_proposals, 0.5)  # not proposed by ask: accepted
    assert len(eng.history) == 2
    for a in eng.ask(3):
        assert sp.encode(a) not in eng.history


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    "arch, score, msg",
    [
        ({"d0": "c0", "d1": "c0", "d2": "c0"}, math.nan, "NaN/inf"),
        ({"d0": "c0", "d1": "c0", "d2": "c0"}, math.inf, "NaN/inf"),
        ({"d0": "c0", "d1": "c0", "d2": "c0"}, "high", "must be a number"),
        ({"d0": "c0", "d1": "c0", "d2": "zz"}, 1.0, "unknown choice 'zz'"),
        ({"d0": "c0", "d1": "c0"}, 1.0, "missing decision 'd2'"),
        ({"d0": "c0", "d1": "c0", "d2": "c0", "q": 1}, 1.0, "unknown decision 'q'"),
    ],
)
def test_bad_tell(cls, arch, score, msg):
    sp = Space([Decision(f"d{j}", ["c0", "c1"]) for j in range(3)])
    eng = cls(sp, seed=0)
    with pytest.raises(ValueError, match=msg):
        eng.tell(arch, score)


@pytest.mark.parametrize("cls", ALL)
def test_bad_ask(cls):
    eng = cls(Space([Decision("a", [1, 2])]), seed=0)
    for n in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            eng.ask(n)


@pytest.mark.parametrize("cls", ALL)
def test_tiny_space_exhausts_without_hanging(cls):
    sp = Space([Decision("a", [1, 2]), Decision("b", [1, 2])])
    costs = {"lat": {("a", 1): 1.0, ("a", 2): 2.0, ("b", 1): 1.0, ("b", 2): 2.0}}
    eng = cls(sp, costs=costs, budgets={"lat": 3.0}, seed=0)  # 3 of the 4 archs fit
    got = eng.ask(10)
    assert len(got) == 3 and all(eng.is_feasible(a) for a in got)
    for a in got:
        eng.tell(a, 0.0)
    assert eng.ask(2) == []


@pytest.mark.parametrize("cls", ALL)
def test_set_costs_applies_to_next_ask(cls):
    sp, costs, budgets = make_problem(9, 6, 4, 2, 0.8, True)
    eng = cls(sp, costs=costs, budgets=budgets, seed=0)
    for a in eng.ask(4):
        eng.tell(a, 1.0)
    doubled = {m: {k: 2 * v for k, v in t.items()} for m, t in costs.items()}
    new_budgets = {m: 2.0 * b for m, b in budgets.items()}
    eng.set_costs(doubled, budgets=new_budgets)
    cm = CostTables(sp, doubled, new_budgets)
    for _ in range(3):
        for a in eng.ask(3):
            assert cm.feasible(np.array(sp.encode(a)))
            eng.tell(a, 0.5)
    with pytest.raises(ValueError, match="no architecture meets"):
        eng.set_costs({m: {k: 100 * v for k, v in t.items()} for m, t in costs.items()})


def test_weights_soft_cost_term_steers_qubo():
    # score is flat; a soft latency weight must make QUBO prefer the fastest architecture
    sp = Space([Decision(f"d{j}", ["slow", "mid", "fast"]) for j in range(5)])
    lat = {(f"d{j}", c): v for j in range(5) for c, v in zip(["slow", "mid", "fast"], [3.0, 2.0, 1.0], strict=False)}
    eng = QuboSearch(sp, costs={"lat": lat}, weights={"lat": 1.0}, seed=0, n_init=3, exploration=0.0)
    for a in eng.ask(3):
        eng.tell(a, 0.0)
    best = eng.ask(1)[0]
    assert all(v == "fast" for v in best.values())
    with pytest.raises(ValueError, match="weight given for 'energy'"):
        QuboSearch(sp, costs={"lat": lat}, weights={"energy": 1.0})
    with pytest.raises(ValueError, match="weight for 'lat'"):
        QuboSearch(sp, costs={"lat": lat}, weights={"lat": math.nan})

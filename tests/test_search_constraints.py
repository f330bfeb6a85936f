"""Cost tables, exact minima, feasibility and infeasible-budget detection."""

import itertools
import math

import numpy as np
import pytest

from search import CostTables, Decision, InfeasibleBudgetError, QuboSearch, Space


def small_space(sizes=(3, 2, 4)):
    return Space([Decision(f"d{j}", [f"c{c}" for c in range(s)]) for j, s in enumerate(sizes)])


def table(space, rng, lo=1.0, hi=10.0):
    return {(d.name, c): float(rng.uniform(lo, hi)) for d in space for c in d.choices}


def all_archs(space):
    return np.array(list(itertools.product(*[range(s) for s in space.sizes])))


def brute(cm, space):
    return cm.evaluate(all_archs(space))


def test_evaluate_matches_definition_with_pairwise_terms():
    rng = np.random.default_rng(0)
    sp = small_space()
    t = table(sp, rng)
    t[(("d0", "c1"), ("d2", "c3"))] = 5.0
    t[(("d1", "c0"), ("d0", "c1"))] = -2.0
    cm = CostTables(sp, {"lat": t}, {"lat": 100.0}, base_costs={"lat": 1.5})
    arch = {"d0": "c1", "d1": "c0", "d2": "c3"}
    want = 1.5 + t[("d0", "c1")] + t[("d1", "c0")] + t[("d2", "c3")] + 5.0 - 2.0
    assert cm.evaluate(sp.encode(arch))[0] == pytest.approx(want)
    other = {"d0": "c0", "d1": "c0", "d2": "c3"}
    assert cm.evaluate(sp.encode(other))[0] == pytest.approx(1.5 + t[("d0", "c0")] + t[("d1", "c0")] + t[("d2", "c3")])


@pytest.mark.parametrize("seed", range(5))
def test_minima_exact_with_pairwise(seed):
    rng = np.random.default_rng(seed)
    sp = small_space((3, 3, 2, 3, 2))
    costs = {"a": table(sp, rng), "b": table(sp, rng)}
    for _ in range(6):
        i, j = rng.choice(len(sp), 2, replace=False)
        key = ((f"d{i}", f"c{rng.integers(sp.sizes[i])}"), (f"d{j}", f"c{rng.integers(sp.sizes[j])}"))
        costs["a"][key] = float(rng.normal(0, 4))
    cm = CostTables(sp, costs, {"a": 1e9})
    mins = {m.metric: m for m in cm.minima()}
    allc = brute(cm, sp)
    assert mins["a"].exact and mins["a"].value == pytest.approx(allc[:, 0].min())
    assert mins["b"].value == pytest.approx(allc[:, 1].min())


def test_infeasible_single_budget_reports_minima():
    sp = small_space((2, 2))
    costs = {"lat": {("d0", "c0"): 2.0, ("d0", "c1"): 3.0, ("d1", "c0"): 4.0, ("d1", "c1"): 1.0},
             "ram": {("d0", "c0"): 1.0, ("d0", "c1"): 1.0, ("d1", "c0"): 1.0, ("d1", "c1"): 1.0}}
    with pytest.raises(InfeasibleBudgetError, match=r"lat = 3 \(budget 2\.5\)") as ei:
        QuboSearch(sp, costs=costs, budgets={"lat": 2.5, "ram": 10}, seed=0)
    assert "ram = 2" in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_jointly_infeasible_budgets_detected():
    sp = small_space((2, 2))
    lat = {("d0", "c0"): 1.0, ("d0", "c1"): 5.0, ("d1", "c0"): 1.0, ("d1", "c1"): 5.0}
    ram = {("d0", "c0"): 5.0, ("d0", "c1"): 1.0, ("d1", "c0"): 5.0, ("d1", "c1"): 1.0}
    # each budget alone is met (min 2), but never both: lat + ram = 12 for every arch
    with pytest.raises(InfeasibleBudgetError, match="all budgets at once.*exhaustive"):
        CostTables(sp, {"lat": lat, "ram": ram}, {"lat": 5.0, "ram": 5.0}).check_budgets()


def test_search_feasible_finds_exactly_the_feasible_set():
    rng = np.random.default_rng(3)
    sp = small_space((3, 3, 3, 2))
    costs = {"a": table(sp, rng), "b": table(sp, rng)}
    costs["a"][(("d0", "c2"), ("d3", "c1"))] = 4.0
    cm0 = CostTables(sp, costs)
    allc = brute(cm0, sp)
    budgets = {"a": float(np.quantile(allc[:, 0], 0.4)), "b": float(np.quantile(allc[:, 1], 0.5))}
    cm = CostTables(sp, costs, budgets)
    want = {tuple(r) for r, ok in zip(all_archs(sp), cm.feasible(all_archs(sp)), strict=False) if ok}
    found, exhausted = cm.search_feasible(mode="random", rng=np.random.default_rng(0), want=10_000)
    assert exhausted and set(found) == want and len(found) == len(want) > 0


def test_repair_reaches_feasibility():
    rng = np.random.default_rng(4)
    sp = small_space((4, 4, 4, 4, 4))
    costs = {"a": table(sp, rng)}
    cm = CostTables(sp, costs, {"a": 20.0})
    cm.check_budgets()
    for r in sp.random_index(rng, 50):
        fixed = cm.repair(r, acq=rng.normal(size=sp.n_vars))
        assert fixed is not None and cm.feasible(fixed)


@pytest.mark.parametrize(
    "costs, budgets, msg",
    [
        ({"lat": {("d0", "c0"): 1.0}}, {"lat": 5.0}, "no entry for choice 'c1' of decision 'd0'"),
        ({"lat": {("d0", "c0"): math.nan, ("d0", "c1"): 1.0}}, {"lat": 5.0}, "NaN/inf"),
        ({"lat": {("d0", "c0"): math.inf, ("d0", "c1"): 1.0}}, {"lat": 5.0}, "NaN/inf"),
        ({"lat": {("d0", "c0"): 1.0, ("d0", "c1"): 1.0}}, {"lat": math.nan}, "budget for 'lat'"),
        ({"lat": {("zz", "c0"): 1.0}}, {}, "unknown decision 'zz'"),
        ({"lat": {("d0", "c9"): 1.0}}, {}, "unknown choice 'c9'"),
        ({"lat": {(("d0", "c0"), ("d0", "c1")): 1.0}}, {}, "same decision"),
        ({"lat": {("d0", "c0"): 1.0, ("d0", "c1"): 1.0}}, {"ram": 3.0}, "budget given for metric 'ram'"),
        ({"lat": {("d0", "c0"): "x", ("d0", "c1"): 1.0}}, {}, "must be a number"),
    ],
)
def test_bad_cost_tables(costs, budgets, msg):
    sp = small_space((2,))
    with pytest.raises(ValueError, match=msg):
        QuboSearch(sp, costs=costs, budgets=budgets, seed=0)

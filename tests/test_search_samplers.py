"""Sampler names, custom dimod samplers and the QUBO encoding."""

import itertools

import dimod
import numpy as np
import pytest

from search import CostTables, Decision, QuboSearch, SamplerUnavailableError, Space
from search.encoding import build_bqm, decode, onehot_penalty


def tiny():
    sp = Space([Decision("a", [0, 1, 2]), Decision("b", [0, 1]), Decision("c", [0, 1, 2])])  # 8 binary vars
    lat = {(d.name, c): float(1 + c) for d in sp for c in d.choices}
    return sp, {"lat": lat}, {"lat": 5.0}


@pytest.mark.parametrize("sampler", ["neal", "tabu", "exact"])
def test_named_samplers_work_on_small_space(sampler):
    sp, costs, budgets = tiny()
    eng = QuboSearch(sp, costs=costs, budgets=budgets, seed=0, sampler=sampler, n_init=2)
    cm = CostTables(sp, costs, budgets)
    seen = set()
    for _ in range(4):
        for a in eng.ask(2):
            k = sp.encode(a)
            assert cm.feasible(np.array(k)) and k not in seen
            seen.add(k)
            eng.tell(a, float(sum(a.values())))
    assert eng.sampler.name == sampler
    assert eng.last_bqm is not None and eng.last_bqm.num_variables == sp.n_vars


def test_dwave_sampler_gives_clear_error_when_unavailable():
    sp, costs, budgets = tiny()
    with pytest.raises(SamplerUnavailableError, match="pip install dwave-system.*dwave config create"):
        QuboSearch(sp, costs=costs, budgets=budgets, sampler="dwave")


def test_exact_sampler_refuses_large_spaces():
    sp = Space([Decision(f"d{j}", [0, 1, 2, 3]) for j in range(6)])  # 24 binary variables
    with pytest.raises(SamplerUnavailableError, match="limited to 20 binary variables; this space needs 24"):
        QuboSearch(sp, sampler="exact")


def test_unknown_sampler_name_and_object_without_sample():
    sp, costs, budgets = tiny()
    with pytest.raises(ValueError, match="unknown sampler 'annealer'"):
        QuboSearch(sp, sampler="annealer")
    with pytest.raises(ValueError, match="no sample"):
        QuboSearch(sp, sampler=object())


class CountingSampler:
    """A user-supplied dimod-style sampler (wraps dimod's RandomSampler)."""

    parameters = {"num_reads": []}

    def __init__(self):
        self.calls = 0

    def sample(self, bqm, **kw):
        self.calls += 1
        assert set(kw) <= {"num_reads"}
        return dimod.RandomSampler().sample(bqm, num_reads=kw.get("num_reads", 1), seed=self.calls)


def test_custom_sampler_object_is_used():
    sp, costs, budgets = tiny()
    s = CountingSampler()
    eng = QuboSearch(sp, costs=costs, budgets=budgets, seed=0, sampler=s, n_init=1)
    for _ in range(3):
        for a in eng.ask(1):
            assert eng.is_feasible(a)
            eng.tell(a, 1.0)
    assert s.calls == 2


def test_onehot_qubo_ground_states_are_the_objective_optimum():
    rng = np.random.default_rng(0)
    sp = Space([Decision("a", [0, 1, 2]), Decision("b", [0, 1, 2]), Decision("c", [0, 1])])
    lin = rng.normal(size=sp.n_vars)
    pair = rng.normal(size=(sp.n_vars, sp.n_vars))
    pair = (pair + pair.T) * (sp.var_decision[:, None] != sp.var_decision[None, :])
    bqm = build_bqm(sp, lin, pair, onehot_penalty(sp, lin, pair))
    best = dimod.ExactSolver().sample(bqm).first
    x = np.array([best.sample[v] for v in range(sp.n_vars)])
    for j in range(len(sp)):
        assert x[sp.offsets[j] : sp.offsets[j] + sp.sizes[j]].sum() == 1
    energies = {}
    for idx in itertools.product(*[range(s) for s in sp.sizes]):
        act = sp.active_vars(idx)
        energies[idx] = lin[act].sum() + 0.5 * pair[np.ix_(act, act)].sum()
    want = min(energies, key=energies.get)
    assert tuple(decode(sp, x[None, :], lin)[0]) == want
    assert best.energy == pytest.approx(energies[want])


def test_decode_repairs_invalid_onehot_rows():
    sp = Space([Decision("a", [0, 1, 2]), Decision("b", [0, 1])])
    lin = np.array([0.0, -1.0, 5.0, 2.0, -3.0])
    rows = np.array([[1, 1, 0, 0, 0], [0, 0, 0, 1, 1], [1, 0, 0, 1, 0]])
    assert decode(sp, rows, lin).tolist() == [[1, 1], [1, 1], [0, 0]]

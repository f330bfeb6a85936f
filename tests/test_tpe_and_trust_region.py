"""Optuna TPE baseline (feasible proposals, over-budget counter, lazy import) and the QUBO trust region."""

import subprocess
import sys

import numpy as np
import pytest

import search
from search import Decision, QuboSearch, Space


def tight_problem(n_dec=6, n_choices=4, q=0.05, seed=3):
    """Additive latency table with a budget that only ~q of random architectures meet."""
    rng = np.random.default_rng(seed)
    sp = Space([Decision(f"d{j}", [f"c{c}" for c in range(n_choices)]) for j in range(n_dec)])
    lat = rng.uniform(1, 10, (n_dec, n_choices))
    costs = {"latency_ms": {(f"d{j}", f"c{c}"): float(lat[j, c]) for j in range(n_dec) for c in range(n_choices)}}
    tot = lat[np.arange(n_dec), sp.random_index(rng, 4000)].sum(1)
    budgets = {"latency_ms": float(np.quantile(tot, q))}
    w = rng.normal(size=(n_dec, n_choices)) + 0.3 * (lat - lat.mean())

    def score(arch):
        k = sp.encode(arch)
        return float(w[np.arange(n_dec), list(k)].sum())

    return sp, costs, budgets, score


def test_import_search_does_not_import_optuna():
    code = "import search, sys; assert 'optuna' not in sys.modules; print(sorted(search.STRATEGIES))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "tpe" in out.stdout


def test_tpe_proposals_are_feasible_distinct_and_over_budget_ones_are_counted():
    sp, costs, budgets, score = tight_problem(n_dec=5, q=0.15)
    eng = search.STRATEGIES["tpe"](sp, costs=costs, budgets=budgets, seed=0, n_startup_trials=5)
    seen = set()
    for _ in range(6):
        batch = eng.ask(2)
        assert len(batch) == 2
        for a in batch:
            assert eng.is_feasible(a)
            k = sp.encode(a)
            assert k not in seen
            seen.add(k)
            eng.tell(a, score(a))
    assert eng.infeasible_proposals > 0  # ~15% feasible: TPE must have proposed over-budget archs
    over = [t for t in eng.study.trials if sum(t.constraints.values()) > 0]
    assert len(over) == eng.infeasible_proposals  # Optuna was told each violation


def test_tpe_falls_back_to_random_feasible_after_max_retries():
    sp, costs, budgets, score = tight_problem(q=0.02)
    eng = search.STRATEGIES["tpe"](sp, costs=costs, budgets=budgets, seed=1, max_retries=1)
    for _ in range(6):
        a = eng.ask(1)[0]
        eng.tell(a, score(a))
    assert eng.fallback_proposals > 0
    assert len(eng.study.trials) >= 6  # fallbacks are added to the study when told


def test_tpe_missing_optuna_is_one_line_exit_2(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_optuna(name, *a, **k):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("no optuna")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    sp, costs, budgets, _ = tight_problem()
    with pytest.raises(search.StrategyUnavailableError) as ei:
        search.STRATEGIES["tpe"](sp, costs=costs, budgets=budgets, seed=0)
    assert ei.value.exit_code == 2
    assert "pip install 'qnas-edge[tpe]'" in str(ei.value) and "\n" not in str(ei.value)


def _run_local(eng, score, n):
    for _ in range(n):
        for a in eng.ask(1):
            eng.tell(a, score(a))


def test_trust_region_proposals_stay_within_radius_of_the_incumbent():
    sp, costs, budgets, score = tight_problem(n_dec=8, q=0.3)
    eng = QuboSearch(sp, costs=costs, budgets=budgets, seed=0, trust_region=1.0, tr_after=6,
                     tr_radius=2, tr_max_radius=2, num_reads=4)
    _run_local(eng, score, 6)
    assert eng.local_proposals == 0  # not confident yet
    for _ in range(8):
        inc = np.array(eng.incumbent())
        r = eng.tr_radius
        a = eng.ask(1)[0]
        assert 1 <= int((np.array(sp.encode(a)) != inc).sum()) <= r
        assert eng.is_feasible(a)
        eng.tell(a, score(a))
    assert eng.local_proposals == 8


def test_trust_region_fraction_alternates_local_and_global():
    sp, costs, budgets, score = tight_problem(n_dec=8, q=0.3)
    eng = QuboSearch(sp, costs=costs, budgets=budgets, seed=0, trust_region=0.5, tr_after=6, num_reads=4)
    _run_local(eng, score, 6)
    _run_local(eng, score, 8)
    assert eng.local_proposals == 4


def test_radius_shrinks_after_failures_and_grows_after_successes():
    sp, costs, budgets, score = tight_problem(n_dec=8, q=0.3)
    eng = QuboSearch(sp, costs=costs, budgets=budgets, seed=0, trust_region=1.0, tr_after=4,
                     tr_radius=2, tr_max_radius=4, tr_fail_tol=2, tr_succ_tol=2, num_reads=4)
    _run_local(eng, score, 4)
    best = max(eng.history.values())
    for _ in range(2):  # two local proposals that do not beat the incumbent: radius halves
        a = eng.ask(1)[0]
        eng.tell(a, best - 10.0)
    assert eng.tr_radius == 1
    for _ in range(2):  # two that do: radius doubles
        a = eng.ask(1)[0]
        eng.tell(a, max(eng.history.values()) + 1.0)
    assert eng.tr_radius == 2
    for _ in range(4):  # 2 -> 1 -> 0, which restarts at the maximum
        a = eng.ask(1)[0]
        eng.tell(a, -100.0)
    assert eng.tr_radius == 4


def test_tell_with_fidelity_down_weights_and_full_fidelity_replaces():
    sp = Space([Decision("a", ["x", "y"]), Decision("b", ["x", "y"])])
    eng = QuboSearch(sp, seed=0)
    arch = {"a": "x", "b": "y"}
    eng.tell(arch, 0.2, fidelity=1 / 9)
    assert eng.fidelity[sp.encode(arch)] == pytest.approx(1 / 9)
    eng.tell(arch, 0.9)  # full fidelity replaces the proxy score
    assert eng.history[sp.encode(arch)] == 0.9 and eng.fidelity[sp.encode(arch)] == 1.0
    eng.tell(arch, 0.1, fidelity=0.5)  # a lower-fidelity score never replaces it
    assert eng.history[sp.encode(arch)] == 0.9
    with pytest.raises(ValueError):
        eng.tell(arch, 0.5, fidelity=0.0)
    # a low-fidelity observation pulls the posterior less than the same score at full fidelity
    others = [{"a": "y", "b": "y"}, {"a": "y", "b": "x"}]
    preds = []
    for fid in (1.0, 0.05):
        e = QuboSearch(sp, seed=0)
        for o, s in zip(others, (0.0, 0.1), strict=True):
            e.tell(o, s)
        e.tell({"a": "x", "b": "x"}, 5.0, fidelity=fid)
        preds.append(e.predict({"a": "x", "b": "x"}))
    assert preds[1] < preds[0]


def test_cli_strategy_tpe_without_optuna_exit_2_and_nothing_written(tmp_path):
    import subprocess
    import sys

    blocker = ("import sys\n"
               "class NoOptuna:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'optuna' or name.startswith('optuna.'):\n"
               "            raise ImportError('optuna is not installed')\n"
               "sys.meta_path.insert(0, NoOptuna())\n"
               "from qnas_edge.cli import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-c", blocker, "search", "--board", "nano33ble", "--no-device",
                          "--strategy", "tpe", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'qnas-edge[tpe]'" in lines[0]
    assert not out.exists()


def test_surrogate_learns_the_offset_of_a_lower_fidelity_from_architectures_told_at_both():
    """Screened scores sit 0.5 below the full ones; learning that offset from the promoted (told at both
    fidelities) keeps the full-fidelity prediction of a screened-only architecture unbiased."""
    sp = Space([Decision(f"d{j}", ["a", "b", "c"]) for j in range(5)])
    w = np.random.default_rng(7).normal(0.0, 0.1, (5, 3))

    def truth(arch):
        return float(sum(w[j, "abc".index(arch[f"d{j}"])] for j in range(5)))

    rng = np.random.default_rng(1)
    archs = {tuple(rng.integers(0, 3, 5)) for _ in range(60)}
    archs = [{f"d{j}": "abc"[c] for j, c in enumerate(k)} for k in sorted(archs)][:24]
    eng = QuboSearch(sp, seed=0)
    for a in archs:
        eng.tell(a, truth(a) - 0.5, fidelity=0.5)
    promoted = sorted(archs, key=truth)[-8:]
    for a in promoted:
        eng.tell(a, truth(a))
    screened = [a for a in archs if a not in promoted]
    err = [eng.predict(a) - truth(a) for a in screened]
    assert abs(float(np.mean(err))) < 0.1          # without the offset the bias would be about -0.5
    assert len(eng.observed) == len(archs) + len(promoted)

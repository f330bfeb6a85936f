"""Gate-model samplers (QAOA with X / XY mixers, VQE) on Qiskit Aer: dimod contract, one-hot validity,
ground-state probability, decomposition, option parsing, the missing-extra message and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

import dimod
import dimod.testing
import numpy as np
import pytest

from qnas_edge.errors import UsageError
from qnas_edge.run.strategy import make_strategy, sampler_kwargs
from search import CostTables, Decision, QuboSearch, SamplerUnavailableError, Space
from search.encoding import build_bqm, onehot_groups, onehot_penalty, random_architecture_bqm
from search.quantum import QAOASampler, VQESampler
from search.samplers import describe_sampler, parse_sampler_options

ROOT = Path(__file__).resolve().parents[1]


def onehot_qubo(decisions: int, choices: int, seed: int) -> tuple[Space, dimod.BinaryQuadraticModel, list]:
    """Random architecture QUBO (search.encoding.random_architecture_bqm) and its one-hot groups."""
    sp, bqm = random_architecture_bqm(decisions, choices, seed)
    return sp, bqm, onehot_groups(sp)


def rows_of(ss: dimod.SampleSet, n: int) -> np.ndarray:
    return np.asarray(ss.record.sample)[:, [ss.variables.index(v) for v in range(n)]]


def feasible_rows(rows: np.ndarray, groups: list) -> np.ndarray:
    return np.all(np.stack([rows[:, g].sum(1) == 1 for g in groups], 1), 1)


# ------------------------------------------------------------------ dimod's sampler test-kit
@dimod.testing.load_sampler_bqm_tests(lambda: QAOASampler(reps=1, shots=64, maxiter=4, seed=0))
class TestQAOADimodKit(unittest.TestCase):
    def test_api(self) -> None:
        dimod.testing.asserts.assert_sampler_api(QAOASampler())


@dimod.testing.load_sampler_bqm_tests(lambda: VQESampler(reps=1, shots=64, maxiter=4, seed=0))
class TestVQEDimodKit(unittest.TestCase):
    def test_api(self) -> None:
        dimod.testing.asserts.assert_sampler_api(VQESampler())


def test_spin_bqm_and_onehot_groups_with_string_labels() -> None:
    bqm = dimod.BQM({"a": 1.0, "b": -1.0, "c": 0.5}, {("a", "c"): -2.0}, 0.3, "SPIN")
    ss = QAOASampler(reps=1, shots=128, maxiter=10, seed=3).sample(bqm, onehot_groups=[["a", "b"]])
    assert ss.vartype is dimod.SPIN
    dimod.testing.assert_sampleset_energies(ss, bqm)
    assert ss.info["sampler"] == "qaoa" and ss.info["qubits"] == 3 and ss.record.num_occurrences.sum() == 128


# ------------------------------------------------------------- 12-variable one-hot QUBO (4 x 3)
def test_xy_mixer_p3_samples_ground_state_often_and_only_valid_states() -> None:
    sp, bqm, groups = onehot_qubo(4, 3, seed=0)
    ground = dimod.ExactSolver().sample(bqm).first.energy
    ss = QAOASampler(reps=3, mixer="xy-ring", shots=1024, maxiter=60, seed=1).sample(bqm, onehot_groups=groups)
    counts = ss.record.num_occurrences
    p_ground = counts[np.isclose(ss.record.energy, ground)].sum() / counts.sum()
    assert p_ground >= 0.05, p_ground  # uniform sampling: 1/4096 = 0.02 %
    assert feasible_rows(rows_of(ss, sp.n_vars), groups).all()
    assert ss.info["mixer"] == "xy-ring" and ss.info["reps"] == 3 and ss.info["nfev"] <= 61


def test_xy_complete_mixer_keeps_every_sample_valid_on_uneven_groups() -> None:
    sp = Space([Decision("a", [0, 1, 2, 3, 4]), Decision("b", [0, 1]), Decision("c", [0, 1, 2, 3])])
    rng = np.random.default_rng(5)
    lin = rng.normal(size=sp.n_vars)
    bqm = build_bqm(sp, lin, None, onehot_penalty(sp, lin, None))
    for mixer in ("xy-complete", "xy-ring"):
        ss = QAOASampler(reps=2, mixer=mixer, shots=512, maxiter=15, seed=2).sample(
            bqm, onehot_groups=onehot_groups(sp))
        assert feasible_rows(rows_of(ss, sp.n_vars), onehot_groups(sp)).all(), mixer


def test_x_mixer_qaoa_lowers_the_energy_below_uniform_sampling() -> None:
    sp, bqm, groups = onehot_qubo(4, 3, seed=0)
    ss = QAOASampler(reps=2, mixer="x", shots=1024, maxiter=40, seed=1).sample(bqm, onehot_groups=groups)
    dimod.testing.assert_sampleset_energies(ss, bqm)
    lin, quad, off = bqm.to_numpy_vectors()[0], bqm.to_numpy_vectors()[1][2], bqm.offset
    uniform_mean = off + lin.sum() / 2 + quad.sum() / 4
    counts = ss.record.num_occurrences
    assert np.dot(counts, ss.record.energy) / counts.sum() < uniform_mean
    assert ss.info["mixer"] == "x"


def test_vqe_finds_low_energy_states() -> None:
    sp, bqm, groups = onehot_qubo(3, 3, seed=4)
    everything = np.sort(dimod.ExactSolver().sample(bqm).record.energy)
    ss = VQESampler(reps=1, shots=512, maxiter=80, seed=0).sample(bqm, onehot_groups=groups)
    assert ss.first.energy <= everything[len(everything) // 20]  # best sample in the lowest 5 % of states
    assert ss.info["sampler"] == "vqe" and ss.info["nfev"] == 80


def test_warm_start_transfers_angles_to_the_next_call() -> None:
    _, bqm, groups = onehot_qubo(3, 3, seed=1)
    s = QAOASampler(reps=2, shots=256, maxiter=20, seed=0)
    first = s.sample(bqm, onehot_groups=groups).info["theta"]
    again = s.sample(bqm, onehot_groups=groups, maxiter=0).info["theta"]
    cold = s.sample(bqm, onehot_groups=groups, maxiter=0, warm_start=False).info["theta"]
    assert again == first and cold != first


# ------------------------------------------------------------------------------- decomposition
def test_decomposition_of_a_qubo_bigger_than_max_qubits_returns_valid_onehot_samples() -> None:
    sp, bqm, groups = onehot_qubo(6, 4, seed=2)  # 24 variables
    for mixer in ("xy-ring", "x"):
        s = QAOASampler(reps=1, shots=256, maxiter=15, max_qubits=12, mixer=mixer, seed=0)
        ss = s.sample(bqm, onehot_groups=groups, num_reads=6)
        rows = rows_of(ss, sp.n_vars)
        assert ss.info["decomposed"] and ss.info["subproblems"] >= 2 and 1 <= len(rows) <= 6
        assert feasible_rows(rows, groups).all(), mixer
        dimod.testing.assert_sampleset_energies(ss, bqm)


def test_decomposition_splits_decisions_with_more_choices_than_qubits() -> None:
    sp, bqm, groups = onehot_qubo(3, 10, seed=3)  # 30 variables, groups of 10 > max_qubits // 2
    ss = QAOASampler(reps=1, shots=128, maxiter=8, max_qubits=8, seed=0, rounds=4).sample(
        bqm, onehot_groups=groups, num_reads=4)
    assert feasible_rows(rows_of(ss, sp.n_vars), groups).all()
    assert ss.info["subproblems"] <= 4


def test_qubo_search_with_qaoa_proposes_feasible_untold_architectures() -> None:
    sp = Space([Decision(f"b{j}", [0, 1, 2, 3]) for j in range(5)])  # 20 variables: decomposed at 16
    lat = {(d.name, c): float(1 + c) for d in sp for c in d.choices}
    eng = QuboSearch(sp, costs={"lat": lat}, budgets={"lat": 9.0}, seed=0, sampler="qaoa", n_init=2,
                     sampler_kwargs={"reps": 1, "shots": 128, "maxiter": 8, "rounds": 2})
    cm = CostTables(sp, {"lat": lat}, {"lat": 9.0})
    seen = set()
    for _ in range(4):
        for a in eng.ask(1):
            k = sp.encode(a)
            assert cm.feasible(np.array(k)) and k not in seen
            seen.add(k)
            eng.tell(a, float(sum(a.values())))
    assert eng.sampler.name == "qaoa" and eng.sampler.sampler.last_info["decomposed"]


# --------------------------------------------------------------------------------- options
def test_sampler_options_are_parsed_to_typed_kwargs() -> None:
    got = sampler_kwargs("qaoa", {"p": "3", "shots": "256", "mixer": "xy", "warm_start": "false",
                                  "alpha": "0.5", "optimizer": "cobyla", "backend": "aer"})
    assert got == {"reps": 3, "shots": 256, "mixer": "xy-ring", "warm_start": False, "alpha": 0.5,
                   "optimizer": "COBYLA", "backend": "aer"}
    assert sampler_kwargs("vqe", {"entanglement": "full", "seed": "7"}) == {"entanglement": "full", "seed": 7}
    assert parse_sampler_options("neal", {"num_sweeps": "500"}) == {"num_sweeps": 500}
    text = describe_sampler("qaoa", {"reps": "3"})
    assert text.startswith("qaoa (reps=3, shots=1024") and "mixer=xy-ring" in text
    assert describe_sampler("neal", {}) == "neal"


@pytest.mark.parametrize("sampler,options,match", [
    ("qaoa", {"depth": "3"}, r"unknown option 'depth' for the qaoa sampler: valid options are reps, shots"),
    ("qaoa", {"reps": "two"}, r"reps='two': expected an integer"),
    ("qaoa", {"mixer": "z"}, r"expected one of x, xy-ring, xy-complete"),
    ("vqe", {"alpha": "1.5"}, r"expected a number in \(0, 1\]"),
    ("vqe", {"mixer": "x"}, r"unknown option 'mixer' for the vqe sampler"),
    ("neal", {"reps": "2"}, r"unknown option 'reps' for the neal sampler: valid options are num_sweeps"),
])
def test_bad_sampler_options_are_usage_errors(sampler, options, match) -> None:
    with pytest.raises(UsageError, match=match) as err:
        sampler_kwargs(sampler, options)
    assert err.value.exit_code == 2


def test_make_strategy_passes_options_to_the_sampler() -> None:
    sp = Space([Decision("a", [0, 1, 2]), Decision("b", [0, 1])])
    eng = make_strategy("qubo", sp, None, None, None, 0, "qaoa", {"reps": "3", "mixer": "x"})
    assert eng.sampler.sampler.settings()["reps"] == 3 and eng.sampler.sampler.settings()["mixer"] == "x"
    with pytest.raises(UsageError, match="strategy qubo only"):
        make_strategy("random", sp, None, None, None, 0, "neal", {"reps": "3"})


def test_unknown_ibm_backend_name_is_one_line_unavailable() -> None:
    with pytest.raises(SamplerUnavailableError, match=r"pip install qiskit-ibm-runtime"):
        QAOASampler(backend="ibm_brisbane")


def test_any_backendv2_runs_through_backend_sampler_v2() -> None:
    from qiskit_aer import AerSimulator

    _, bqm, groups = onehot_qubo(2, 3, seed=0)
    ss = QAOASampler(reps=1, shots=128, maxiter=5, backend=AerSimulator(), seed=0).sample(
        bqm, onehot_groups=groups)
    assert ss.info["backend"] == "aer_simulator"
    dimod.testing.assert_sampleset_energies(ss, bqm)


# --------------------------------------------------------------------- missing quantum extra
def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_missing_qiskit_gives_one_line_and_exit_2(tmp_path) -> None:
    res = _python(
        "import sys; sys.modules['qiskit'] = None\n"
        "from search import Decision, QuboSearch, SamplerUnavailableError, Space\n"
        "try:\n"
        "    QuboSearch(Space([Decision('a', [0, 1])]), sampler='vqe')\n"
        "except SamplerUnavailableError as e:\n"
        "    print(e)\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ("the 'vqe' sampler needs the quantum extra (qiskit is not installed): "
                                  "pip install 'qnas-edge[quantum]'")
    res = _python("import sys; sys.modules['qiskit'] = None\nfrom qnas_edge.cli import main\n"
                  "sys.exit(main(sys.argv[1:]))", "search", "--board", "nano33ble", "--no-device",
                  "--sampler", "qaoa", "--out", str(tmp_path / "run"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "qnas-edge: error: the 'qaoa' sampler needs the quantum extra (qiskit is not installed): "
        "pip install 'qnas-edge[quantum]'"]


def test_import_search_does_not_import_qiskit() -> None:
    res = _python("import sys, search, search.quantum\nprint(any(m.startswith('qiskit') for m in sys.modules))")
    assert res.stdout.strip() == "False", res.stderr


# ---------------------------------------------------------------------------------- CLI
def test_cli_bad_sampler_option_is_one_line_exit_2(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "qnas_edge", "search", "--board", "nano33ble", "--no-device",
                          "--sampler", "qaoa", "--sampler-option", "bogus=1", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown option 'bogus' for the qaoa sampler: valid options are reps" in lines[0]


def test_cli_search_with_qaoa_on_the_virtual_board(tmp_path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "qnas_edge", "search", "--board", "nano33ble", "--virtual", "--sampler", "qaoa",
           "--trials", "6", "--epochs", "1", "--final-epochs", "0", "--out", str(out),
           "--sampler-option", "reps=1", "--sampler-option", "shots=128", "--sampler-option", "maxiter=10",
           "--sampler-option", "rounds=3"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rep = subprocess.run([sys.executable, "-m", "qnas_edge", "report", str(out), "--json"], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    summary = json.loads(rep.stdout)["summary"]
    assert summary["sampler"] == "qaoa" and summary["status"] == "finished"
    assert summary["sampler_options"] == {"reps": "1", "shots": "128", "maxiter": "10", "rounds": "3"}
    assert summary["candidates"]["total"] == 6 and summary["candidates"]["feasible"] == 6
    html = (out / "report.html").read_text()
    assert "qubo / qaoa (reps=1, shots=128, maxiter=10" in html and "mixer=xy-ring" in html

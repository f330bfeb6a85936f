"""Gate-model sampling benchmark (issue 15): QAOA (X / XY mixers), VQE, neal and uniform random sampling.

(1) Random architecture QUBOs (one-hot decisions, Gaussian linear terms and cross-decision couplings,
    one-hot penalties from search.encoding): 12 (4x3), 16 (4x4) and 20 (5x4) variables, run whole on the Aer
    simulator. Per sampler: P(ground state), mean energy gap to the optimum (energy units; the objective
    coefficients are N(0,1)), P(feasible = one-hot valid), wall time per call.
(2) The search space's own QUBO: the QUBO QuboSearch builds for the planted benchmark problem of
    benchmarks/search_efficiency.py (10 decisions x 4 choices = 40 variables) after 10 observations,
    sampled through decomposition into <= 16-qubit sub-problems (dwave-hybrid). For decomposed samplers the
    figures are over the distinct lowest-energy states returned.
(3) End-to-end: QuboSearch with sampler qaoa vs neal on the 6-decision (20-variable) MobileNet-like tabular
    problem of benchmarks/search_efficiency.py (mobilenet_problem(n_blocks=2)); final regret after a fixed
    number of evaluations over many seeds.

    python benchmarks/gate_model_sampling.py            # full
    python benchmarks/gate_model_sampling.py --quick    # one instance, fewer seeds / iterations
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
import warnings

import dimod
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from search_efficiency import mobilenet_problem, planted_problem  # noqa: E402

from search import QuboSearch, Space  # noqa: E402
from search.encoding import onehot_groups, random_architecture_bqm  # noqa: E402
from search.quantum import QAOASampler, VQESampler  # noqa: E402

SHOTS = 1024


def ground_energy(sp: Space, bqm: dimod.BinaryQuadraticModel) -> float:
    """Exact optimum over the one-hot states (the penalty makes it the QUBO's global optimum)."""
    idx = np.array(list(itertools.product(*[range(int(s)) for s in sp.sizes])))
    best = np.inf
    for s in range(0, len(idx), 65536):
        rows = np.zeros((len(idx[s:s + 65536]), sp.n_vars), dtype=np.int8)
        np.put_along_axis(rows, sp.offsets + idx[s:s + 65536], 1, axis=1)
        best = min(best, float(np.min(bqm.energies((rows, list(range(sp.n_vars)))))))
    return best


def figures(ss: dimod.SampleSet, sp: Space, ground: float) -> tuple[float, float, float]:
    """(P(ground), mean gap, P(feasible)) weighted by occurrences."""
    X = np.asarray(ss.record.sample)[:, [ss.variables.index(v) for v in range(sp.n_vars)]]
    c = ss.record.num_occurrences.astype(float)
    e = ss.record.energy
    feas = np.all(np.stack([X[:, g].sum(1) == 1 for g in onehot_groups(sp)], 1), 1)
    return (float(c[np.isclose(e, ground, atol=1e-7)].sum() / c.sum()),
            float(np.dot(c, e - ground) / c.sum()), float(c[feas].sum() / c.sum()))


def samplers(maxiter: int, max_qubits: int, decomposed: bool) -> list[tuple[str, object, dict]]:
    from neal import SimulatedAnnealingSampler

    out: list[tuple[str, object, dict]] = []
    ps = (1, 2) if decomposed else (1, 2, 3)
    for mixer in ("x", "xy-ring", "xy-complete"):
        for p in ps:
            s = QAOASampler(reps=p, mixer=mixer, shots=SHOTS, maxiter=maxiter, max_qubits=max_qubits, seed=1,
                            warm_start=False)
            out.append((f"QAOA p={p} {mixer}", s, {}))
    out.append(("VQE (RY+CZ, CVaR 0.25)", VQESampler(shots=SHOTS, maxiter=2 * maxiter, max_qubits=max_qubits,
                                                    seed=1, warm_start=False), {}))
    out.append(("neal (100 reads x 300 sweeps)", SimulatedAnnealingSampler(),
                {"num_reads": 100, "num_sweeps": 300, "seed": 1}))
    out.append((f"uniform random ({SHOTS} reads)", dimod.RandomSampler(), {"num_reads": SHOTS, "seed": 1}))
    return out


def part_sampling(instances: int, maxiter: int) -> list[tuple]:
    rows = []
    for (J, C) in ((4, 3), (4, 4), (5, 4)):
        acc: dict[str, list] = {}
        for inst in range(instances):
            sp, bqm = random_architecture_bqm(J, C, seed=100 * J + C + inst)
            g = ground_energy(sp, bqm)
            for name, s, kw in samplers(maxiter, sp.n_vars, decomposed=False):
                t0 = time.perf_counter()
                ss = s.sample(bqm, onehot_groups=onehot_groups(sp), **kw) if isinstance(
                    s, (QAOASampler, VQESampler)) else s.sample(bqm, **kw)
                acc.setdefault(name, []).append((*figures(ss, sp, g), time.perf_counter() - t0))
        for name, vals in acc.items():
            rows.append((f"{J * C} vars ({J}x{C}), whole", name, *np.mean(vals, 0)))
    return rows


def space_qubo() -> tuple[Space, dimod.BinaryQuadraticModel]:
    """QuboSearch's own QUBO on the planted benchmark problem after 10 observations (40 variables)."""
    prob = planted_problem()
    eng = QuboSearch(prob.space, costs=prob.costs, budgets=prob.budgets, seed=0)
    for _ in range(10):
        for a in eng.ask(1):
            eng.tell(a, prob.truth(prob.space.encode(a)))
    return prob.space, eng.last_bqm


def part_space(maxiter: int) -> list[tuple]:
    sp, bqm = space_qubo()
    g = ground_energy(sp, bqm)
    rows = []
    for name, s, kw in samplers(maxiter, 16, decomposed=True):
        t0 = time.perf_counter()
        if isinstance(s, (QAOASampler, VQESampler)):
            ss = s.sample(bqm, onehot_groups=onehot_groups(sp), num_reads=8)
            name += " (decomposed <=16 qubits)"
        else:
            ss = s.sample(bqm, **kw)
        rows.append((f"planted space QUBO, {sp.n_vars} vars", name, *figures(ss, sp, g), time.perf_counter() - t0))
    return rows


def run_search(sampler: str, seed: int, evals: int, qaoa_opts: dict) -> float:
    prob = mobilenet_problem(n_blocks=2)
    eng = QuboSearch(prob.space, costs=prob.costs, budgets=prob.budgets, seed=seed, sampler=sampler,
                     sampler_kwargs=qaoa_opts if sampler == "qaoa" else None)
    best = -np.inf
    n = 0
    while n < evals:
        batch = eng.ask(1)
        if not batch:
            break
        for a in batch:
            assert eng.is_feasible(a)
            v = prob.truth(prob.space.encode(a))
            eng.tell(a, v)
            best = max(best, v)
            n += 1
    return prob.optimum - best


def part_end_to_end(seeds: int, evals: int, maxiter: int) -> list[tuple]:
    opts = {"reps": 1, "shots": 256, "maxiter": maxiter, "rounds": 2}
    rows = []
    for sampler in ("qaoa", "neal"):
        t0 = time.perf_counter()
        reg = np.array([run_search(sampler, s, evals, opts) for s in range(seeds)])
        dt = time.perf_counter() - t0
        rows.append((sampler, float(np.median(reg)), float(np.mean(reg)), float(np.mean(reg <= 1e-9)),
                     dt / seeds))
    return rows


def cpu_name() -> str:
    """The processor's model name (``platform.processor()`` is empty on many Linux systems)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 instance per size, 4 seeds, fewer iterations")
    ap.add_argument("--instances", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--evals", type=int, default=20)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: sampling,space,e2e")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    instances = a.instances or (1 if a.quick else 3)
    seeds = a.seeds or (4 if a.quick else 20)
    maxiter = 30 if a.quick else 60
    skip = set(filter(None, a.skip.split(",")))
    t_start = time.perf_counter()
    print(f"# gate-model sampling  python {platform.python_version()}  {cpu_name()}  "
          f"{os.cpu_count()} cores  instances={instances} seeds={seeds} maxiter={maxiter} shots={SHOTS}")
    rows: list[tuple] = []
    if "sampling" not in skip:
        rows += part_sampling(instances, maxiter)
    if "space" not in skip:
        rows += part_space(maxiter)
    if rows:
        print()
        print("| QUBO | sampler | P(ground) | mean gap | P(feasible) | wall s / call |")
        print("|---|---|---|---|---|---|")
        for prob, name, pg, gap, pf, t in rows:
            print(f"| {prob} | {name} | {pg:.2%} | {gap:.3f} | {pf:.1%} | {t:.2f} |")
    if "e2e" not in skip:
        print()
        print(f"End-to-end: QuboSearch on the 6-decision / 20-variable MobileNet-like tabular problem, "
              f"{a.evals} evaluations, {seeds} seeds (qaoa: p=1, 256 shots, maxiter {maxiter}, xy-ring, "
              f"2 sub-problems of <= 16 qubits per ask)")
        print()
        print("| sampler | median regret | mean regret | hit optimum | wall s / search |")
        print("|---|---|---|---|---|")
        for s, med, mean, hit, t in part_end_to_end(seeds, a.evals, maxiter):
            print(f"| qubo + {s} | {med:.4f} | {mean:.4f} | {hit:.0%} | {t:.1f} |")
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()

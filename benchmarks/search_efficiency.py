"""Search-efficiency benchmark for the `search` package (issues 4 and 16). Needs no training.

Three cheap, seeded objectives over spaces with budgets:

(a) planted  - a sparse quadratic over 10 decisions x 4 choices (12 planted pairwise interactions,
               Gaussian observation noise), two additive cost metrics with budgets;
(b) mobilenet - a 6-block MobileNet-like space (kernel {3,5,7}, expansion {1,2,3,4,6}, SE off/on per
               block = 18 decisions), latency / flash / energy cost tables derived from per-block MACs and
               parameter counts (kernel x expansion and SE x expansion enter as exact pairwise cost terms),
               and an accuracy proxy: a saturating function of log-MACs plus kernel/SE/neighbour interactions;
(c) coupled  - a chain of 10 blocks x 5 choices whose objective is dominated by strong interactions between
               neighbouring blocks (pairwise sd 3x the unary sd), with unary terms that reward costly choices,
               and two tight budgets so that at most 1% of the space is feasible (fraction printed, exact).

The feasible optimum is computed exactly (full enumeration for (a) and (c); meet-in-the-middle enumeration of
all 30^6 architectures for (b)). Every strategy is run sequentially (ask(1) / tell) for 100 evaluations
over many seeds; we report median regret and the hit rate of the feasible optimum at 25/50/100
evaluations, plus ask() latency for MobileNet-like spaces of 4..32 blocks with three budgets.
Strategies that may propose over-budget architectures (Optuna TPE) are charged one evaluation for each
such proposal, as a user running them on the real objective would be.

Strategy names: qubo, tpe, evolution, qiea, random, tpe-mv (multivariate TPE), any name + ``-free``
(over-budget proposals not charged: a sensitivity check), and QUBO variants ``qubo-trF[-mR][-bB][-aA]``
(trust-region fraction F, e.g. ``qubo-tr0`` = off, ``qubo-tr0.5``; max radius R; local Thompson
exploration B; confident after A tells).

    python benchmarks/search_efficiency.py            # full: 30 seeds
    python benchmarks/search_efficiency.py --quick    # 6 seeds, smaller timing sweep
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from search import QIEA, Decision, QuboSearch, RandomSearch, RegularizedEvolution, Space  # noqa: E402

CHECKPOINTS = (25, 50, 100)
STRATEGIES = {
    "qubo": QuboSearch,
    "tpe": None,  # search.tpe.TPESearch, imported lazily (optional dependency optuna)
    "evolution": RegularizedEvolution,
    "qiea": QIEA,
    "random": RandomSearch,
}


def make_strategy(name: str):
    """Constructor for a strategy name; ``qubo-trF`` = QuboSearch with trust_region=F."""
    if name in ("tpe", "tpe-mv"):  # tpe-mv: Optuna's multivariate TPE
        from search.tpe import TPESearch

        return functools.partial(TPESearch, multivariate=True) if name == "tpe-mv" else TPESearch
    if name.startswith("qubo-tr"):  # qubo-trF[-mR][-bB]: fraction F, max radius R, local exploration B
        parts = name[len("qubo-tr"):].split("-")
        kw: dict = {"trust_region": float(parts[0])}
        for p in parts[1:]:
            kw[{"m": "tr_max_radius", "b": "tr_exploration", "a": "tr_after"}[p[0]]] = (
                int(p[1:]) if p[0] in "ma" else float(p[1:]))
        return functools.partial(QuboSearch, **kw)
    return STRATEGIES[name]


@dataclass
class Problem:
    """A benchmark instance: space, cost tables, budgets, true objective and its feasible optimum."""

    name: str
    space: Space
    costs: dict
    budgets: dict
    truth: object  # callable(idx tuple) -> float (noise-free)
    noise: float
    optimum: float


# ----------------------------------------------------------------------------- (a) planted
def planted_problem(seed: int = 7) -> Problem:
    rng = np.random.default_rng(seed)
    J, C = 10, 4
    space = Space([Decision(f"d{j}", [f"c{c}" for c in range(C)]) for j in range(J)])
    W = rng.normal(0, 1.0, (J, C))
    pairs = rng.choice([(i, k) for i in range(J) for k in range(i + 1, J)], size=12, replace=False)
    P = {(int(i), int(k)): rng.normal(0, 1.5, (C, C)) for i, k in pairs}
    lat = rng.uniform(1, 10, (J, C))
    flash = rng.uniform(1, 10, (J, C))
    allidx = np.indices((C,) * J).reshape(J, -1).T
    f = W[np.arange(J), allidx].sum(1)
    for (i, k), M in P.items():
        f += M[allidx[:, i], allidx[:, k]]
    L = lat[np.arange(J), allidx].sum(1)
    F = flash[np.arange(J), allidx].sum(1)
    budgets = {"latency_ms": float(np.quantile(L, 0.3)), "flash_kb": float(np.quantile(F, 0.3))}
    feas = (L <= budgets["latency_ms"]) & (F <= budgets["flash_kb"])
    costs = {
        "latency_ms": {(f"d{j}", f"c{c}"): float(lat[j, c]) for j in range(J) for c in range(C)},
        "flash_kb": {(f"d{j}", f"c{c}"): float(flash[j, c]) for j in range(J) for c in range(C)},
    }

    def truth(idx: tuple[int, ...]) -> float:
        v = float(sum(W[j, c] for j, c in enumerate(idx)))
        return v + float(sum(M[idx[i], idx[k]] for (i, k), M in P.items()))

    return Problem("planted", space, costs, budgets, truth, 0.1 * float(f.std()), float(f[feas].max()))


# --------------------------------------------------------------------------- (b) mobilenet
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 2, 3, 4, 6)
SE = ("off", "on")
# (resolution, in channels, out channels) per block for a 32x32 input after a stride-2 stem
STAGES = [(16, 16, 16), (16, 16, 24), (8, 24, 24), (8, 24, 40), (4, 40, 40), (4, 40, 64),
          (4, 64, 64), (2, 64, 96), (2, 96, 96), (2, 96, 128), (1, 128, 128), (1, 128, 160)]


def block_figures(res: int, cin: int, cout: int, k: int, e: int, se: bool) -> tuple[float, float]:
    """(MACs, parameters) of one inverted-residual block."""
    mid = cin * e
    hw = res * res
    macs = (hw * cin * mid if e > 1 else 0) + hw * mid * k * k + hw * mid * cout
    params = (cin * mid if e > 1 else 0) + mid * k * k + mid * cout
    if se:
        macs += 2 * mid * max(8, mid // 4) + hw * mid
        params += 2 * mid * max(8, mid // 4)
    return float(macs), float(params)


def mobilenet_space(n_blocks: int) -> tuple[Space, dict]:
    """18-decision style space + exact cost tables (unary + kernel x expansion, SE x expansion pairs)."""
    decisions, costs = [], {"latency_ms": {}, "flash_kb": {}, "energy_mj": {}}
    for b in range(n_blocks):
        decisions += [Decision(f"b{b}_k", list(KERNELS)), Decision(f"b{b}_e", list(EXPANSIONS)),
                      Decision(f"b{b}_se", list(SE))]
    for b in range(n_blocks):
        res, cin, cout = STAGES[b % len(STAGES)]
        hw = res * res
        for e in EXPANSIONS:
            mid = cin * e
            # pointwise expand + project: unary in the expansion decision
            pw_macs = (hw * cin * mid if e > 1 else 0) + hw * mid * cout
            pw_par = (cin * mid if e > 1 else 0) + mid * cout
            costs["latency_ms"][(f"b{b}_e", e)] = pw_macs * 2.0e-6 + 0.02 * (2 if e > 1 else 1)
            costs["flash_kb"][(f"b{b}_e", e)] = pw_par / 1024.0 + 0.3
            costs["energy_mj"][(f"b{b}_e", e)] = pw_macs * 6.0e-8 + (pw_par + hw * mid) * 1.0e-8
            for k in KERNELS:  # depthwise conv: pairwise kernel x expansion
                key = ((f"b{b}_k", k), (f"b{b}_e", e))
                costs["latency_ms"][key] = hw * mid * k * k * 6.0e-6
                costs["flash_kb"][key] = mid * k * k / 1024.0
                costs["energy_mj"][key] = hw * mid * k * k * 1.5e-7
            red = max(8, mid // 4)
            key = ((f"b{b}_se", "on"), (f"b{b}_e", e))  # squeeze-excite: pairwise SE x expansion
            costs["latency_ms"][key] = (2 * mid * red + hw * mid) * 4.0e-6 + 0.03
            costs["flash_kb"][key] = 2 * mid * red / 1024.0
            costs["energy_mj"][key] = (2 * mid * red + hw * mid) * 1.0e-7
        for k in KERNELS:
            for m in costs:
                costs[m][(f"b{b}_k", k)] = 0.0
        for s in SE:
            for m in costs:
                costs[m][(f"b{b}_se", s)] = 0.0
    return Space(decisions), costs


def _block_table(n_blocks: int, rng: np.random.Generator):
    """Per block: the 30 (k, e, se) combos with MACs, metric costs and the accuracy-proxy bonus."""
    space, costs = mobilenet_space(n_blocks)
    combos = list(itertools.product(range(3), range(5), range(2)))
    kbonus = rng.normal(0, 0.004, (n_blocks, 3)) + np.array([0.0, 0.004, 0.005]) * np.linspace(1, 0.2, n_blocks)[:, None]
    sebonus = np.linspace(0.001, 0.008, n_blocks) + rng.normal(0, 0.002, n_blocks)
    ek = rng.normal(0, 0.003, (n_blocks, 5, 3))  # expansion x kernel interaction
    tab = []
    for b in range(n_blocks):
        res, cin, cout = STAGES[b % len(STAGES)]
        rows = []
        for ki, ei, si in combos:
            macs, _ = block_figures(res, cin, cout, KERNELS[ki], EXPANSIONS[ei], bool(si))
            arch = {f"b{b}_k": KERNELS[ki], f"b{b}_e": EXPANSIONS[ei], f"b{b}_se": SE[si]}
            cost = []
            for m in ("latency_ms", "flash_kb", "energy_mj"):
                c = sum(v for key, v in costs[m].items() if key in arch.items())
                c += sum(v for key, v in costs[m].items()
                         if isinstance(key[0], tuple) and key[0] in arch.items() and key[1] in arch.items())
                cost.append(c)
            bonus = kbonus[b, ki] + si * sebonus[b] + ek[b, ei, ki]
            rows.append((ki, macs, *cost, bonus))
        tab.append(np.array(rows))
    return space, costs, tab


def mobilenet_problem(seed: int = 11, n_blocks: int = 6) -> Problem:
    rng = np.random.default_rng(seed)
    space, costs, tab = _block_table(n_blocks, rng)
    neighbour = 0.004  # same kernel as the previous block

    def g(total_macs: np.ndarray) -> np.ndarray:
        return 0.93 - 0.45 * np.exp(-(np.log(total_macs) - 12.0) / 1.4)

    def truth(idx: tuple[int, ...]) -> float:
        macs, bonus, kprev = 0.0, 0.0, None
        for b in range(n_blocks):
            ki, ei, si = idx[3 * b], idx[3 * b + 1], idx[3 * b + 2]
            row = tab[b][ki * 10 + ei * 2 + si]
            macs += row[1]
            bonus += row[5] + (neighbour if kprev == ki else 0.0)
            kprev = ki
        return float(g(np.array(macs)) + bonus)

    # budgets from random architectures
    r = np.random.default_rng(seed + 1)
    sample = r.integers(0, 30, (20000, n_blocks))
    tot = sum(tab[b][sample[:, b], 2:5] for b in range(n_blocks))
    q = {"latency_ms": 0.35, "flash_kb": 0.5, "energy_mj": 0.4}
    budgets = {m: float(np.quantile(tot[:, i], q[m])) for i, m in enumerate(q)}
    optimum = _mobilenet_optimum(tab, budgets, g, neighbour, n_blocks)
    return Problem("mobilenet", space, costs, budgets, truth, 0.0, optimum)


def _half(tab, blocks, neighbour):
    """Enumerate all combos of consecutive blocks: (first kernel, last kernel, macs, 3 costs, bonus)."""
    grids = np.indices((30,) * len(blocks)).reshape(len(blocks), -1).T
    macs = sum(tab[b][grids[:, i], 1] for i, b in enumerate(blocks))
    cost = sum(tab[b][grids[:, i], 2:5] for i, b in enumerate(blocks))
    bonus = sum(tab[b][grids[:, i], 5] for i, b in enumerate(blocks))
    for i in range(1, len(blocks)):
        bonus = bonus + neighbour * (tab[blocks[i]][grids[:, i], 0] == tab[blocks[i - 1]][grids[:, i - 1], 0])
    first = tab[blocks[0]][grids[:, 0], 0]
    last = tab[blocks[-1]][grids[:, -1], 0]
    return first, last, macs, cost, bonus


def _mobilenet_optimum(tab, budgets, g, neighbour, n_blocks) -> float:
    h = n_blocks // 2
    _, la, ma, ca, ba = _half(tab, list(range(h)), neighbour)
    fb, _, mb, cb, bb = _half(tab, list(range(h, n_blocks)), neighbour)
    cap = np.array([budgets["latency_ms"], budgets["flash_kb"], budgets["energy_mj"]]) + 1e-9
    best = -np.inf
    # prune halves that are infeasible on their own
    ka = np.all(ca + cb.min(0) <= cap, 1)
    kb = np.all(cb + ca.min(0) <= cap, 1)
    la, ma, ca, ba = la[ka], ma[ka], ca[ka], ba[ka]
    fb, mb, cb, bb = fb[kb], mb[kb], cb[kb], bb[kb]
    for s in range(0, len(ma), 256):
        sl = slice(s, s + 256)
        ok = np.all(ca[sl, None, :] + cb[None, :, :] <= cap, -1)
        val = g(ma[sl, None] + mb[None, :]) + ba[sl, None] + bb[None, :] + neighbour * (la[sl, None] == fb[None, :])
        val = np.where(ok, val, -np.inf)
        best = max(best, float(val.max()))
    return best


# ----------------------------------------------------------------------------- (c) coupled
def coupled_problem(seed: int = 23, target: float = 0.008) -> Problem:
    """Chain of 10 blocks x 5 choices, strong neighbour interactions, budgets leaving ~0.8% feasible.

    Both budgets sit at the same quantile q of their metric, with q found by bisection so that the exact
    joint feasible fraction (full enumeration of the 5^10 = 9.8e6 architectures) is just under ``target``.
    """
    rng = np.random.default_rng(seed)
    J, C = 10, 5
    space = Space([Decision(f"blk{j}", [f"op{c}" for c in range(C)]) for j in range(J)])
    lat = rng.uniform(1, 10, (J, C))
    flash = rng.uniform(1, 10, (J, C))
    z = (lat - lat.mean()) / lat.std() + (flash - flash.mean()) / flash.std()
    W = 0.5 * z + rng.normal(0, 0.5, (J, C))  # costly choices tend to score better
    P = rng.normal(0, 1.5, (J - 1, C, C))  # neighbour pairs: sd 1.5, about twice the unary terms
    grid = np.indices((C,) * (J - 2)).reshape(J - 2, -1).T  # last J-2 blocks; the first two are chunked
    f_all, l_all, fl_all = [], [], []
    for c0 in range(C):
        for c1 in range(C):
            idx = np.concatenate([np.full((len(grid), 1), c0), np.full((len(grid), 1), c1), grid], 1)
            cols = np.arange(J)
            f = W[cols, idx].sum(1) + sum(P[j, idx[:, j], idx[:, j + 1]] for j in range(J - 1))
            f_all.append(f.astype(np.float32))
            l_all.append(lat[cols, idx].sum(1).astype(np.float32))
            fl_all.append(flash[cols, idx].sum(1).astype(np.float32))
    f, L, F = (np.concatenate(a) for a in (f_all, l_all, fl_all))
    lo, hi = 0.0, 0.5
    for _ in range(40):  # bisection on the common quantile
        q = 0.5 * (lo + hi)
        bl, bf = float(np.quantile(L, q)), float(np.quantile(F, q))
        frac = float(np.mean((L <= bl) & (F <= bf)))
        lo, hi = (q, hi) if frac < target else (lo, q)
    bl, bf = float(np.quantile(L, lo)), float(np.quantile(F, lo))
    # float32 enumeration: keep only archs clearly inside (float64 re-check of the near-boundary ones)
    feas = (L <= bl) & (F <= bf)
    costs = {
        "latency_ms": {(f"blk{j}", f"op{c}"): float(lat[j, c]) for j in range(J) for c in range(C)},
        "flash_kb": {(f"blk{j}", f"op{c}"): float(flash[j, c]) for j in range(J) for c in range(C)},
    }

    def truth(idx: tuple[int, ...]) -> float:
        return float(sum(W[j, c] for j, c in enumerate(idx)) + sum(P[j, idx[j], idx[j + 1]] for j in range(J - 1)))

    def cost64(i: int) -> tuple[float, float]:
        k = np.unravel_index(i, (C,) * J)
        return float(sum(lat[j, c] for j, c in enumerate(k))), float(sum(flash[j, c] for j, c in enumerate(k)))

    near = np.flatnonzero((np.abs(L - bl) < 1e-3) | (np.abs(F - bf) < 1e-3))
    for i in near:  # exact float64 verdict for archs within float32 rounding of a budget
        a, b = cost64(int(i))
        feas[i] = a <= bl + 1e-9 and b <= bf + 1e-9
    order = np.argsort(-f[feas])[:50]  # exact float64 optimum among the best float32 candidates
    cand = np.flatnonzero(feas)[order]
    optimum = max(truth(tuple(int(c) for c in np.unravel_index(int(i), (C,) * J))) for i in cand)
    prob = Problem("coupled", space, costs, {"latency_ms": bl, "flash_kb": bf}, truth,
                   0.1 * float(f.std()), optimum)
    prob.feasible_fraction = float(feas.mean())
    return prob


# ----------------------------------------------------------------------------- runs
def run_one(args: tuple[str, str, int, int]) -> tuple[str, str, int, list[float], int]:
    """Run one strategy on one problem with one seed.

    Returns the best true value after each evaluation (an over-budget proposal is an evaluation that finds
    nothing) and the number of over-budget proposals charged within the ``evals`` budget.
    """
    problem_name, strategy, seed, evals = args
    prob = PROBLEMS[problem_name]()
    free = strategy.endswith("-free")  # sensitivity check: over-budget proposals not charged
    eng = make_strategy(strategy.removesuffix("-free"))(prob.space, costs=prob.costs, budgets=prob.budgets, seed=seed)
    rng = np.random.default_rng(10_000 + seed)
    best, trace, charged = -np.inf, [], 0
    while len(trace) < evals:
        before = getattr(eng, "infeasible_proposals", 0)
        batch = eng.ask(1)
        wasted = 0 if free else getattr(eng, "infeasible_proposals", 0) - before
        take = min(wasted, evals - len(trace))
        trace += [best] * take
        charged += take
        if not batch or len(trace) >= evals:
            break
        for arch in batch:
            assert eng.is_feasible(arch)
            idx = prob.space.encode(arch)
            v = prob.truth(idx)
            eng.tell(arch, v + prob.noise * rng.normal())
            best = max(best, v)
            trace.append(best)
    return problem_name, strategy, seed, trace, charged


_CACHE: dict[str, Problem] = {}


def _cached(name: str, fn):
    def get() -> Problem:
        if name not in _CACHE:
            _CACHE[name] = fn()
        return _CACHE[name]

    return get


PROBLEMS = {
    "planted": _cached("planted", planted_problem),
    "mobilenet": _cached("mobilenet", mobilenet_problem),
    "coupled": _cached("coupled", coupled_problem),
}


def ask_timing(blocks: list[int], repeats: int) -> list[tuple[int, int, float, float]]:
    """Median / max ask(1) seconds for QuboSearch on n-block MobileNet-like spaces with 3 budgets, 30 tells."""
    out = []
    for nb in blocks:
        space, costs = mobilenet_space(nb)
        rng = np.random.default_rng(nb)
        rand = np.array([list(space.random_index(rng)) for _ in range(2000)])
        from search import CostTables

        cm = CostTables(space, costs)
        tot = cm.evaluate(rand)
        budgets = {m: float(np.quantile(tot[:, i], 0.4)) for i, m in enumerate(cm.metrics)}
        eng = QuboSearch(space, costs=costs, budgets=budgets, seed=0)
        w = rng.normal(size=space.n_vars)
        for _ in range(30):
            for a in eng.ask(1):
                eng.tell(a, float(w[space.active_vars(space.encode(a))].sum()))
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a = eng.ask(1)[0]
            ts.append(time.perf_counter() - t0)
            eng.tell(a, float(w[space.active_vars(space.encode(a))].sum()))
        out.append((nb, len(space), float(np.median(ts)), float(np.max(ts))))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 seeds and a short timing sweep")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma list; qubo-trF = trust region F")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-timing", action="store_true", help="skip the ask() latency sweep")
    ap.add_argument("--seed-offset", type=int, default=0, help="first seed (fresh seeds confirm a choice)")
    ap.add_argument("--save", default=None, help="write every trace to this JSON file")
    a = ap.parse_args(argv)
    seeds = a.seeds or (6 if a.quick else 30)
    evals = max(CHECKPOINTS)
    t_start = time.perf_counter()
    print(f"# search efficiency  python {platform.python_version()}  {os.cpu_count()} cores  seeds={seeds}")
    problems = a.problems.split(",")
    strategies = a.strategies.split(",")
    for p in problems:
        prob = PROBLEMS[p]()
        print(f"{p}: {len(prob.space)} decisions, {prob.space.cardinality():.3g} archs, budgets "
              + ", ".join(f"{m}<={v:.4g}" for m, v in prob.budgets.items())
              + f", feasible optimum {prob.optimum:.5f}, noise sd {prob.noise:.3g}"
              + (f", feasible fraction {prob.feasible_fraction:.4%} (exact, full enumeration)"
                 if hasattr(prob, "feasible_fraction") else ""))
    jobs = [(p, s, seed, evals) for p in problems for s in strategies
            for seed in range(a.seed_offset, a.seed_offset + seeds)]
    with Pool(a.workers) as pool:
        results = pool.map(run_one, jobs, chunksize=1)
    if a.save:
        import json

        with open(a.save, "w") as fh:
            json.dump([{"problem": p, "strategy": s, "seed": sd, "trace": t, "charged": w,
                        "optimum": PROBLEMS[p]().optimum} for p, s, sd, t, w in results], fh)
    print()
    print("| problem | strategy | regret@25 | regret@50 | regret@100 | hit@25 | hit@50 | hit@100 | over-budget / 100 |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for p in problems:
        opt = PROBLEMS[p]().optimum
        for s in strategies:
            traces = [t for (pp, ss, _, t, _) in results if pp == p and ss == s]
            wasted = float(np.mean([w for (pp, ss, _, _, w) in results if pp == p and ss == s]))
            reg = {c: np.array([opt - t[min(c, len(t)) - 1] for t in traces]) for c in CHECKPOINTS}
            med = {c: float(np.median(reg[c])) for c in CHECKPOINTS}
            hit = {c: float(np.mean(reg[c] <= 1e-9)) for c in CHECKPOINTS}
            summary[p, s] = (med, hit)
            print(f"| {p} | {s} | " + " | ".join(f"{med[c]:.4f}" for c in CHECKPOINTS) + " | "
                  + " | ".join(f"{hit[c]:.0%}" for c in CHECKPOINTS) + f" | {wasted:.1f} |")
    print()
    for p in problems:
        for peer in ("tpe", "evolution"):
            if (p, "qubo") in summary and (p, peer) in summary:
                qm, qh = summary[p, "qubo"]
                em, eh = summary[p, peer]
                t1 = qm[50] <= em[100]
                t2 = qh[100] >= 2 * eh[100] and qh[100] > 0
                print(f"{p}: QUBO regret@50 {qm[50]:.4f} <= {peer} regret@100 {em[100]:.4f}: "
                      f"{'PASS' if t1 else 'FAIL'}; QUBO hit@100 {qh[100]:.0%} >= 2 x {peer} {eh[100]:.0%}: "
                      f"{'PASS' if t2 else 'FAIL'}")
    print()
    if a.no_timing:
        print(f"total benchmark time {time.perf_counter() - t_start:.0f} s")
        return
    blocks = [4, 12, 32] if a.quick else [4, 8, 12, 16, 24, 32]
    print("| blocks | decisions | median ask(1) s | max ask(1) s |")
    print("|---|---|---|---|")
    for nb, nd, med, mx in ask_timing(blocks, 5 if a.quick else 15):
        print(f"| {nb} | {nd} | {med:.3f} | {mx:.3f} |")
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()

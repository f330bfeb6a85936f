"""Fit a big QUBO to a small circuit: sample sub-problems of at most ``max_qubits`` variables.

A dwave-hybrid workflow around the current best state: ``EnergyImpactDecomposer`` picks the variables with
the largest energy impact (rolling through all variables over successive rounds), rounded to one-hot
groups, the rest clamped at the current best; the gate-model sampler samples the
sub-QUBO; ``SplatComposer`` writes the sub-samples back; ``ArgMin`` keeps the better of old and new, and
``LoopUntilNoImprovement`` stops after a full pass over the variables without improvement.

Whole groups (or, for a decision with many choices, its active choice plus the most promising others, the
rest clamped at 0) matter twice: the XY mixer keeps every sub-sample one-hot valid, and because each
group's one-hot penalty lies entirely inside the sub-QUBO, a valid state is also its lowest-energy state
(the penalty of :func:`search.encoding.onehot_penalty` dominates every objective term).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import dimod
import hybrid
import numpy as np
from hybrid import traits
from hybrid.core import Runnable
from hybrid.utils import bqm_induced_by

SubSampler = Callable[[dimod.BinaryQuadraticModel, list[list[Hashable]]], dimod.SampleSet]


class OneHotEnergyImpactDecomposer(traits.ProblemDecomposer, traits.SISO, Runnable):
    """``EnergyImpactDecomposer`` whose selection is rounded to one-hot groups, ``size`` variables at most.

    Groups are ranked by how many of their variables the energy-impact selection picked (untouched groups
    follow, rotating between rounds). A group of at most ``max(2, size // 2)`` variables enters whole; a
    bigger one (a decision with many choices) enters as its active variable(s) plus the alternatives with
    the lowest local field, the rest clamped at 0 — exactly one 1 in the subset is then exactly one in the
    group. Puts the sub-problem's groups (variable labels) in ``state.subgroups``.
    """

    def __init__(self, groups: Sequence[Sequence[Hashable]], size: int, **runopts: Any) -> None:
        super().__init__(**runopts)
        self.groups = [list(g) for g in groups]
        self.size = int(size)
        self.cap = max(2, self.size // 2) if len(self.groups) > 1 else self.size
        self.group_of = {v: gi for gi, g in enumerate(self.groups) for v in g}
        self.inner = hybrid.EnergyImpactDecomposer(size=self.size, rolling=True, rolling_history=1.0,
                                                   traversal="energy")
        self._turn = 0

    def _subset(self, bqm: dimod.BinaryQuadraticModel, g: int, sample: dict) -> list[Hashable]:
        members = self.groups[g]
        if len(members) <= self.cap:
            return members
        inside = set(members)
        active = [v for v in members if sample[v]]
        field = {v: bqm.linear[v] + sum(w * sample[u] for u, w in bqm.adj[v].items() if u not in inside)
                 for v in members if not sample[v]}
        rest = sorted(field, key=field.__getitem__)[: max(self.cap - len(active), 1)]
        return active + rest

    def next(self, state: hybrid.State, **runopts: Any) -> hybrid.State:
        bqm = state.problem
        sample = state.samples.change_vartype(bqm.vartype).first.sample
        picked = list(self.inner.next(state).subproblem.variables)
        count: dict[int, int] = {}
        singles = []
        for v in picked:
            g = self.group_of.get(v)
            if g is None:
                singles.append(v)
            else:
                count[g] = count.get(g, 0) + 1
        ranked = sorted(count, key=lambda g: (-count[g], g))
        k = len(self.groups)
        ranked += [g for g in ((self._turn + i) % k for i in range(k)) if g not in count] if k else []
        chosen: list[Hashable] = []
        subgroups: list[list[Hashable]] = []
        last = None
        for g in ranked:
            part = self._subset(bqm, g, sample)
            if len(chosen) + len(part) <= self.size:
                chosen += part
                subgroups.append(part)
                last = g
        for v in singles:
            if len(chosen) < self.size:
                chosen.append(v)
        if last is not None:
            self._turn = (last + 1) % k
        sub = bqm_induced_by(bqm, chosen, sample)
        return state.updated(subproblem=sub, subgroups=subgroups)


class GateModelSubproblemSampler(traits.SubproblemSampler, traits.SISO, Runnable):
    """Samples ``state.subproblem`` with ``sub_sampler(bqm, groups)``; keeps the ``reads`` lowest-energy
    distinct sub-samples (padded with the best one), lowest first, as ``state.subsamples``."""

    def __init__(self, sub_sampler: SubSampler, reads: int, log: list[dict[str, Any]], **runopts: Any) -> None:
        super().__init__(**runopts)
        self.sub_sampler = sub_sampler
        self.reads = int(reads)
        self.log = log

    def next(self, state: hybrid.State, **runopts: Any) -> hybrid.State:
        bqm = state.subproblem
        raw = self.sub_sampler(bqm, state.get("subgroups") or [])
        self.log.append({"variables": bqm.num_variables, **raw.info})
        ss = raw.aggregate()
        groups = state.get("subgroups") or []
        if groups:  # penalty-based circuits (X mixer, VQE) can measure invalid states: keep valid ones
            X = np.asarray(ss.record.sample)
            pos = {v: i for i, v in enumerate(ss.variables)}
            ok = np.ones(len(X), dtype=bool)
            for g in groups:
                ok &= X[:, [pos[v] for v in g]].sum(1) == 1
            if not ok.any():  # none valid: keep the current (valid) assignment of these variables
                cur = state.samples.change_vartype(bqm.vartype).first.sample
                X, ok = np.array([[cur[v] for v in ss.variables]]), np.array([True])
            ss = dimod.SampleSet.from_samples_bqm((X[ok], list(ss.variables)), bqm)
        ss = ss.truncate(self.reads, sorted_by="energy")
        rows = np.asarray(ss.record.sample)
        if len(rows) < self.reads:
            rows = np.concatenate([rows, np.repeat(rows[:1], self.reads - len(rows), axis=0)])
        out = dimod.SampleSet.from_samples_bqm((rows, list(ss.variables)), bqm)
        return state.updated(subsamples=out)


class Collect(traits.SISO, Runnable):
    """Records every full sample set passing through (the pool the final samples are drawn from)."""

    def __init__(self, pool: list[dimod.SampleSet], **runopts: Any) -> None:
        super().__init__(**runopts)
        self.pool = pool

    def next(self, state: hybrid.State, **runopts: Any) -> hybrid.State:
        self.pool.append(state.samples)
        return state


def initial_state(bqm: dimod.BinaryQuadraticModel, groups: Sequence[Sequence[Hashable]]) -> dict[Hashable, int]:
    """A valid start: per group the variable with the lowest linear bias; other variables by sign."""
    x = {v: int(bqm.linear[v] < 0) for v in bqm.variables}
    for g in groups:
        best = min(g, key=lambda v: bqm.linear[v])
        for v in g:
            x[v] = int(v == best)
    return x


def sample_decomposed(
    bqm: dimod.BinaryQuadraticModel,
    groups: Sequence[Sequence[Hashable]],
    max_qubits: int,
    sub_sampler: SubSampler,
    num_reads: int,
    rounds: int | None = None,
    seed: int | None = None,
    start: dict[Hashable, int] | None = None,
) -> tuple[dimod.SampleSet, dict[str, Any]]:
    """Sample a BINARY ``bqm`` through sub-problems of at most ``max_qubits`` variables.

    Returns the ``num_reads`` lowest-energy distinct full states seen, and info (rounds, sub-problem log).
    ``rounds`` caps the sub-problems (default: three passes over the variables); the loop also stops after
    one pass without improvement.
    """
    n = bqm.num_variables
    grouped = sum(len(g) for g in groups)
    cap = max(2, max_qubits // 2) if len(groups) > 1 else max_qubits
    covered = sum(min(len(g), cap) for g in groups) + (n - grouped)
    per_pass = max(1, math.ceil(covered / max_qubits))
    max_iter = int(rounds) if rounds else 3 * per_pass
    x0 = start if start is not None else initial_state(bqm, groups)
    state = hybrid.State.from_samples([x0] * num_reads, bqm)
    pool: list[dimod.SampleSet] = [state.samples]
    log: list[dict[str, Any]] = []
    branch = (OneHotEnergyImpactDecomposer(groups, max_qubits)
              | GateModelSubproblemSampler(sub_sampler, num_reads, log)
              | hybrid.SplatComposer()
              | Collect(pool))
    iteration = hybrid.Parallel(hybrid.Identity(), branch) | hybrid.ArgMin()
    workflow = hybrid.LoopUntilNoImprovement(iteration, max_iter=max_iter, convergence=per_pass + 1)
    workflow.run(state).result()
    allss = dimod.concatenate(pool).aggregate()
    best = allss.truncate(num_reads, sorted_by="energy")
    info = {"decomposed": True, "subproblems": len(log), "max_qubits": max_qubits,
            "sub_nfev": int(sum(e.get("nfev", 0) for e in log)), "seed": seed}
    return best, info

"""Shared machinery of the QAOA and VQE samplers: options, angle optimisation, measurement, decomposition."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import dimod
import numpy as np

from .backends import Executor, resolve_backend
from .circuits import Ansatz
from .decompose import sample_decomposed
from .options import check_options, defaults

DEFAULT_DECOMPOSED_READS = 8


def groups_as_indices(groups: Iterable[Iterable[Hashable]] | None, labels: Sequence[Hashable]) -> list[list[int]]:
    """One-hot groups given as variable labels -> qubit indices; labels not in the BQM are dropped.

    Raises ``ValueError`` when groups overlap.
    """
    if not groups:
        return []
    pos = {v: i for i, v in enumerate(labels)}
    out: list[list[int]] = []
    seen: set[int] = set()
    for g in groups:
        members = [pos[v] for v in g if v in pos]
        if seen.intersection(members):
            raise ValueError("onehot_groups overlap: each variable may belong to one group only")
        seen.update(members)
        if members:
            out.append(members)
    return out


class VariationalSampler(dimod.Sampler):
    """Base of :class:`QAOASampler` and :class:`VQESampler` (a ``dimod.Sampler``).

    Options may be given to the constructor (defaults for every call) or to ``sample`` (this call only);
    see :mod:`search.quantum.options`. ``sample(bqm, onehot_groups=[[v, ...], ...])`` names the one-hot
    groups (each decision's variables); they keep decomposed sub-problems whole per decision and drive the
    XY mixer. The sample set's ``info`` holds the optimised angles, expectation, circuit evaluations,
    backend and wall time (s).
    """

    kind = "base"

    def __init__(self, **options: Any) -> None:
        self._defaults = {**defaults(self.kind), **check_options(self.kind, options)}
        self._warm: dict[tuple, np.ndarray] = {}
        self._executors: dict[tuple, Executor] = {}
        self.last_info: dict[str, Any] = {}
        if self._defaults["backend"] is not None:
            self._executor(self._defaults["backend"], self._defaults["seed"])  # fail fast on bad backends

    # --------------------------------------------------------------- dimod API
    @property
    def parameters(self) -> dict[str, list]:
        return {k: [] for k in (*defaults(self.kind), "onehot_groups")}

    @property
    def properties(self) -> dict[str, Any]:
        o = self._defaults
        return {"kind": self.kind, "max_qubits": o["max_qubits"], "defaults": dict(o),
                "backend": self._backend_name(o["backend"])}

    def settings(self) -> dict[str, Any]:
        """The options in force (defaults + constructor), for reports."""
        o = dict(self._defaults)
        o["backend"] = self._backend_name(o["backend"])
        return o

    def sample(self, bqm: dimod.BinaryQuadraticModel, **kwargs: Any) -> dimod.SampleSet:
        """Sample ``bqm`` with the circuit; big BQMs are decomposed (see :mod:`search.quantum.decompose`)."""
        groups_in = kwargs.pop("onehot_groups", None)
        o = {**self._defaults, **check_options(self.kind, kwargs)}
        t0 = time.perf_counter()
        labels = list(bqm.variables)
        if not labels:
            return dimod.SampleSet.from_samples_bqm((np.zeros((1, 0), dtype=np.int8), []), bqm)
        bin_bqm = bqm.change_vartype(dimod.BINARY, inplace=False) if bqm.vartype is dimod.SPIN else bqm
        groups = groups_as_indices(groups_in, labels)
        rng = np.random.default_rng(o["seed"])
        if len(labels) <= o["max_qubits"]:
            rows, counts, info = self._sample_whole(bin_bqm, labels, groups, o, rng)
        else:
            label_groups = [[labels[i] for i in g] for g in groups]

            def sub(sub_bqm: dimod.BinaryQuadraticModel, sub_groups: list[list[Hashable]]) -> dimod.SampleSet:
                sl = list(sub_bqm.variables)
                r, c, sub_info = self._sample_whole(sub_bqm, sl, groups_as_indices(sub_groups, sl), o, rng)
                return dimod.SampleSet.from_samples_bqm((r, sl), sub_bqm, num_occurrences=c, info=sub_info)

            reads = o["num_reads"] or DEFAULT_DECOMPOSED_READS
            ss_bin, info = sample_decomposed(bin_bqm, label_groups, o["max_qubits"], sub, reads,
                                             rounds=o["rounds"], seed=int(rng.integers(2**31 - 1)))
            rows = np.asarray(ss_bin.record.sample, dtype=np.int8)[:, [ss_bin.variables.index(v) for v in labels]]
            counts = np.asarray(ss_bin.record.num_occurrences)
        if bqm.vartype is dimod.SPIN:
            rows = 2 * rows - 1
        info = {**info, "sampler": self.kind, "wall_s": time.perf_counter() - t0,
                "backend": self._backend_name(o["backend"])}
        self.last_info = info
        ss = dimod.SampleSet.from_samples_bqm((rows, labels), bqm, num_occurrences=counts, info=info)
        return ss

    # ------------------------------------------------------------- internals
    def _backend_name(self, backend: Any) -> str:
        if backend is None or isinstance(backend, str):
            return backend or "aer_simulator"
        return self._executor(backend, None).name

    def _executor(self, backend: Any, seed: int | None) -> Executor:
        key = (id(backend) if not isinstance(backend, (str, type(None))) else backend, seed)
        if key not in self._executors:
            self._executors[key] = resolve_backend(backend, seed)
        return self._executors[key]

    def _ansatz(self, bqm: dimod.BinaryQuadraticModel, labels: list, groups: list[list[int]],
                o: dict[str, Any], rng: np.random.Generator) -> Ansatz:
        raise NotImplementedError

    def _warm_key(self, ansatz: Ansatz, n: int) -> tuple:
        return (ansatz.kind, ansatz.reps, ansatz.mixer)

    def _sample_whole(self, bqm: dimod.BinaryQuadraticModel, labels: list, groups: list[list[int]],
                      o: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        """Optimise the angles on ``bqm`` (BINARY, <= max_qubits variables) and measure the final state.

        Returns (distinct 0/1 rows in ``labels`` order, their counts, info).
        """
        from scipy.optimize import minimize

        ansatz = self._ansatz(bqm, labels, groups, o, rng)
        sim_seed = int(rng.integers(2**31 - 1)) if o["seed"] is not None else None
        ex = self._executor(o["backend"], sim_seed if isinstance(o["backend"], (str, type(None))) else None)
        isa = ex.isa(ansatz.circuit)
        shots = int(o["shots"])
        alpha = float(o["alpha"])
        key = self._warm_key(ansatz, len(labels))
        x0 = self._warm[key] if o["warm_start"] and key in self._warm else ansatz.x0
        nfev = 0

        def measure(theta: np.ndarray, n_shots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            res = ex.primitive.run([(isa, ansatz.values(theta, isa))], shots=n_shots).result()
            bits = res[0].data.meas.to_bool_array(order="little").astype(np.int8)
            rows, counts = np.unique(bits, axis=0, return_counts=True)
            return rows, counts, np.asarray(bqm.energies((rows, labels)), dtype=float)

        def objective(theta: np.ndarray) -> float:
            nonlocal nfev
            nfev += 1
            _, counts, energies = measure(theta, shots)
            return cvar(energies, counts, alpha)

        theta = np.asarray(x0, dtype=float)
        if o["maxiter"] > 0 and ansatz.num_parameters:
            method = o["optimizer"]
            opts = optimizer_options(method, int(o["maxiter"]), ansatz.num_parameters)
            res = minimize(objective, theta, method=method, options=opts)
            theta = np.asarray(res.x, dtype=float)
            self._warm[key] = theta.copy()
        n_final = int(o["num_reads"] or shots)
        rows, counts, energies = measure(theta, n_final)
        info = {"theta": [round(float(t), 6) for t in theta], "nfev": nfev, "qubits": len(labels),
                "reps": ansatz.reps, "expectation": float(np.dot(counts, energies) / counts.sum()),
                "depth": int(isa.depth())}
        if ansatz.kind == "qaoa":
            info["mixer"] = ansatz.mixer
        return rows, counts, info


def cvar(energies: np.ndarray, counts: np.ndarray, alpha: float) -> float:
    """Mean of the lowest ``alpha`` fraction of the sampled energies (``alpha = 1``: the mean)."""
    order = np.argsort(energies)
    e, c = energies[order], counts[order].astype(float)
    total = c.sum()
    keep = max(alpha * total, 1.0)
    take = np.minimum(c, np.maximum(keep - (np.cumsum(c) - c), 0.0))
    return float(np.dot(take, e) / take.sum()) if math.isfinite(take.sum()) and take.sum() > 0 else float(e[0])


def optimizer_options(method: str, maxiter: int, n_params: int) -> dict[str, Any]:
    """``scipy.optimize.minimize`` options capping circuit evaluations near ``maxiter`` (start step 0.3 rad).

    COBYLA needs at least ``n_params + 2`` evaluations; a smaller ``maxiter`` is raised to that.
    """
    if method == "COBYLA":
        maxiter = max(maxiter, n_params + 2)
        return {"maxiter": maxiter, "rhobeg": 0.3}
    if method == "COBYQA":
        return {"maxfev": maxiter, "initial_tr_radius": 0.3}
    return {"maxiter": maxiter, "maxfev": maxiter}

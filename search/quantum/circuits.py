"""Parameterised circuits for a binary quadratic model: QAOA (X or XY mixer) and a hardware-efficient ansatz.

Conventions: the BQM is BINARY with variables ``labels[0..n-1]``; variable ``labels[i]`` is qubit ``i`` and
``x_i = 1`` is the computational state ``|1>`` (so ``x = (1 - Z) / 2``). Qiskit is imported here, so this
module is only imported once the quantum extra is known to be installed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import dimod
import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import n_local, qaoa_ansatz
from qiskit.quantum_info import SparsePauliOp

MIXERS = ("x", "xy-ring", "xy-complete")


@dataclass
class Ansatz:
    """A measured parameterised circuit plus how its parameters map to a flat vector.

    ``circuit`` ends with ``measure_all`` (register ``meas``; classical bit ``i`` = qubit ``i``);
    ``order[k]`` is the index in the flat parameter vector of ``circuit.parameters[k]``.
    ``x0`` is the default starting point; ``bounds`` are per-parameter (lo, hi) in radians.
    """

    circuit: QuantumCircuit
    order: np.ndarray
    x0: np.ndarray
    kind: str
    reps: int
    mixer: str = "x"
    bounds: list[tuple[float, float]] = field(default_factory=list)

    @property
    def num_parameters(self) -> int:
        return len(self.x0)

    def values(self, theta: np.ndarray, circuit: QuantumCircuit | None = None) -> np.ndarray:
        """Flat vector -> values in ``circuit.parameters`` order (default: this ansatz's circuit)."""
        circ = circuit if circuit is not None else self.circuit
        if circ is self.circuit:
            return np.asarray(theta, dtype=float)[self.order]
        pos = {p.name: i for i, p in enumerate(self.circuit.parameters)}
        return np.asarray(theta, dtype=float)[[self.order[pos[p.name]] for p in circ.parameters]]


def cost_operator(
    bqm: dimod.BinaryQuadraticModel,
    labels: Sequence[Hashable],
    groups: Sequence[Sequence[int]] = (),
) -> tuple[SparsePauliOp, float]:
    """Ising cost operator of a BINARY ``bqm`` on qubits ``0..n-1``, scaled to max |coefficient| 1.

    ``groups`` (qubit indices of one-hot groups) are used for the constraint-preserving ansatz: on states
    with exactly one 1 per group every intra-group product ``x_a x_b`` is 0 and ``sum_g x = 1``, so those
    couplings are dropped and each group's linear terms are centred — the operator is unchanged on the
    feasible subspace but no longer dominated by the one-hot penalty. Returns (operator, scale), where
    operator = (C - const) / scale.
    """
    n = len(labels)
    idx = {v: i for i, v in enumerate(labels)}
    a = np.zeros(n)
    for v, bias in bqm.linear.items():
        a[idx[v]] = bias
    group_of = np.full(n, -1)
    for g, members in enumerate(groups):
        group_of[list(members)] = g
        a[list(members)] -= a[list(members)].mean()
    quad: dict[tuple[int, int], float] = {}
    for (u, v), bias in bqm.quadratic.items():
        i, j = sorted((idx[u], idx[v]))
        if group_of[i] >= 0 and group_of[i] == group_of[j]:
            continue
        quad[i, j] = quad.get((i, j), 0.0) + bias
    z = -a / 2.0
    terms: list[tuple[str, list[int], float]] = []
    for (i, j), b in quad.items():
        z[i] -= b / 4.0
        z[j] -= b / 4.0
        if b != 0.0:
            terms.append(("ZZ", [i, j], b / 4.0))
    terms += [("Z", [i], float(c)) for i, c in enumerate(z) if c != 0.0]
    scale = max((abs(t[2]) for t in terms), default=0.0)
    if scale == 0.0:  # constant cost: any state is optimal; keep a valid (zero) operator
        return SparsePauliOp.from_sparse_list([("Z", [0], 0.0)], n), 1.0
    return SparsePauliOp.from_sparse_list([(p, q, c / scale) for p, q, c in terms], n), scale


def w_state(circuit: QuantumCircuit, qubits: Sequence[int]) -> None:
    """Append a W state (equal superposition of the one-hot states) on ``qubits``."""
    s = len(qubits)
    circuit.x(qubits[0])
    for k in range(s - 1):
        theta = 2.0 * math.acos(math.sqrt(1.0 / (s - k)))
        circuit.cry(theta, qubits[k], qubits[k + 1])
        circuit.cx(qubits[k + 1], qubits[k])


def xy_mixer(n: int, groups: Sequence[Sequence[int]], topology: str) -> SparsePauliOp:
    """Sum over each group's edges of (XX + YY)/2 (ring or complete graph), plus X on ungrouped qubits.

    Terms are listed edge by edge with XX next to YY; ``qaoa_ansatz`` evolves them in this order, so every
    factor ``exp(-i b (XX+YY)/2)`` is exact and conserves the number of 1s in each group.
    """
    terms: list[tuple[str, list[int], float]] = []
    grouped: set[int] = set()
    for members in groups:
        m = list(members)
        grouped.update(m)
        s = len(m)
        if s < 2:
            continue
        if topology == "complete" or s == 3:
            edges = [(m[a], m[b]) for a in range(s) for b in range(a + 1, s)]
        elif s == 2:
            edges = [(m[0], m[1])]
        else:
            edges = [(m[a], m[(a + 1) % s]) for a in range(s)]
        for u, v in edges:
            terms += [("XX", [u, v], 0.5), ("YY", [u, v], 0.5)]
    terms += [("X", [q], 1.0) for q in range(n) if q not in grouped]
    if not terms:  # every group has a single member: nothing to mix
        terms = [("Z", [0], 0.0)]
    return SparsePauliOp.from_sparse_list(terms, n)


def qaoa_circuit(
    bqm: dimod.BinaryQuadraticModel,
    labels: Sequence[Hashable],
    reps: int,
    mixer: str = "x",
    groups: Sequence[Sequence[int]] = (),
) -> Ansatz:
    """QAOA with ``reps`` layers; flat parameters are ``[gamma_0..gamma_{p-1}, beta_0..beta_{p-1}]``.

    ``mixer="x"``: |+>^n start and the transverse-field mixer (the one-hot constraint lives only in the
    QUBO's penalty). ``"xy-ring"`` / ``"xy-complete"``: the alternating-operator ansatz of Hadfield et
    al. (2019) — a W state per one-hot group and XY mixers inside each group, so every measured bitstring
    has exactly one 1 per group. Start: a linear ramp (gamma up, beta down), in radians.
    """
    if mixer not in MIXERS:
        raise ValueError(f"unknown mixer {mixer!r}: use one of {', '.join(MIXERS)}")
    n = len(labels)
    use_groups = groups if mixer != "x" else ()
    op, _ = cost_operator(bqm, labels, use_groups)
    if mixer == "x":
        circ = qaoa_ansatz(op, reps=reps)
    else:
        init = QuantumCircuit(n)
        grouped: set[int] = set()
        for members in use_groups:
            w_state(init, list(members))
            grouped.update(members)
        for q in range(n):
            if q not in grouped:
                init.h(q)
        circ = qaoa_ansatz(op, reps=reps, initial_state=init,
                           mixer_operator=xy_mixer(n, use_groups, mixer.split("-")[1]))
    circ.measure_all()
    pos = {}
    for k in range(reps):
        pos[f"γ[{k}]"] = k
        pos[f"β[{k}]"] = reps + k
    order = np.array([pos[p.name] for p in circ.parameters], dtype=np.int64)
    t = (np.arange(reps) + 0.5) / reps
    x0 = np.concatenate([0.6 * t, 0.6 * (1.0 - t)])
    bounds = [(-math.pi, math.pi)] * (2 * reps)
    return Ansatz(circ, order, x0, "qaoa", reps, mixer, bounds)


def hardware_efficient_circuit(n: int, reps: int, entanglement: str = "linear",
                               rng: np.random.Generator | None = None) -> Ansatz:
    """RY rotation layers and CZ entanglers (``n_local``), ``reps`` entangling layers; random start."""
    circ = n_local(n, "ry", "cz" if n > 1 else [], entanglement=entanglement, reps=reps)
    circ.measure_all()
    params = list(circ.parameters)
    order = np.arange(len(params), dtype=np.int64)
    r = rng if rng is not None else np.random.default_rng(0)
    x0 = r.uniform(0.0, math.pi, len(params))
    return Ansatz(circ, order, x0, "vqe", reps, "-", [(-2 * math.pi, 2 * math.pi)] * len(params))

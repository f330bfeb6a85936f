"""A hardware-efficient variational circuit (VQE-style) as a dimod sampler, trained on the QUBO's CVaR."""

from __future__ import annotations

from typing import Any

import dimod
import numpy as np

from .circuits import Ansatz, hardware_efficient_circuit
from .variational import VariationalSampler


class VQESampler(VariationalSampler):
    """RY + CZ layers (Qiskit ``n_local``) whose angles minimise the CVaR of the QUBO energy
    (Barkoutsos et al. 2020; ``alpha=0.25`` by default), then measured.

    The circuit knows nothing of the one-hot structure: validity comes from the QUBO's penalties
    (``onehot_groups`` only keep decomposed sub-problems whole per decision). ``warm_start`` reuses the last
    optimal angles for a circuit of the same size; otherwise the start is uniform in [0, pi].
    """

    kind = "vqe"

    def _ansatz(self, bqm: dimod.BinaryQuadraticModel, labels: list, groups: list[list[int]],
                o: dict[str, Any], rng: np.random.Generator) -> Ansatz:
        return hardware_efficient_circuit(len(labels), int(o["reps"]), o["entanglement"], rng)

    def _warm_key(self, ansatz: Ansatz, n: int) -> tuple:
        return (ansatz.kind, ansatz.reps, n, ansatz.num_parameters)

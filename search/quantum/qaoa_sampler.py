"""QAOA as a dimod sampler: transverse-field (X) or constraint-preserving XY mixers, angles by SciPy."""

from __future__ import annotations

from typing import Any

import dimod
import numpy as np

from .circuits import Ansatz, qaoa_circuit
from .variational import VariationalSampler


class QAOASampler(VariationalSampler):
    """Quantum Approximate Optimisation Algorithm sampler (Farhi et al. 2014; Hadfield et al. 2019).

    Each call: build the cost operator of the (sub-)QUBO scaled to max |coefficient| 1, the ``reps``-layer
    QAOA circuit with the chosen mixer, optimise (gamma, beta) with SciPy on the CVaR of ``shots`` measured
    energies, then measure the optimised circuit. ``mixer="xy-ring"``/``"xy-complete"`` with
    ``onehot_groups`` starts from a W state per group and mixes only inside groups, so every bitstring is
    one-hot valid (on a noiseless simulator). ``warm_start`` reuses the last optimal angles (parameter
    transfer between consecutive QUBOs of the same space).

        >>> QAOASampler(reps=3, mixer="xy-ring", seed=1).sample(bqm, onehot_groups=[[0, 1, 2], [3, 4]])
    """

    kind = "qaoa"

    def _ansatz(self, bqm: dimod.BinaryQuadraticModel, labels: list, groups: list[list[int]],
                o: dict[str, Any], rng: np.random.Generator) -> Ansatz:
        return qaoa_circuit(bqm, labels, int(o["reps"]), o["mixer"], groups)

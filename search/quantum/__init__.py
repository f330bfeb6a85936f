"""Gate-model samplers for the architecture QUBO: QAOA (X or XY mixers) and a VQE-style circuit.

Both are ``dimod.Sampler``s built on Qiskit (``pip install 'qnas-edge[quantum]'``); QUBOs larger than
``max_qubits`` are decomposed with dwave-hybrid. Importing this package is cheap: Qiskit loads only when a
sampler class is first used.
"""

from __future__ import annotations

from typing import Any

from .options import check_options, defaults, option_names

__all__ = ["QAOASampler", "VQESampler", "check_options", "defaults", "option_names"]


def __getattr__(name: str) -> Any:
    if name == "QAOASampler":
        from .qaoa_sampler import QAOASampler

        return QAOASampler
    if name == "VQESampler":
        from .vqe_sampler import VQESampler

        return VQESampler
    raise AttributeError(name)

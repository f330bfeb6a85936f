"""The one energy rule: energy per inference (mJ) = latency (ms) x active power (mW) / 1000.

Boards without a power monitor (nearly all) get this estimate, labelled `estimated`; the static cost
model, the board measurements, the Pareto front and the report all call this function.
"""

from __future__ import annotations


def energy_mj(latency_ms: float, active_mw: float) -> float:
    """Energy of one inference in mJ from its latency in ms and the board's active power in mW."""
    return float(latency_ms) * float(active_mw) / 1000.0

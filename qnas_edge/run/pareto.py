"""The Pareto front of a run's candidates.

Objectives: int8 validation accuracy (maximised) against latency (ms), RAM (bytes), flash (bytes) and
energy per inference (mJ) (minimised). Which figures count for a candidate, and their sources, is
decided in one place: `qnas_edge.records.figures_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qnas_edge.records import METRICS, Candidate, Figures, figures_of, longest_trained


@dataclass
class ParetoPoint:
    """One candidate placed in objective space."""

    n: int
    accuracy: float
    figures: Figures
    feasible: bool | None = None
    status: str = "done"

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "feasible": self.feasible, "status": self.status,
                **{m: self.figures.get(m) for m in METRICS}, "sources": dict(self.figures.sources)}


def dominates(a: Mapping[str, float], b: Mapping[str, float], objectives: Sequence[str],
              maximize: Iterable[str] = ("accuracy",)) -> bool:
    """True when `a` is at least as good as `b` in every objective and strictly better in one."""
    maxi = set(maximize)
    better = False
    for key in objectives:
        va, vb = (a[key], b[key]) if key in maxi else (-a[key], -b[key])
        if va < vb:
            return False
        if va > vb:
            better = True
    return better


def pareto_indices(values: Sequence[Mapping[str, float | None]], objectives: Sequence[str],
                   maximize: Iterable[str] = ("accuracy",)) -> list[int]:
    """Indices of the non-dominated entries of `values` (ties: identical points all stay on the front).

    An objective missing (None) for any entry is left out of the comparison for all of them, so a
    candidate is never ruled in or out on a figure nobody has.
    """
    used = [k for k in objectives if all(v.get(k) is not None for v in values)]
    maxi = tuple(maximize)
    front = []
    for i, vi in enumerate(values):
        if not any(dominates(vj, vi, used, maxi) for j, vj in enumerate(values) if j != i):
            front.append(i)
    return front


def pareto_front(points: Sequence[ParetoPoint]) -> list[ParetoPoint]:
    """Non-dominated points over accuracy (max) and latency, RAM, flash, energy (min), by accuracy desc."""
    values = [{"accuracy": p.accuracy, **{m: p.figures.get(m) for m in METRICS}} for p in points]
    chosen = [points[i] for i in pareto_indices(values, ("accuracy", *METRICS))]
    return sorted(chosen, key=lambda p: (-p.accuracy, p.figures.latency_ms or 0.0, p.n))


def points_from_rows(rows: Iterable[Candidate], board: Any) -> list[ParetoPoint]:
    """Pareto points of the completed (`done`) candidates that have an int8 accuracy.

    `unmeasured` rows stay out: their board figures are still to come (resume measures them); so do
    candidates only screened with short training when others were trained in full (--fidelity auto)."""
    out = []
    for row in longest_trained([r for r in rows if r.accuracy is not None and r.status == "done"]):
        fig = figures_of(row.measurement, static_of(row), board)
        out.append(ParetoPoint(row.n, float(row.accuracy), fig, row.feasible, row.status))
    return out


def static_of(row: Candidate) -> dict[str, Any]:
    """The static estimate of a candidate: of its built .tflite when built, else of its architecture."""
    return {**(row.predicted or {}), **(row.metrics.get("static") or {})}

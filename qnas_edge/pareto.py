"""Deployment figures of a run's candidates and their Pareto front.

Objectives: int8 validation accuracy (maximised) against latency (ms), RAM (bytes), flash (bytes) and
energy per inference (mJ) (minimised). A candidate's figures come from the board where it was
measured and from the static estimate otherwise; every figure carries its source so a report never
passes an estimate off as a measurement:

- ``measured``  read on real hardware (serial / SSH board),
- ``simulated`` reported by the virtual board (board-twin timing model, real TFLM kernels),
- ``estimated`` energy = measured (or simulated) latency x the profile's active power,
- ``static``    the cost model's estimate made before the candidate was measured.

RAM on a TFLite Micro board is the arena the board used plus the profile's RAM reserve (the same
definition as the static estimate and the RAM budget); on a Linux board it is the peak resident set
the board agent reported. Flash is the model size plus the flash reserve (known exactly once built).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

METRICS = ("latency_ms", "ram_bytes", "flash_bytes", "energy_mj")   # all minimised
UNITS = {"latency_ms": "ms", "ram_bytes": "B", "flash_bytes": "B", "energy_mj": "mJ"}


@dataclass
class Figures:
    """Latency (ms), RAM (bytes), flash (bytes), energy (mJ) of one candidate + where each comes from."""

    latency_ms: float | None = None
    ram_bytes: int | None = None
    flash_bytes: int | None = None
    energy_mj: float | None = None
    sources: dict[str, str] = field(default_factory=dict)   # metric -> measured|simulated|estimated|static

    def get(self, metric: str) -> float | None:
        return getattr(self, metric)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def candidate_figures(measurement: Mapping[str, Any] | None, predicted: Mapping[str, Any] | None,
                      metrics: Mapping[str, Any] | None = None,
                      board: Mapping[str, Any] | None = None) -> Figures:
    """Best available figures of one candidate: the board's where measured, else the static estimate.

    `measurement` is Measurement.to_dict() (or None), `predicted` the static estimate dict, `metrics`
    the build metrics, `board` Profile.to_dict() (for the RAM reserve of TFLM boards).
    """
    predicted = predicted or {}
    metrics = metrics or {}
    board = board or {}
    fig = Figures()
    m = measurement or None
    src = str(m.get("source") or "measured") if m else None

    lat = _num(m.get("latency_ms_median")) if m else None
    if lat is not None:
        fig.latency_ms, fig.sources["latency_ms"] = lat, src
    elif _num(predicted.get("latency_ms")) is not None:
        fig.latency_ms, fig.sources["latency_ms"] = _num(predicted.get("latency_ms")), "static"

    energy = _num(m.get("energy_mj")) if m else None
    if energy is not None:
        fig.energy_mj = energy
        fig.sources["energy_mj"] = src if m.get("energy_source") == "measured" else "estimated"
    elif _num(predicted.get("energy_mj")) is not None:
        fig.energy_mj, fig.sources["energy_mj"] = _num(predicted.get("energy_mj")), "static"

    ram = _measured_ram(m, board) if m else None
    if ram is not None:
        fig.ram_bytes, fig.sources["ram_bytes"] = ram, src
    else:
        static_ram = _num(predicted.get("ram_bytes"))
        if static_ram is None:
            static_ram = _num(metrics.get("ram_bytes"))
        if static_ram is not None:
            fig.ram_bytes, fig.sources["ram_bytes"] = int(static_ram), "static"

    flash = _num((m.get("extra") or {}).get("flash_bytes")) if m else None
    if flash is not None:
        fig.flash_bytes, fig.sources["flash_bytes"] = int(flash), src
    else:
        static_flash = _num(metrics.get("flash_bytes"))
        if static_flash is None:
            static_flash = _num(predicted.get("flash_bytes"))
        if static_flash is not None:
            fig.flash_bytes, fig.sources["flash_bytes"] = int(static_flash), "static"
    return fig


def _measured_ram(m: Mapping[str, Any], board: Mapping[str, Any]) -> int | None:
    extra = m.get("extra") or {}
    if _num(extra.get("ram_bytes")) is not None:
        return int(extra["ram_bytes"])
    if _num(m.get("arena_bytes")) is not None:
        return int(m["arena_bytes"]) + int(board.get("ram_reserve_bytes") or 0)
    if _num(m.get("peak_rss_bytes")) is not None:
        return int(m["peak_rss_bytes"])
    return None


def budget_violations(figures: Figures, budgets: Mapping[str, float | None]) -> list[str]:
    """Metrics whose figure exceeds its budget (budgets None or missing are unconstrained)."""
    out = []
    for metric in METRICS:
        limit, value = budgets.get(metric), figures.get(metric)
        if limit is not None and value is not None and value > float(limit):
            out.append(metric)
    return out


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


def points_from_rows(rows: Iterable[Any], board: Mapping[str, Any] | None = None) -> list[ParetoPoint]:
    """Pareto points of the completed (`done`) ledger rows (CandidateRow) that have an int8 accuracy.

    `unmeasured` rows stay out: their board figures are still to come (resume measures them)."""
    out = []
    for row in rows:
        if row.accuracy is None or row.status != "done":
            continue
        fig = candidate_figures(row.measurement, row.predicted, row.metrics, board)
        out.append(ParetoPoint(row.n, float(row.accuracy), fig, row.feasible, row.status))
    return out

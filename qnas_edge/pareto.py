"""Deployment figures of a run's candidates and their Pareto front.

Objectives: int8 validation accuracy (maximised) against latency (ms), RAM (bytes), flash (bytes) and
energy per inference (mJ) (minimised). A candidate's figures come from the board where it was
measured and from the static estimate otherwise; every figure carries its source so a report never
passes an estimate off as a measurement:

- ``measured``  read on real hardware (serial / SSH board),
- ``simulated`` reported by the virtual board (board-twin timing model, real TFLM kernels),
- ``estimated`` energy = measured (or simulated) latency x the profile's active power,
- ``static``    the cost model's estimate made before the candidate was measured.

The definitions match the loop's feasibility check (`qnas_edge.loop.measured_figures`): RAM on a
TFLite Micro board is the arena the board used plus the profile's RAM reserve (the RAM budget's
definition); on Linux boards RAM stays the static estimate (the agent's peak RSS includes the Python
interpreter). Energy without a power monitor is measured latency x active power. Flash is the model
size plus the flash reserve, known once built.
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

    Same definition as the loop's feasibility check (`qnas_edge.loop.measured_figures`), plus the source
    of each figure. `measurement` is Measurement.to_dict() (or None), `predicted` the proposal-time
    estimate, `metrics` the build metrics (their `static` entry is the estimate of the built .tflite,
    preferred over `predicted`), `board` Profile.to_dict() (runtime, RAM reserve, active power).
    """
    metrics = metrics or {}
    board = board or {}
    static = {**(predicted or {}), **(metrics.get("static") or {})}
    fig = Figures()

    def put(metric: str, value: float | None, source: str) -> None:
        setattr(fig, metric, int(value) if metric.endswith("_bytes") else float(value))
        fig.sources[metric] = source

    def put_static(metric: str, *fallbacks: Any) -> None:
        for value in (static.get(metric), *fallbacks):
            if _num(value) is not None:
                put(metric, _num(value), "static")
                return

    m = measurement or None
    src = str(m.get("source") or "measured") if m else ""
    lat = _num(m.get("latency_ms_median")) if m else None
    if lat is not None:
        put("latency_ms", lat, src)
    else:
        put_static("latency_ms")

    energy = _num(m.get("energy_mj")) if m else None
    active_mw = _num((board.get("power") or {}).get("active_mw"))
    if energy is not None:
        put("energy_mj", energy, src if m.get("energy_source") == "measured" else "estimated")
    elif lat is not None and active_mw is not None:
        put("energy_mj", lat * active_mw / 1000.0, "estimated")
    else:
        put_static("energy_mj")

    ram = _measured_ram(m, board) if m else None
    if ram is not None:
        put("ram_bytes", ram, src)
    else:
        put_static("ram_bytes", metrics.get("ram_bytes"))

    flash = _num((m.get("extra") or {}).get("flash_bytes")) if m else None
    if flash is not None:
        put("flash_bytes", flash, src)
    else:
        put_static("flash_bytes", metrics.get("flash_bytes"))
    return fig


def _measured_ram(m: Mapping[str, Any], board: Mapping[str, Any]) -> int | None:
    """RAM the board reported: TFLM arena + the profile's RAM reserve (the budget's definition)."""
    extra = m.get("extra") or {}
    if _num(extra.get("ram_bytes")) is not None:
        return int(extra["ram_bytes"])
    if board.get("runtime", "tflm") == "tflm" and _num(m.get("arena_bytes")):
        return int(m["arena_bytes"]) + int(board.get("ram_reserve_bytes") or 0)
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

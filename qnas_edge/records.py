"""The records that cross the run's boundaries (pipeline -> loop -> ledger -> Pareto -> report/export)
and the one rule for which of a candidate's figures count.

A candidate's figures come from the board where it was measured and from the static estimate
otherwise; every figure carries its source so nothing passes an estimate off as a measurement:

- ``measured``  read on real hardware (serial / SSH board),
- ``simulated`` reported by the virtual board (simulated timing, real TFLM kernels),
- ``estimated`` energy = measured (or simulated) latency x the profile's active power,
- ``static``    the cost model's estimate of the built model (or of the architecture, before building).

RAM on a TFLite Micro board is the arena the board used plus the profile's RAM reserve (the RAM
budget's definition); on Linux boards RAM stays the static estimate (the agent's peak RSS includes the
Python interpreter). Flash is the model size plus the flash reserve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from device_profiles.energy import energy_mj
from firmware_bridge.measurement import Measurement

METRICS = ("latency_ms", "ram_bytes", "flash_bytes", "energy_mj")   # all minimised
UNITS = {"latency_ms": "ms", "ram_bytes": "B", "flash_bytes": "B", "energy_mj": "mJ"}
STATES = ("proposed", "done", "unmeasured", "failed")


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

    def values(self) -> dict[str, float]:
        """The figures that are known, by metric name (the shape budgets are written in)."""
        return {m: float(v) for m in METRICS if (v := self.get(m)) is not None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Candidate:
    """One candidate of a run as the ledger stores it. States: proposed -> done | unmeasured | failed."""

    n: int
    round: int
    arch_id: str
    arch: dict[str, Any]
    status: str
    score: float | None = None
    accuracy: float | None = None
    feasible: bool | None = None
    predicted: dict[str, Any] = field(default_factory=dict)     # static estimate at proposal time
    measurement: Measurement | None = None                       # what the board reported
    metrics: dict[str, Any] = field(default_factory=dict)        # build metrics (accuracy, MACs, static, ...)
    timings: dict[str, float] = field(default_factory=dict)      # seconds per stage
    artifacts: str | None = None                                 # folder relative to the run dir
    error: str | None = None
    created: float = 0.0
    completed: float | None = None

    @property
    def source(self) -> str:
        """Where this candidate's latency comes from: measured | simulated | static."""
        return self.measurement.source if self.measurement is not None else "static"

    @property
    def fidelity(self) -> float:
        """Fraction of the full proxy training its accuracy comes from (< 1: screened by --fidelity auto)."""
        return float(self.metrics.get("fidelity", 1.0))

    @property
    def accuracy_kind(self) -> str:
        """'int8' (the deployable model's validation accuracy) or 'float' (a --fidelity auto screen)."""
        return str(self.metrics.get("accuracy_kind", "int8"))

    @property
    def rung_epochs(self) -> int | None:
        """Epochs behind the accuracy of a --fidelity auto candidate (its current rung's); None otherwise."""
        rung = self.metrics.get("rung")
        return next((e["epochs"] for e in self.metrics.get("rungs") or [] if e["rung"] == rung), None)


def longest_trained(rows: Sequence[Candidate]) -> list[Candidate]:
    """The rows trained at the highest fidelity among `rows`: accuracies after different amounts of
    training do not compare, so the winner and the Pareto front are chosen among these only."""
    top = max((c.fidelity for c in rows), default=1.0)
    return [c for c in rows if c.fidelity >= top]


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _board_facts(board: Any) -> tuple[bool, int, float | None]:
    """(runs TFLM, RAM reserve bytes, active mW) of a Profile or of its `to_dict()` (ledger meta)."""
    from qnas_edge.pipeline.targets import target_class

    if isinstance(board, Mapping):
        power = board.get("power") or {}
        return (target_class(board.get("runtime", "tflm")).arena_is_ram, int(board.get("ram_reserve_bytes") or 0),
                _num(power.get("active_mw")))
    return target_class(board.runtime).arena_is_ram, int(board.ram_reserve_bytes), float(board.power.active_mw)


def figures_of(measurement: Measurement | None, static: Mapping[str, Any] | None, board: Any) -> Figures:
    """The figures that count for a candidate: the board's where measured, the static estimate otherwise.

    `static` is the cost model's estimate (of the built .tflite when there is one); `board` a Profile
    or Profile.to_dict(). The loop's budget check, the Pareto front, the report and the export all
    call this, so they can never disagree.
    """
    static = static or {}
    is_tflm, ram_reserve, active_mw = _board_facts(board)
    fig = Figures()

    def put(metric: str, value: float | None, source: str) -> bool:
        if value is None:
            return False
        setattr(fig, metric, int(value) if metric.endswith("_bytes") else float(value))
        fig.sources[metric] = source
        return True

    m = measurement
    src = m.source if m is not None else "static"
    lat = m.latency_ms_median if m is not None else None
    put("latency_ms", lat, src) or put("latency_ms", _num(static.get("latency_ms")), "static")
    if m is not None and m.energy_mj is not None:
        put("energy_mj", m.energy_mj, src if m.energy_source == "measured" else "estimated")
    elif lat is not None and active_mw is not None:
        put("energy_mj", energy_mj(lat, active_mw), "estimated")
    else:
        put("energy_mj", _num(static.get("energy_mj")), "static")
    ram = m.arena_bytes + ram_reserve if (m is not None and is_tflm and m.arena_bytes) else None
    put("ram_bytes", ram, src) or put("ram_bytes", _num(static.get("ram_bytes")), "static")
    put("flash_bytes", _num(static.get("flash_bytes")), "static")
    return fig


def budget_violations(figures: Figures, budgets: Mapping[str, float | None]) -> list[str]:
    """Metrics whose figure exceeds its budget (budgets None or missing are unconstrained)."""
    out = []
    for metric in METRICS:
        limit, value = budgets.get(metric), figures.get(metric)
        if limit is not None and value is not None and value > float(limit):
            out.append(metric)
    return out


def measurement_of(data: Mapping[str, Any] | Measurement | None) -> Measurement | None:
    """A Measurement from what a ledger column holds (None stays None)."""
    if data is None or isinstance(data, Measurement):
        return data
    return Measurement.from_dict(dict(data))

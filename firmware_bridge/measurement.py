"""The Measurement record every board link returns (serial, SSH, virtual board).

`source` says where the figures come from: `measured` on real hardware, `simulated` from the
virtual board's timing model. Energy carries its own label because most boards have no power
monitor: `estimated` (measured latency x the profile's active power) or `measured`.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Measurement:
    board_id: str
    source: str                          # "measured" | "simulated" | "estimated"
    runs: int
    latency_ms_median: float
    latency_ms_p90: float
    latency_ms_min: float
    latency_ms_max: float
    latencies_ms: list[float] = field(default_factory=list)   # per run (ms per inference)
    runtime: str = ""                    # e.g. "tflm", "tflite_runtime 2.14.0", "tvm 0.27"
    arena_bytes: int | None = None       # TFLM arena actually used on the board
    flash_bytes: int | None = None       # model bytes stored on the board (flash on MCUs)
    ram_free_bytes: int | None = None
    flash_free_bytes: int | None = None
    peak_rss_bytes: int | None = None    # Linux boards
    energy_mj: float | None = None
    energy_source: str | None = None     # "estimated" | "measured"
    output: list[float] | None = None    # raw output vector of the last inference
    link: str = ""                       # "serial:/dev/ttyACM0", "ssh:pi@host", "virtual"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Also reads records written before `latencies_ms` existed (their samples were in `extra`)."""
        data = dict(data)
        known = set(cls.__dataclass_fields__)
        extra = dict(data.get("extra") or {})
        if not data.get("latencies_ms") and extra.get("samples_ms"):
            data["latencies_ms"] = list(extra["samples_ms"])
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_latencies(cls, samples_ms: list[float], **fields: Any) -> Measurement:
        """A Measurement from per-run latencies (ms); the statistics are computed here, once."""
        return cls(latencies_ms=[float(s) for s in samples_ms], **latency_stats(samples_ms), **fields)

    def with_estimated_energy(self, active_mw: float) -> Measurement:
        """Fill energy (mJ) from the one energy rule, labelled estimated, unless the board measured it."""
        from device_profiles.energy import energy_mj

        if self.energy_source == "measured" and self.energy_mj is not None:
            return self
        self.energy_mj = energy_mj(self.latency_ms_median, active_mw)
        self.energy_source = "estimated"
        return self


def latency_stats(samples_ms: list[float]) -> dict[str, float]:
    """median / p90 / min / max of per-inference latencies in ms."""
    if not samples_ms:
        raise ValueError("no latency samples")
    s = sorted(samples_ms)
    p90 = s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
    return {
        "latency_ms_median": float(statistics.median(s)),
        "latency_ms_p90": float(p90),
        "latency_ms_min": float(s[0]),
        "latency_ms_max": float(s[-1]),
    }

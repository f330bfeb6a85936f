"""The settings of a search run: everything that defines it besides the board (stored in the ledger)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from firmware_bridge.device import DeviceSpec


@dataclass
class SearchSettings:
    """Trial/time budgets, training epochs, strategy, board budgets (ms, bytes, mJ), device link."""

    data: str = "digits"
    epochs: int = 3
    final_epochs: int = 0
    trials: int = 12
    time_budget_min: float | None = None
    strategy: str = "qubo"
    sampler: str = "neal"
    sampler_options: dict[str, str] = field(default_factory=dict)   # --sampler-option KEY=VALUE
    seed: int = 0
    batch: int = 2
    runs: int = 10
    budgets: dict[str, float] = field(default_factory=dict)
    device: DeviceSpec = field(default_factory=DeviceSpec)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = self.device.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSettings:
        d = dict(d)
        d["device"] = DeviceSpec.from_dict(d.get("device") or {})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

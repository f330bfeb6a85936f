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
    fidelity: str = "off"                  # "auto": successive halving over proxy epochs (search.fidelity)
    ladder: list[int] | None = None        # --fidelity auto: epochs of each rung, fixed when the run starts
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
    # scale-out on Ray (qnas_edge.cluster); the defaults keep the run in-process without importing Ray
    workers: int = 1                        # candidates built at once (Ray tasks when > 1)
    ray_address: str | None = None          # an existing Ray cluster ("auto" as Ray means it)
    gpus_per_trial: float = 0.0             # GPUs each candidate's training asks Ray for
    boards: list[DeviceSpec] = field(default_factory=list)   # this machine's boards when more than one

    @property
    def parallel(self) -> bool:
        """True when the run schedules candidates on Ray instead of the in-process loop."""
        return self.workers > 1 or bool(self.ray_address) or len(self.boards) > 1

    def check_combination(self) -> None:
        """Refuse settings that cannot run together (UsageError, exit 2) before anything is written."""
        from qnas_edge.errors import UsageError

        if self.parallel and self.fidelity == "auto":
            raise UsageError("--fidelity auto runs in-process only; drop --workers/--ray-address/extra --port "
                             "or use --fidelity off")

    def fidelity_ladder(self):
        """The run's successive-halving bracket (search.fidelity.SuccessiveHalving), None when off.

        A new run fixes `ladder` from `epochs` (SearchRun.start); a run recorded before the ladder was
        stored screened from 1 epoch, so it resumes on that ladder."""
        if self.fidelity != "auto":
            return None
        from search.fidelity import SuccessiveHalving

        if self.ladder is None:     # recorded before the ladder was stored: it screened from 1 epoch
            return SuccessiveHalving.top_down(self.epochs, min_epochs=1)
        return SuccessiveHalving.from_epochs(self.ladder)

    def local_boards(self) -> list[DeviceSpec]:
        """The boards this machine offers a parallel run: the listed ones, else one per worker for
        virtual boards, else the one device."""
        if self.boards:
            return list(self.boards)
        if not self.device.measures:
            return []
        return [self.device] * (self.workers if self.device.kind == "virtual" else 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = self.device.to_dict()
        d["boards"] = [b.to_dict() for b in self.boards]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSettings:
        d = dict(d)
        d["device"] = DeviceSpec.from_dict(d.get("device") or {})
        d["boards"] = [DeviceSpec.from_dict(b) for b in d.get("boards") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

"""The quantized-MobileNet search space and its QUBO cost tables, priced by the board's cost model.

Encoding (why it is exact). A `Skeleton` fixes the stem and the stages (output channels, stride,
maximum depth). The decisions are:

* `rw`: input resolution x width multiplier, one choice per combination such as "r16-w0.75";
* `s{i}_b{j}`: one decision per block slot, choices like "k5e4" / "k3e1se" (kernel, expansion, SE),
  plus "skip" for every slot but a stage's first (so depth is a consequence, not a decision).

Given `rw`, every block slot's layers depend only on its own choice: a stage's blocks after the first
all map (C, stride 1) -> (C), so which slots are skipped does not change the others' shapes, and the
network is the reference network (first blocks at a reference choice, other slots skipped) plus
each slot's own layers. Latency, energy and flash are sums over layers, so

    metric(arch) = base[rw] + sum_j cost[rw, slot j, choice j]

holds exactly; it is written as unary terms on `rw` and pairwise terms ((rw, r), (slot, c)) for the
QUBO. Latency being linear in the board's coefficients, each table entry stores the cost-model feature
vector, so recalibrated coefficients rebuild the tables without re-lowering anything.

RAM is a maximum, not a sum: TFLM needs the largest live set, not the total. It is encoded exactly as a
count of over-budget parts (`ram_over`, budget 0): the reference network and every slot choice that, on
its own, needs more working memory than the budget allows. The working memory of a part is its peak
activation bytes (inputs + outputs of one op) times `arena_factor` (TFLM's arena over that peak,
learned from built models in the closed loop); the built model's exact arena has the last word.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from device_profiles.cost_model import CostModel
from device_profiles.energy import energy_mj
from device_profiles.layers import Layer
from device_profiles.profile import Profile
from qnas_edge.errors import UsageError
from qnas_edge.pipeline.architecture import Architecture, Block, Stage
from qnas_edge.pipeline.lowering import estimate_model_bytes, lower
from qnas_edge.pipeline.targets import target_for
from search import Decision, Space

SKIP = "skip"


@dataclass(frozen=True)
class Skeleton:
    """Fixed macro structure and the choice lists of the searchable parts."""

    stem_channels: int = 8
    stem_stride: int = 2
    stages: tuple[tuple[int, int, int], ...] = ((16, 1, 2), (24, 2, 3), (40, 2, 3))  # (channels, stride, max depth)
    resolutions: tuple[int, ...] = (8, 12, 16, 24, 32)
    widths: tuple[float, ...] = (0.5, 0.75, 1.0)
    kernels: tuple[int, ...] = (3, 5, 7)
    expansions: tuple[int, ...] = (1, 2, 3, 4, 6)
    se: tuple[bool, ...] = (False, True)

    def block_choices(self) -> list[str]:
        return [block_label(Block(k, e, s)) for k, e, s in itertools.product(self.kernels, self.expansions, self.se)]


def block_label(b: Block) -> str:
    return f"k{b.kernel}e{b.expansion}{'se' if b.se else ''}"


def parse_block(label: str) -> Block:
    se = label.endswith("se")
    core = label[:-2] if se else label
    k, e = core[1:].split("e")
    return Block(int(k), int(e), se)


def rw_label(res: int, width: float) -> str:
    return f"r{res}-w{width:g}"


def parse_rw(label: str) -> tuple[int, float]:
    r, w = label.split("-")
    return int(r[1:]), float(w[1:])


@dataclass
class _Entry:
    """What one (rw, slot, choice) contributes: cost-model features, model bytes, peak activations."""

    features: dict[str, float]
    model_bytes: float
    peak_bytes: int
    weight_bytes: int


@dataclass
class MobileNetSpace:
    """Space + exact cost tables for one board, dataset shape and skeleton."""

    profile: Profile
    input_channels: int
    num_classes: int
    skeleton: Skeleton = field(default_factory=Skeleton)
    arena_factor: float = 1.25

    def __post_init__(self) -> None:
        self.slots = [(i, j) for i, (_, _, depth) in enumerate(self.skeleton.stages) for j in range(depth)]
        rws = []
        for res, width in itertools.product(self.skeleton.resolutions, self.skeleton.widths):
            try:
                self._reference(res, width).validate()
            except UsageError:
                continue  # this resolution collapses under the skeleton's strides
            rws.append(rw_label(res, width))
        if not rws:
            raise UsageError("no input resolution fits the search skeleton's strides; add larger resolutions")
        self.rw_choices = rws
        blocks = self.skeleton.block_choices()
        decisions = [Decision("rw", rws)]
        for i, j in self.slots:
            decisions.append(Decision(slot_name(i, j), blocks if j == 0 else [*blocks, SKIP]))
        self.space = Space(decisions)
        self._base: dict[str, _Entry] = {}
        self._table: dict[tuple[str, str, str], _Entry] = {}
        self._precompute()

    # ---- architecture <-> decisions ---------------------------------------------------------------
    def _reference(self, res: int, width: float, overrides: Mapping[tuple[int, int], Block] | None = None
                   ) -> Architecture:
        ref = Block(self.skeleton.kernels[0], self.skeleton.expansions[0], False)
        overrides = overrides or {}
        stages = []
        for i, (ch, stride, depth) in enumerate(self.skeleton.stages):
            blocks = [overrides.get((i, 0), ref)]
            blocks += [overrides[(i, j)] for j in range(1, depth) if (i, j) in overrides]
            stages.append(Stage(ch, stride, tuple(blocks)))
        return Architecture(res, width, self.skeleton.stem_channels, self.skeleton.stem_stride, tuple(stages))

    def to_architecture(self, decisions: Mapping[str, Any]) -> Architecture:
        """The Architecture a decision dict stands for (skipped slots dropped, order kept)."""
        res, width = parse_rw(decisions["rw"])
        chosen = {}
        for i, j in self.slots:
            label = decisions[slot_name(i, j)]
            if label != SKIP:
                chosen[(i, j)] = parse_block(label)
        arch = self._reference(res, width, chosen)
        arch.validate()
        return arch

    def layers(self, decisions: Mapping[str, Any]) -> list[Layer]:
        res = parse_rw(decisions["rw"])[0]
        return lower(self.to_architecture(decisions), (res, res, self.input_channels), self.num_classes)

    # ---- cost tables ------------------------------------------------------------------------------
    def _entry(self, layers: list[Layer], cm: CostModel) -> _Entry:
        return _Entry(cm.features(layers), float(estimate_model_bytes(layers)),
                      max((la.input_bytes + la.output_bytes for la in layers), default=0),
                      sum(la.weight_bytes for la in layers))

    def _precompute(self) -> None:
        cm = CostModel(self.profile)
        for rw in self.rw_choices:
            res, width = parse_rw(rw)
            shape = (res, res, self.input_channels)
            base = self._entry(lower(self._reference(res, width), shape, self.num_classes), cm)
            self._base[rw] = base
            for i, j in self.slots:
                name = slot_name(i, j)
                for label in self.space[name].choices:
                    if label == SKIP:
                        continue
                    arch = self._reference(res, width, {(i, j): parse_block(label)})
                    e = self._entry(lower(arch, shape, self.num_classes), cm)
                    feats = {k: e.features.get(k, 0.0) - base.features.get(k, 0.0)
                             for k in set(e.features) | set(base.features)}
                    self._table[(rw, name, label)] = _Entry(
                        feats, e.model_bytes - base.model_bytes, e.peak_bytes, e.weight_bytes - base.weight_bytes)

    def _latency(self, feats: Mapping[str, float], cm: CostModel) -> float:
        return sum(cm.coefficient(k) * v for k, v in feats.items() if v) / self.profile.clock_hz * 1000.0

    def cost_tables(self, cost_model: CostModel | None = None, budgets: Mapping[str, float] | None = None,
                    arena_factor: float | None = None) -> tuple[dict[str, dict], dict[str, float]]:
        """(costs, base_costs) for `search` strategies: latency_ms, energy_mj, flash_bytes, ram_over.

        `arena_factor` (TFLM arena / peak activation bytes, learned by the run) defaults to the
        space's prior `arena_factor`."""
        cm = cost_model or CostModel(self.profile)
        factor = self.arena_factor if arena_factor is None else float(arena_factor)
        limits = dict(budgets) if budgets is not None else cm.budget_limits()
        ram_limit = limits.get("ram_bytes", self.profile.ram_bytes)
        costs: dict[str, dict] = {m: {} for m in ("latency_ms", "energy_mj", "flash_bytes", "ram_over")}
        for rw in self.rw_choices:
            base = self._base[rw]
            lat = self._latency(base.features, cm)
            costs["latency_ms"][("rw", rw)] = lat
            costs["energy_mj"][("rw", rw)] = energy_mj(lat, self.profile.power.active_mw)
            costs["flash_bytes"][("rw", rw)] = base.model_bytes
            costs["ram_over"][("rw", rw)] = float(self._ram_needed(base.peak_bytes, base.weight_bytes, factor) > ram_limit)
        for i, j in self.slots:
            name = slot_name(i, j)
            for label in self.space[name].choices:
                if label == SKIP:
                    for metric in costs:
                        costs[metric][(name, label)] = 0.0
                    continue
                for metric in costs:
                    costs[metric].setdefault((name, label), 0.0)
                for rw in self.rw_choices:
                    e = self._table[(rw, name, label)]
                    lat = self._latency(e.features, cm)
                    key = (("rw", rw), (name, label))
                    costs["latency_ms"][key] = lat
                    costs["energy_mj"][key] = energy_mj(lat, self.profile.power.active_mw)
                    costs["flash_bytes"][key] = e.model_bytes
                    costs["ram_over"][key] = float(self._ram_needed(e.peak_bytes, 0, factor) > ram_limit)
        base_costs = {"latency_ms": 0.0, "energy_mj": 0.0,
                      "flash_bytes": float(self.profile.flash_reserve_bytes), "ram_over": 0.0}
        return costs, base_costs

    def _ram_needed(self, peak_bytes: int, weight_bytes: int, arena_factor: float) -> float:
        return target_for(self.profile).ram_needed(peak_bytes, weight_bytes, arena_factor)

    def search_budgets(self, budgets: Mapping[str, float]) -> dict[str, float]:
        """Budgets for the strategy: the additive ones as given, RAM as 'no part over budget'."""
        out = {k: float(v) for k, v in budgets.items() if k in ("latency_ms", "energy_mj", "flash_bytes")}
        out["ram_over"] = 0.5
        return out

    def static_figures(self, decisions: Mapping[str, Any], cost_model: CostModel | None = None
                       ) -> dict[str, float]:
        """The static estimator's figures for one architecture (what the QUBO tables must reproduce)."""
        cm = cost_model or CostModel(self.profile)
        layers = self.layers(decisions)
        est = cm.estimate_layers(layers, estimate_model_bytes(layers))
        return {"latency_ms": est.latency_ms, "energy_mj": est.energy_mj, "flash_bytes": est.flash_bytes,
                "peak_activation_bytes": est.peak_activation_bytes, "ram_bytes": est.ram_bytes,
                "macs": est.macs, "weight_bytes": est.weight_bytes}


def slot_name(stage: int, slot: int) -> str:
    return f"s{stage}_b{slot}"


def table_value(costs: Mapping[str, Mapping], base: Mapping[str, float], metric: str,
                decisions: Mapping[str, Any]) -> float:
    """Evaluate a cost table on one architecture (unary + pairwise terms + base), as the QUBO does."""
    table = costs[metric]
    total = base.get(metric, 0.0) + table.get(("rw", decisions["rw"]), 0.0)
    for name, choice in decisions.items():
        if name == "rw":
            continue
        total += table.get((name, choice), 0.0)
        total += table.get((("rw", decisions["rw"]), (name, choice)), 0.0)
    return total

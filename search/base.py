"""Shared ask/tell machinery: history, validation, budgets and random feasible sampling."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .constraints import CostTables, RawCostTables
from .space import Space

Arch = dict[str, Any]
Key = tuple[int, ...]


@dataclass(frozen=True)
class Observation:
    """One told architecture and its (latest) score."""

    arch: Arch
    score: float


class Strategy:
    """Base class: ``ask(n)`` proposes distinct, untold, budget-feasible architectures; ``tell`` records."""

    def __init__(
        self,
        space: Space,
        costs: RawCostTables | None = None,
        budgets: Mapping[str, float] | None = None,
        seed: int | None = None,
        base_costs: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(space, Space):
            raise ValueError(f"space must be a search.Space, got {type(space).__name__}")
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.budgets = dict(budgets or {})
        self.tables = CostTables(space, costs or {}, self.budgets, base_costs)
        self.tables.check_budgets()
        self.history: dict[Key, float] = {}
        self.fidelity: dict[Key, float] = {}  # fidelity of the score kept in history (1 = full training)
        self.observed: dict[tuple[Key, float], float] = {}  # every (architecture, fidelity) score told
        self.order: list[Key] = []  # keys in the order first told
        self.pending: set[Key] = set()

    # ------------------------------------------------------------------ public
    def ask(self, n: int = 1) -> list[Arch]:
        """Up to ``n`` distinct architectures, none told or pending, each meeting every budget.

        Fewer than ``n`` are returned only when the space holds no more such architectures.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"ask(n): n must be a positive integer, got {n!r}")
        keys = self._ask(int(n))
        out = []
        seen: set[Key] = set()
        for k in keys:
            if k in seen or k in self.history or k in self.pending:
                raise AssertionError(f"{type(self).__name__} proposed a duplicate architecture")
            if not self.tables.feasible(k):
                raise AssertionError(f"{type(self).__name__} proposed an infeasible architecture")
            seen.add(k)
            out.append(self.space.decode(k))
        self.pending |= seen
        return out

    def tell(self, arch: Mapping[str, Any], score: float, fidelity: float | None = None) -> None:
        """Record ``score`` (higher is better) for ``arch``; telling an architecture again updates it.

        ``fidelity`` in (0, 1] says how much of the full evaluation produced the score (e.g. proxy
        epochs / full epochs; None = 1). A score is replaced only by one of equal or higher fidelity, so
        a full-fidelity result supersedes an early, cheaper one and never the other way round.
        """
        key = self.space.encode(arch)
        try:
            s = float(score)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"score must be a number, got {score!r}") from exc
        if not math.isfinite(s):
            raise ValueError(f"score for {dict(arch)} is {s} (NaN/inf not allowed)")
        fid = 1.0 if fidelity is None else float(fidelity)
        if not (0.0 < fid <= 1.0):
            raise ValueError(f"fidelity must be in (0, 1], got {fidelity!r}")
        first = key not in self.history
        self.observed[(key, fid)] = s
        if not first and fid < self.fidelity.get(key, 1.0):
            self.pending.discard(key)
            return  # a lower-fidelity score never overwrites a better-founded one
        self.history[key] = s
        self.fidelity[key] = fid
        if first:
            self.order.append(key)
        self.pending.discard(key)
        self._on_tell(key, s, first)

    def set_costs(
        self,
        costs: RawCostTables,
        base_costs: Mapping[str, float] | None = None,
        budgets: Mapping[str, float] | None = None,
    ) -> None:
        """Replace the cost tables (e.g. after recalibrating the cost model); budgets kept unless given."""
        if budgets is not None:
            self.budgets = dict(budgets)
        model = CostTables(self.space, costs, self.budgets, base_costs)
        model.check_budgets()
        self.tables = model
        self._on_costs_changed()

    def costs(self, arch: Mapping[str, Any]) -> dict[str, float]:
        """Metric values of ``arch`` under the current cost tables."""
        vals = self.tables.evaluate(self.space.encode(arch))
        return {m: float(v) for m, v in zip(self.tables.metrics, vals, strict=True)}

    def is_feasible(self, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` meets every budget under the current cost tables."""
        return bool(self.tables.feasible(self.space.encode(arch)))

    @property
    def observations(self) -> list[Observation]:
        """Everything told so far (latest score per architecture), in first-told order."""
        return [Observation(self.space.decode(k), self.history[k]) for k in self.order]

    @property
    def best(self) -> Observation | None:
        """Best told architecture that meets the budgets under the current tables (None if none)."""
        feas = [k for k in self.order if self.tables.feasible(k)]
        if not feas:
            return None
        k = max(feas, key=lambda q: self.history[q])
        return Observation(self.space.decode(k), self.history[k])

    # ------------------------------------------------------------- subclasses
    def _ask(self, n: int) -> list[Key]:
        return self._random_feasible(n, set())

    def _on_tell(self, key: Key, score: float, first: bool) -> None:
        pass

    def _on_costs_changed(self) -> None:
        pass

    # ----------------------------------------------------------------- helpers
    def _taken(self, extra: set[Key]) -> set[Key]:
        return set(self.history) | self.pending | extra

    def _random_feasible(self, n: int, extra: set[Key], attempts: int = 20) -> list[Key]:
        """Uniform random feasible untold architectures (rejection), then randomised DFS if needed."""
        taken = self._taken(extra)
        out: list[Key] = []
        for _ in range(attempts):
            rows = self.space.random_index(self.rng, max(64, 4 * n))
            ok = self.tables.feasible(rows)
            for r in rows[ok]:
                k = tuple(int(c) for c in r)
                if k not in taken:
                    taken.add(k)
                    out.append(k)
                    if len(out) == n:
                        return out
        found, _ = self.tables.search_feasible(
            mode="random", rng=self.rng, exclude=taken, want=n - len(out), node_limit=200_000
        )
        return out + found

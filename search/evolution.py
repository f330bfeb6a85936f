"""Regularized (aging) evolution baseline (Real, Aggarwal, Huang & Le, AAAI 2019)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np

from .base import Key, Strategy
from .constraints import RawCostTables
from .space import Space


class RegularizedEvolution(Strategy):
    """Tournament selection on the ``population_size`` most recently told architectures.

    Until the population is full, proposals are uniform random feasible architectures. Afterwards each
    child is a one-decision mutation of the best of ``sample_size`` random population members; the
    oldest member dies as each new one is told (aging). Infeasible or already-seen children are
    re-drawn, so every proposal meets the budgets.
    """

    def __init__(
        self,
        space: Space,
        costs: RawCostTables | None = None,
        budgets: Mapping[str, float] | None = None,
        seed: int | None = None,
        base_costs: Mapping[str, float] | None = None,
        population_size: int = 20,
        sample_size: int = 5,
    ) -> None:
        super().__init__(space, costs, budgets, seed, base_costs)
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise ValueError("need population_size >= 2 and 1 <= sample_size <= population_size")
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[Key] = deque(maxlen=population_size)
        self._mutable = np.flatnonzero(space.sizes > 1)

    def _on_tell(self, key: Key, score: float, first: bool) -> None:
        if first:
            self.population.append(key)

    def mutate(self, parent: Key, n_changes: int = 1) -> Key:
        """Copy of ``parent`` with ``n_changes`` decisions set to a different random choice."""
        child = list(parent)
        if len(self._mutable) == 0:
            return tuple(child)
        for j in self.rng.choice(self._mutable, size=min(n_changes, len(self._mutable)), replace=False):
            c = int(self.rng.integers(self.space.sizes[j] - 1))
            child[j] = c if c < child[j] else c + 1
        return tuple(child)

    def _ask(self, n: int) -> list[Key]:
        if len(self.population) < self.population_size:
            return self._random_feasible(n, set())
        taken = self._taken(set())
        out: list[Key] = []
        pop = list(self.population)
        for _ in range(n):
            child = None
            for attempt in range(200):
                members = self.rng.choice(len(pop), size=self.sample_size, replace=False)
                parent = max((pop[i] for i in members), key=lambda k: self.history[k])
                cand = self.mutate(parent, 1 + attempt // 50)
                if cand not in taken and self.tables.feasible(cand):
                    child = cand
                    break
            if child is None:
                extra = self._random_feasible(1, set(out))
                if not extra:
                    break
                child = extra[0]
            taken.add(child)
            out.append(child)
        return out

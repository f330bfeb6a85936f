"""Quantum-inspired evolutionary algorithm for categorical decisions (Q-NAS: Szwarcman, Civitarese &
Vellasco, 2019).

Each *quantum individual* holds, for every decision, a probability distribution over its choices
(the categorical analogue of Q-bit amplitudes; initially uniform). Every generation each quantum
individual is *observed* ``repetition`` times to give classical individuals, which are crossed over
with that quantum individual's best classical individual so far. After evaluation the best classical
individual is kept (elitist replacement) and every ``update_every`` generations the quantum
individual's probabilities move towards it by ``update_rate``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import Key, Strategy
from .constraints import RawCostTables
from .space import Space


class QIEA(Strategy):
    """Q-NAS-style quantum-inspired evolution with ask/tell; every proposal meets the budgets."""

    def __init__(
        self,
        space: Space,
        costs: RawCostTables | None = None,
        budgets: Mapping[str, float] | None = None,
        seed: int | None = None,
        base_costs: Mapping[str, float] | None = None,
        num_quantum: int = 3,
        repetition: int = 3,
        update_rate: float = 0.1,
        crossover_rate: float = 0.5,
        update_every: int = 1,
    ) -> None:
        super().__init__(space, costs, budgets, seed, base_costs)
        if num_quantum < 1 or repetition < 1 or not 0 < update_rate <= 1 or not 0 <= crossover_rate <= 1:
            raise ValueError("QIEA: need num_quantum, repetition >= 1, 0 < update_rate <= 1, 0 <= crossover_rate <= 1")
        self.num_quantum = num_quantum
        self.repetition = repetition
        self.update_rate = update_rate
        self.crossover_rate = crossover_rate
        self.update_every = max(1, update_every)
        self.probs = [[np.full(int(s), 1.0 / s) for s in space.sizes] for _ in range(num_quantum)]
        self.q_best: list[Key | None] = [None] * num_quantum
        self.generation = 0
        self._queue: list[Key] = []
        self._owner: dict[Key, int] = {}

    def _on_tell(self, key: Key, score: float, first: bool) -> None:
        qi = self._owner.get(key, 0)
        b = self.q_best[qi]
        if b is None or (b != key and score >= self.history[b]):
            self.q_best[qi] = key
        elif b == key:
            self.q_best[qi] = max(self._owned(qi), key=lambda k: self.history[k])

    def _owned(self, qi: int) -> list[Key]:
        return [k for k in self.history if self._owner.get(k, 0) == qi]

    def observe(self, qi: int) -> Key:
        """Sample one classical individual from quantum individual ``qi`` (with crossover to its best)."""
        child = [int(self.rng.choice(len(p), p=p)) for p in self.probs[qi]]
        best = self.q_best[qi]
        if best is not None:
            mask = self.rng.random(len(child)) >= self.crossover_rate
            child = [best[j] if mask[j] else c for j, c in enumerate(child)]
        return tuple(child)

    def _update_quantum(self) -> None:
        for qi in range(self.num_quantum):
            best = self.q_best[qi]
            if best is None:
                continue
            for j, p in enumerate(self.probs[qi]):
                target = np.zeros_like(p)
                target[best[j]] = 1.0
                p *= 1.0 - self.update_rate
                p += self.update_rate * target

    def _new_generation(self, taken: set[Key]) -> None:
        if self.generation > 0 and self.generation % self.update_every == 0:
            self._update_quantum()
        self.generation += 1
        for qi in range(self.num_quantum):
            for _ in range(self.repetition):
                child = None
                for _attempt in range(100):
                    cand = self.observe(qi)
                    if cand not in taken and self.tables.feasible(cand):
                        child = cand
                        break
                if child is None:
                    extra = self._random_feasible(1, taken)
                    if not extra:
                        continue
                    child = extra[0]
                taken.add(child)
                self._owner[child] = qi
                self._queue.append(child)

    def _ask(self, n: int) -> list[Key]:
        out: list[Key] = []
        for _ in range(3 * n + 3):
            if len(out) == n:
                break
            taken = self._taken(set(out))
            self._queue = [k for k in self._queue if k not in taken and self.tables.feasible(k)]
            if not self._queue:
                self._new_generation(taken)
                if not self._queue:
                    break
            out.append(self._queue.pop(0))
        return out

"""Random search baseline: uniform over the architectures that meet every budget."""

from __future__ import annotations

from .base import Key, Strategy


class RandomSearch(Strategy):
    """Uniform random sampling of feasible, untold architectures (rejection sampling)."""

    def _ask(self, n: int) -> list[Key]:
        return self._random_feasible(n, set())

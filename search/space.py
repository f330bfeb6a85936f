"""Categorical search space: named decisions, each with a finite list of choices."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Decision:
    """One architecture decision, e.g. ``Decision("b0_kernel", [3, 5, 7])``."""

    name: str
    choices: tuple[Hashable, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"decision name must be a non-empty string, got {self.name!r}")
        if isinstance(self.choices, (str, bytes)):
            raise ValueError(f"decision {self.name!r}: choices must be a list, not a string")
        choices = tuple(self.choices)
        if not choices:
            raise ValueError(f"decision {self.name!r} has no choices")
        seen: set = set()
        for c in choices:
            try:
                hash(c)
            except TypeError as exc:
                raise ValueError(f"decision {self.name!r}: choice {c!r} is not hashable") from exc
            if c in seen:
                raise ValueError(f"decision {self.name!r} has duplicate choice {c!r}")
            seen.add(c)
        object.__setattr__(self, "choices", choices)

    def __len__(self) -> int:
        return len(self.choices)


class Space:
    """An ordered list of decisions; an architecture is a dict ``{decision name: choice}``."""

    def __init__(self, decisions: Sequence[Decision]) -> None:
        decisions = list(decisions)
        if not decisions:
            raise ValueError("search space is empty: give at least one Decision")
        names: dict[str, int] = {}
        for i, d in enumerate(decisions):
            if not isinstance(d, Decision):
                raise ValueError(f"search space entry {i} is {type(d).__name__}, expected Decision")
            if d.name in names:
                raise ValueError(f"search space has duplicate decision name {d.name!r}")
            names[d.name] = i
        self.decisions: tuple[Decision, ...] = tuple(decisions)
        self.names: tuple[str, ...] = tuple(d.name for d in decisions)
        self.position: dict[str, int] = names
        self.sizes = np.array([len(d) for d in decisions], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.n_vars = int(self.sizes.sum())
        #: decision index of each one-hot variable
        self.var_decision = np.repeat(np.arange(len(decisions)), self.sizes)
        self._choice_pos = [{c: k for k, c in enumerate(d.choices)} for d in decisions]

    def __len__(self) -> int:
        return len(self.decisions)

    def __iter__(self) -> Iterator[Decision]:
        return iter(self.decisions)

    def __getitem__(self, name: str) -> Decision:
        return self.decisions[self.position[name]]

    def __repr__(self) -> str:
        return f"Space({len(self)} decisions, {self.cardinality():.3g} architectures)"

    def cardinality(self) -> float:
        """Number of architectures (as a float: it can be astronomically large)."""
        return float(np.prod(self.sizes.astype(float)))

    def choice_index(self, decision: str, choice: Any) -> tuple[int, int]:
        """(decision position, choice position); ValueError naming the unknown part."""
        if decision not in self.position:
            raise ValueError(f"unknown decision {decision!r} (space has {list(self.names)})")
        i = self.position[decision]
        try:
            k = self._choice_pos[i].get(choice)
        except TypeError:
            k = None
        if k is None:
            raise ValueError(
                f"unknown choice {choice!r} for decision {decision!r} "
                f"(choices: {list(self.decisions[i].choices)})"
            )
        return i, k

    def encode(self, arch: Mapping[str, Any]) -> tuple[int, ...]:
        """Architecture dict -> tuple of choice positions; ValueError if it is outside the space."""
        if not isinstance(arch, Mapping):
            raise ValueError(f"architecture must be a dict of decision -> choice, got {type(arch).__name__}")
        extra = [k for k in arch if k not in self.position]
        if extra:
            raise ValueError(f"architecture has unknown decision {extra[0]!r} (space has {list(self.names)})")
        missing = [n for n in self.names if n not in arch]
        if missing:
            raise ValueError(f"architecture is missing decision {missing[0]!r}")
        return tuple(self.choice_index(n, arch[n])[1] for n in self.names)

    def decode(self, idx: Sequence[int]) -> dict[str, Any]:
        """Tuple of choice positions -> architecture dict."""
        return {d.name: d.choices[int(k)] for d, k in zip(self.decisions, idx, strict=True)}

    def active_vars(self, idx: Sequence[int] | np.ndarray) -> np.ndarray:
        """One-hot variable indices switched on by an architecture (or rows of architectures)."""
        return self.offsets + np.asarray(idx, dtype=np.int64)

    def random_index(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Uniform random architecture(s) as choice positions."""
        shape = (len(self),) if n is None else (n, len(self))
        return (rng.random(shape) * self.sizes).astype(np.int64)

"""Successive-halving planner over proxy-training epochs (pure bookkeeping: no training, no TensorFlow).

Rung ``i`` trains for ``min_epochs * eta**i`` epochs (the last rung for exactly ``max_epochs``). Every
candidate enters rung 0; once every candidate of a rung has a score, the best ``max(1, n // eta)`` of
them are promoted to the next rung, so most of the training budget goes to the few that look best at
low cost (Jamieson & Talwalkar 2016; Li et al., Hyperband, 2018). ``fidelity(rung)`` is the fraction of
full training a rung represents, the value to pass as ``Strategy.tell(..., fidelity=)``.

The state is plain data (``to_dict`` / ``from_dict``), so a resumed run carries on mid-rung.

``promote_ready`` is the asynchronous variant (ASHA, Li et al. 2020) the search loop uses: a candidate
moves up as soon as it is in the top ``1/eta`` of the scores its rung has so far, so no round waits for a
rung to fill. ``top_down`` places the rungs from the full epoch count down (4 epochs, eta 3: 2 then 4),
so no rung sits one epoch below the last.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any


class SuccessiveHalving:
    """One successive-halving bracket: candidates, the rung each reached and their score per rung."""

    def __init__(self, min_epochs: int, max_epochs: int, eta: int = 3) -> None:
        for name, v in (("min_epochs", min_epochs), ("max_epochs", max_epochs), ("eta", eta)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if min_epochs < 1 or max_epochs < min_epochs:
            raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
        if eta < 2:
            raise ValueError(f"eta must be >= 2, got {eta}")
        self.min_epochs, self.max_epochs, self.eta = min_epochs, max_epochs, eta
        n = int(math.floor(math.log(max_epochs / min_epochs) / math.log(eta) + 1e-9)) + 1
        ep = [min_epochs * eta**i for i in range(n)]
        if ep[-1] < max_epochs:
            ep.append(max_epochs)
        self.epochs: list[int] = ep  # epochs trained at each rung
        self.rungs: list[list[Hashable]] = [[] for _ in ep]  # members of each rung, in entry order
        self.scores: list[dict[Hashable, float]] = [{} for _ in ep]  # score per member per rung

    @classmethod
    def top_down(cls, max_epochs: int, eta: int = 3, min_epochs: int = 2) -> SuccessiveHalving:
        """Rungs at ``max_epochs / eta**k`` (rounded), each at most half the next and at least
        ``min_epochs``: 4 -> [2, 4], 10 -> [3, 10], 30 -> [3, 10, 30]; 3 -> [3] (nothing to screen with).

        ``min_epochs`` is 2 because one epoch of cosine-decayed training ranks architectures poorly
        (Spearman 0.50 against the 4-epoch int8 accuracy on 30 demo architectures, 0.91 after 2 epochs;
        benchmarks/screening_rank.py, BENCHMARKS.md)."""
        sh = cls(min(min_epochs, max_epochs), max_epochs, eta)
        ep = [max_epochs]
        while True:
            e = max(min_epochs, int(round(ep[0] / eta)))
            if 2 * e > ep[0]:
                break
            ep.insert(0, e)
        sh._set_epochs(ep)
        return sh

    @classmethod
    def from_epochs(cls, epochs: list[int], eta: int = 3) -> SuccessiveHalving:
        """A bracket on an explicit ladder (e.g. the one a run stored when it started)."""
        ep = [int(e) for e in epochs]
        if not ep or any(b <= a for a, b in zip(ep, ep[1:], strict=False)):
            raise ValueError(f"a ladder is a strictly increasing list of epochs, got {epochs!r}")
        sh = cls(ep[0], ep[-1], eta)
        sh._set_epochs(ep)
        return sh

    def _set_epochs(self, epochs: list[int]) -> None:
        """Replace the ladder (empty rungs): for `top_down` and for brackets saved with their own epochs."""
        self.epochs = list(epochs)
        self.rungs = [[] for _ in self.epochs]
        self.scores = [{} for _ in self.epochs]

    # ----------------------------------------------------------------- queries
    def fidelity(self, rung: int) -> float:
        """Fraction of full training done at ``rung`` (epochs / max_epochs), in (0, 1]."""
        return self.epochs[rung] / self.max_epochs

    def waiting(self) -> list[tuple[Hashable, int, int]]:
        """(candidate, rung, epochs) still to be trained and scored, lowest rung first."""
        return [(c, i, self.epochs[i]) for i, members in enumerate(self.rungs)
                for c in members if c not in self.scores[i]]

    def complete(self, rung: int) -> bool:
        """Whether every member of ``rung`` has a score (and there is at least one member)."""
        return bool(self.rungs[rung]) and len(self.scores[rung]) == len(self.rungs[rung])

    def best(self) -> tuple[Hashable, int, float] | None:
        """(candidate, rung, score) of the best candidate at the highest rung that has any score."""
        for i in range(len(self.rungs) - 1, -1, -1):
            if self.scores[i]:
                c = max(self.rungs[i], key=lambda m: self.scores[i].get(m, -math.inf))
                return c, i, self.scores[i][c]
        return None

    # ----------------------------------------------------------------- updates
    def add(self, candidates: Iterable[Hashable]) -> list[tuple[Hashable, int]]:
        """Enter new candidates at rung 0; returns (candidate, epochs) to train."""
        out = []
        for c in candidates:
            if any(c in r for r in self.rungs):
                raise ValueError(f"candidate {c!r} is already in the bracket")
            self.rungs[0].append(c)
            out.append((c, self.epochs[0]))
        return out

    def record(self, candidate: Hashable, rung: int, score: float) -> None:
        """Score (higher is better) of ``candidate`` after the epochs of ``rung``."""
        if not 0 <= rung < len(self.rungs) or candidate not in self.rungs[rung]:
            raise ValueError(f"candidate {candidate!r} is not in rung {rung}")
        s = float(score)
        if not math.isfinite(s):
            raise ValueError(f"score for {candidate!r} is {s} (NaN/inf not allowed)")
        self.scores[rung][candidate] = s

    def promote(self, rung: int) -> list[tuple[Hashable, int]]:
        """Promote the best ``max(1, n // eta)`` of a complete rung; returns (candidate, epochs) to train.

        Returns [] when the rung is incomplete, is the last one, or was already promoted (idempotent,
        so calling it again after a resume does not duplicate work). Ties go to the earlier entrant.
        """
        if rung >= len(self.rungs) - 1 or not self.complete(rung) or self.rungs[rung + 1]:
            return []
        members = self.rungs[rung]
        k = max(1, len(members) // self.eta)
        order = sorted(range(len(members)), key=lambda i: (-self.scores[rung][members[i]], i))
        chosen = [members[i] for i in order[:k]]
        self.rungs[rung + 1] = list(chosen)
        return [(c, self.epochs[rung + 1]) for c in chosen]

    def promote_ready(self) -> list[tuple[Hashable, int, int]]:
        """ASHA: (candidate, rung, epochs) newly promoted from every rung whose scores so far place them
        in its top ``len(scored) // eta``; idempotent (a promoted candidate is never promoted twice)."""
        out = []
        for i in range(len(self.rungs) - 1):
            scored = [c for c in self.rungs[i] if c in self.scores[i]]
            k = len(scored) // self.eta
            order = sorted(range(len(scored)), key=lambda j: (-self.scores[i][scored[j]], j))
            for j in order[:k]:
                c = scored[j]
                if c not in self.rungs[i + 1]:
                    self.rungs[i + 1].append(c)
                    out.append((c, i + 1, self.epochs[i + 1]))
        return out

    def rung_of(self, candidate: Hashable) -> int | None:
        """Highest rung ``candidate`` has entered (None when it is not in the bracket)."""
        return max((i for i, r in enumerate(self.rungs) if candidate in r), default=None)

    # ----------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (candidate ids must themselves be JSON values: str or int)."""
        return {
            "min_epochs": self.min_epochs, "max_epochs": self.max_epochs, "eta": self.eta, "epochs": self.epochs,
            "rungs": [list(r) for r in self.rungs],
            "scores": [[[c, s[c]] for c in r if c in s] for r, s in zip(self.rungs, self.scores, strict=True)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuccessiveHalving:
        """Rebuild a bracket saved with ``to_dict`` (e.g. from a run directory after a restart)."""
        sh = cls(int(data["min_epochs"]), int(data["max_epochs"]), int(data["eta"]))
        if data.get("epochs"):
            sh._set_epochs([int(e) for e in data["epochs"]])
        if len(data["rungs"]) != len(sh.rungs):
            raise ValueError("saved bracket does not match its epochs (rung count differs)")
        for i, members in enumerate(data["rungs"]):
            sh.rungs[i] = list(members)
            for c, s in data["scores"][i]:
                sh.record(c, i, s)
        return sh

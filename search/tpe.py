"""Optuna's TPE as an ask/tell baseline (optional dependency ``optuna``; ``pip install 'qnas-edge[tpe]'``).

TPE does not know the cost tables, so it proposes architectures that may break a budget. Such a
proposal is told back to Optuna as a constraint violation (constraint-aware TPE: infeasible trials
always fall in the "bad" group, ordered by how far over budget they are) and TPE is asked again; the
public counters ``infeasible_proposals`` / ``duplicate_proposals`` / ``fallback_proposals`` say how
often that happened, so a benchmark can charge infeasible proposals as evaluations, as a user running
Optuna on the real objective would pay for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Key, Strategy
from .constraints import RawCostTables
from .errors import StrategyUnavailableError
from .space import Space

_VIOLATION = "qnas_budget_violation"


def _constraints(trial: Any) -> tuple[float]:
    """Optuna < 5 constraints_func: > 0 means over budget (normalised total excess)."""
    return (float(trial.user_attrs.get(_VIOLATION, 0.0)),)


def _set_violation(trial: Any, value: float) -> None:
    """Record the budget violation on a trial (Optuna >= 5: Trial.set_constraint; older: a user attr)."""
    if hasattr(trial, "set_constraint"):
        trial.set_constraint(_VIOLATION, value)
    else:
        trial.set_user_attr(_VIOLATION, value)


class TPESearch(Strategy):
    """Optuna TPE (``TPESampler``) driven through ``study.ask()`` / ``study.tell()``.

    One categorical parameter per decision (values are choice positions). Proposals that break a budget
    are told to Optuna with the constraint violation and counted in ``infeasible_proposals``; proposals
    already told are told their known score (no new evaluation) and counted in ``duplicate_proposals``;
    pending ones are told as failed. After ``max_retries`` consecutive unusable proposals a random
    feasible architecture is returned instead (counted in ``fallback_proposals``) and told to Optuna
    as an ordinary trial when its score arrives.

    ``n_startup_trials`` (random trials before TPE's model is used, Optuna's default 10) and
    ``multivariate`` are passed to ``TPESampler``, as is any extra ``sampler_kwargs``.
    """

    def __init__(
        self,
        space: Space,
        costs: RawCostTables | None = None,
        budgets: Mapping[str, float] | None = None,
        seed: int | None = None,
        base_costs: Mapping[str, float] | None = None,
        n_startup_trials: int = 10,
        multivariate: bool = False,
        max_retries: int = 200,
        sampler_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, costs, budgets, seed, base_costs)
        try:
            import optuna
        except ImportError:  # pragma: no cover - depends on the environment
            raise StrategyUnavailableError(
                "strategy 'tpe' needs Optuna, which is not installed: pip install 'qnas-edge[tpe]'"
            ) from None
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries!r}")
        self._optuna = optuna
        optuna.logging.disable_default_handler()  # the study would log every trial at INFO otherwise
        extra: dict[str, Any] = {}
        if not hasattr(optuna.trial.Trial, "set_constraint"):
            extra["constraints_func"] = _constraints  # deprecated in Optuna 5 in favour of set_constraint
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=int(n_startup_trials), multivariate=multivariate,
            **extra, **dict(sampler_kwargs or {}),
        )
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self._dists = {
            d.name: optuna.distributions.CategoricalDistribution(list(range(len(d.choices)))) for d in space.decisions
        }
        self.max_retries = int(max_retries)
        self._trials: dict[Key, Any] = {}  # asked, awaiting a score
        self.infeasible_proposals = 0
        self.duplicate_proposals = 0
        self.fallback_proposals = 0

    def _key(self, trial: Any) -> Key:
        return tuple(int(trial.suggest_categorical(d.name, self._dists[d.name].choices)) for d in self.space.decisions)

    def _ask(self, n: int) -> list[Key]:
        from optuna.trial import TrialState

        out: list[Key] = []
        taken = self._taken(set())
        failures = 0
        while len(out) < n:
            if failures >= self.max_retries:
                extra = self._random_feasible(1, set(out))
                if not extra:
                    break
                self.fallback_proposals += 1
                out.append(extra[0])
                taken.add(extra[0])
                failures = 0
                continue
            trial = self.study.ask(self._dists)
            k = self._key(trial)
            if k in self.history:
                self.duplicate_proposals += 1
                _set_violation(trial, 0.0)
                self.study.tell(trial, self.history[k])
                failures += 1
            elif k in taken:
                self.duplicate_proposals += 1
                self.study.tell(trial, state=TrialState.FAIL)
                failures += 1
            elif not self.tables.feasible(k):
                self.infeasible_proposals += 1
                v = float(self.tables.violation(self.tables.evaluate(k)))
                _set_violation(trial, max(v, 1e-9))
                worst = min(self.history.values()) if self.history else 0.0
                self.study.tell(trial, worst)  # value unused for ranking: infeasible trials sort by violation
                failures += 1
            else:
                self._trials[k] = trial
                taken.add(k)
                out.append(k)
                failures = 0
        return out

    def _on_tell(self, key: Key, score: float, first: bool) -> None:
        trial = self._trials.pop(key, None)
        if trial is not None:
            _set_violation(trial, 0.0)
            self.study.tell(trial, score)
        elif first:  # told without being asked (or a fallback): add it as a finished trial
            ft = self._optuna.trial.create_trial(
                params={d.name: int(c) for d, c in zip(self.space.decisions, key, strict=True)},
                distributions=self._dists, value=score, user_attrs={_VIOLATION: 0.0},
            )
            self.study.add_trial(ft)

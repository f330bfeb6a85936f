"""Exceptions raised by the search package, with the exit code a command line should end with.

Callers recognise them by type and read their fields, never their text.
"""

from __future__ import annotations

from typing import Any


class SearchError(ValueError):
    """Base of the search package's errors. `exit_code`: 1 the run cannot succeed, 2 bad input."""

    exit_code = 2


class InfeasibleBudgetError(SearchError):
    """No architecture in the space meets every budget under the cost tables.

    `minima` holds one MetricMinimum per metric (the least each can reach), `violated` the metrics
    whose minimum alone is over budget (empty when each budget alone can be met but not all at once),
    `budgets` the limits in force, `exhaustive` whether the joint search proved it.
    """

    exit_code = 1

    def __init__(self, message: str, *, minima: list[Any] | None = None, violated: list[str] | None = None,
                 budgets: dict[str, float] | None = None, exhaustive: bool = True) -> None:
        super().__init__(message)
        self.minima = list(minima or [])
        self.violated = list(violated or [])
        self.budgets = dict(budgets or {})
        self.exhaustive = exhaustive


class SamplerUnavailableError(SearchError):
    """The requested sampler cannot be used here (not installed, not configured or too small).
    The message is one line that names the fix."""

    exit_code = 2


class StrategyUnavailableError(SearchError):
    """The requested strategy needs an optional dependency that is not installed.
    The message is one line that names the fix (e.g. ``pip install 'qnas-edge[tpe]'``)."""

    exit_code = 2

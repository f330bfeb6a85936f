"""The run's side of the search engine: build the named strategy, and turn the engine's structured
errors into the run's (budgets nothing can meet -> RunFailed, exit 1; sampler not usable -> exit 2)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from qnas_edge.errors import RunFailed, UsageError

# The search space encodes RAM as a count of over-budget parts ("ram_over", budget 0.5); users know RAM.
_RAM_PART = "RAM (working memory of the smallest part)"


def make_strategy(name: str, space, costs, base, budgets, seed: int, sampler: str,
                  sampler_options: dict[str, str] | None = None):
    """The `search` strategy called `name` over `space` with the board's cost tables and budgets."""
    import search

    if name not in search.STRATEGIES:
        raise UsageError(f"unknown strategy '{name}': use one of {', '.join(search.STRATEGIES)}")
    kwargs: dict[str, Any] = {"costs": costs, "budgets": budgets, "seed": seed, "base_costs": base}
    if name == "qubo":
        kwargs["sampler"] = sampler
        kwargs["sampler_kwargs"] = sampler_kwargs(sampler, sampler_options or {})
    elif sampler_options:
        raise UsageError(f"--sampler-option applies to strategy qubo only (strategy is '{name}')")
    return search.STRATEGIES[name](space, **kwargs)


def sampler_kwargs(sampler: str, options: dict[str, str]) -> dict[str, Any]:
    """`--sampler-option KEY=VALUE` strings -> the sampler's typed keyword arguments.

    An unknown key or a value that does not parse is a UsageError (exit 2) naming the valid keys.
    """
    from search.samplers import parse_sampler_options

    try:
        return parse_sampler_options(sampler, options)
    except ValueError as exc:
        raise UsageError(f"--sampler-option: {exc}") from None


def infeasible_message(exc, board_id: str) -> str:
    """One line from an InfeasibleBudgetError's fields: each metric's minimum against its budget."""
    parts = []
    for mn in exc.minima:
        if mn.metric == "ram_over":
            if "ram_over" in exc.violated:
                parts.append(f"{_RAM_PART} is over the RAM budget")
            continue
        limit = exc.budgets.get(mn.metric)
        parts.append(f"{mn}" + (f" (budget {limit:.6g})" if limit is not None else ""))
    what = ("no architecture meets the budgets" if exc.violated
            else "no architecture meets all budgets at once")
    return f"budgets nothing can meet on {board_id}: {what}; minimum achievable: {'; '.join(parts)}"


@contextmanager
def budgets_or_run_failed(board_id: str):
    """Turn the engine's InfeasibleBudgetError (with the minima) into RunFailed (exit 1)."""
    from search import InfeasibleBudgetError

    try:
        yield
    except InfeasibleBudgetError as exc:
        raise RunFailed(infeasible_message(exc, board_id)) from None

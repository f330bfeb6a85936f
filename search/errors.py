"""Exceptions raised by the search package."""

from __future__ import annotations


class InfeasibleBudgetError(ValueError):
    """No architecture in the space meets every budget under the cost tables."""


class SamplerUnavailableError(ValueError):
    """The requested sampler cannot be used here (not installed, not configured or too small)."""

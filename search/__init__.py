"""qnas-edge search engine: categorical spaces, QUBO encoding, Bayesian surrogate, samplers, baselines.

Pure numpy + dimod; never imports TensorFlow, TVM or the rest of qnas-edge.

    from search import Decision, Space, QuboSearch
    space = Space([Decision("b0", ["mb_k3_e1", "mb_k5_e4_se"]), ...])
    engine = QuboSearch(space, costs={"latency_ms": {("b0", "mb_k3_e1"): 0.8, ...}},
                        budgets={"latency_ms": 100.0}, seed=0)
    batch = engine.ask(4)
    engine.tell(batch[0], 0.91)
"""

from .base import Observation, Strategy
from .constraints import CostTables, MetricMinimum
from .errors import InfeasibleBudgetError, SamplerUnavailableError, SearchError, StrategyUnavailableError
from .evolution import RegularizedEvolution
from .qiea import QIEA
from .qubo_search import QuboSearch
from .random_search import RandomSearch
from .samplers import SAMPLER_NAMES, resolve_sampler
from .space import Decision, Space
from .surrogate import BayesianQuadraticSurrogate, QuadraticModel


def _tpe(space: Space, **kwargs: object) -> Strategy:
    """Lazy constructor for Optuna's TPE (``search.tpe.TPESearch``): ``import search`` never imports optuna."""
    from .tpe import TPESearch

    return TPESearch(space, **kwargs)


STRATEGIES = {
    "qubo": QuboSearch,
    "qiea": QIEA,
    "evolution": RegularizedEvolution,
    "random": RandomSearch,
    "tpe": _tpe,
}

__all__ = [
    "BayesianQuadraticSurrogate",
    "CostTables",
    "Decision",
    "InfeasibleBudgetError",
    "MetricMinimum",
    "Observation",
    "QIEA",
    "QuadraticModel",
    "QuboSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "SAMPLER_NAMES",
    "STRATEGIES",
    "SamplerUnavailableError",
    "SearchError",
    "Space",
    "Strategy",
    "StrategyUnavailableError",
    "resolve_sampler",
]

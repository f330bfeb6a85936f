"""Resolve a sampler name (or any dimod-style sampler object) into one sampling call."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import dimod
import numpy as np

from .errors import SamplerUnavailableError

SAMPLER_NAMES = ("neal", "tabu", "exact", "dwave")
EXACT_MAX_VARS = 20

DWAVE_HELP = (
    "the 'dwave' sampler needs D-Wave's Ocean client: run `pip install dwave-system` (or "
    "`pip install qnas-edge[dwave]`), then `dwave config create` to store your Leap API token"
)


@dataclass
class SamplerAdapter:
    """A named sampler plus the keyword arguments it is called with."""

    name: str
    sampler: Any
    kwargs: dict[str, Any]

    def sample(self, bqm: dimod.BinaryQuadraticModel, rng: np.random.Generator, num_reads: int) -> np.ndarray:
        """Sample ``bqm`` (variables 0..D-1); returns a ``(R, D)`` 0/1 array in variable order."""
        kw = dict(self.kwargs)
        params = getattr(self.sampler, "parameters", None)
        if self.name in ("neal", "tabu"):
            kw.setdefault("num_reads", num_reads)
            kw["seed"] = int(rng.integers(0, 2**31 - 1))
        elif self.name == "dwave":
            kw.setdefault("num_reads", num_reads)
        elif self.name == "custom" and isinstance(params, dict):
            if "num_reads" in params:
                kw.setdefault("num_reads", num_reads)
            if "seed" in params:
                kw.setdefault("seed", int(rng.integers(0, 2**31 - 1)))
        ss = self.sampler.sample(bqm, **kw)
        if not isinstance(ss, dimod.SampleSet):
            ss = dimod.SampleSet.from_samples(ss, vartype=bqm.vartype, energy=0.0)
        if ss.vartype is not dimod.BINARY:
            ss = ss.change_vartype(dimod.BINARY)
        labels = list(ss.variables)
        pos = {v: i for i, v in enumerate(labels)}
        D = bqm.num_variables
        rec = np.asarray(ss.record.sample)
        out = np.zeros((rec.shape[0], D), dtype=np.int8)
        for v in range(D):
            if v in pos:
                out[:, v] = rec[:, pos[v]]
        return out


def resolve_sampler(spec: Any, n_vars: int, **kwargs: Any) -> SamplerAdapter:
    """``"neal"`` (default), ``"tabu"``, ``"exact"``, ``"dwave"`` or an object with ``sample(bqm, **kw)``.

    ``kwargs`` are passed to every ``sample`` call (e.g. ``num_sweeps`` for neal, ``timeout`` for tabu).
    """
    if spec is None or spec == "neal":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from neal import SimulatedAnnealingSampler
        return SamplerAdapter("neal", SimulatedAnnealingSampler(), {"num_sweeps": 300, **kwargs})
    if spec == "tabu":
        from dwave.samplers import TabuSampler

        return SamplerAdapter("tabu", TabuSampler(), {"timeout": 10, **kwargs})
    if spec == "exact":
        if n_vars > EXACT_MAX_VARS:
            raise SamplerUnavailableError(
                f"the 'exact' sampler enumerates all 2^n states and is limited to {EXACT_MAX_VARS} binary "
                f"variables; this space needs {n_vars} (use 'neal' or 'tabu')"
            )
        return SamplerAdapter("exact", dimod.ExactSolver(), dict(kwargs))
    if spec == "dwave":
        try:
            from dwave.system import DWaveSampler, EmbeddingComposite  # type: ignore[import-not-found]
        except ImportError as exc:
            raise SamplerUnavailableError(f"dwave-system is not installed: {DWAVE_HELP}") from exc
        try:
            qpu = EmbeddingComposite(DWaveSampler())
        except Exception as exc:  # noqa: BLE001 - any config/network failure means "not usable here"
            raise SamplerUnavailableError(f"no D-Wave solver is reachable ({exc}): {DWAVE_HELP}") from exc
        return SamplerAdapter("dwave", qpu, dict(kwargs))
    if isinstance(spec, str):
        raise ValueError(f"unknown sampler {spec!r}: use one of {', '.join(SAMPLER_NAMES)} or a dimod sampler")
    if not callable(getattr(spec, "sample", None)):
        raise ValueError(f"sampler {spec!r} has no sample(bqm, **kw) method")
    return SamplerAdapter("custom", spec, dict(kwargs))

"""Resolve a sampler name (or any dimod-style sampler object) into one sampling call."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dimod
import numpy as np

from .errors import SamplerUnavailableError

SAMPLER_NAMES = ("neal", "tabu", "exact", "dwave", "qaoa", "vqe")
QUANTUM_SAMPLERS = ("qaoa", "vqe")
EXACT_MAX_VARS = 20
QUANTUM_HELP = "pip install 'qnas-edge[quantum]'"
#: typed options of the classical samplers (the gate-model ones are in search.quantum.options)
CLASSICAL_OPTIONS: dict[str, dict[str, type]] = {
    "neal": {"num_sweeps": int, "num_reads": int},
    "tabu": {"timeout": int, "num_reads": int},
    "exact": {},
    "dwave": {"num_reads": int},
}

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

    def sample(self, bqm: dimod.BinaryQuadraticModel, rng: np.random.Generator, num_reads: int,
               groups: list[list[int]] | None = None) -> np.ndarray:
        """Sample ``bqm`` (variables 0..D-1); returns a ``(R, D)`` 0/1 array in variable order.

        ``groups`` (the one-hot groups: each decision's variables) reach samplers that take an
        ``onehot_groups`` keyword (``qaoa``, ``vqe``, or a custom sampler listing it in ``parameters``).
        """
        kw = dict(self.kwargs)
        params = getattr(self.sampler, "parameters", None)
        if groups is not None and isinstance(params, dict) and "onehot_groups" in params:
            kw["onehot_groups"] = groups
        if self.name in QUANTUM_SAMPLERS:
            if self.sampler.settings()["seed"] is None:
                kw["seed"] = int(rng.integers(0, 2**31 - 1))
        elif self.name in ("neal", "tabu"):
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
        if self.name in QUANTUM_SAMPLERS:  # hundreds of shots: keep the lowest-energy distinct states
            ss = ss.aggregate().truncate(max(int(num_reads), 1), sorted_by="energy")
        labels = list(ss.variables)
        pos = {v: i for i, v in enumerate(labels)}
        D = bqm.num_variables
        rec = np.asarray(ss.record.sample)
        out = np.zeros((rec.shape[0], D), dtype=np.int8)
        for v in range(D):
            if v in pos:
                out[:, v] = rec[:, pos[v]]
        return out


def sampler_options(name: str) -> dict[str, Any]:
    """Option names of the named sampler with their defaults (``None``: the sampler's own default)."""
    if name in QUANTUM_SAMPLERS:
        from .quantum.options import defaults

        return defaults(name)
    if name not in CLASSICAL_OPTIONS:
        raise ValueError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLER_NAMES)}")
    return dict.fromkeys(CLASSICAL_OPTIONS[name])


def parse_sampler_options(name: str, options: Mapping[str, str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--sampler-option``) -> typed keyword arguments of the named sampler.

    ``ValueError`` names an unknown key with the valid ones, or a value that does not parse.
    """
    if name in QUANTUM_SAMPLERS:
        from .quantum.options import check_options

        return check_options(name, options)
    types = CLASSICAL_OPTIONS.get(name)
    if types is None:
        raise ValueError(f"unknown sampler {name!r}: use one of {', '.join(SAMPLER_NAMES)}")
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in types:
            valid = ", ".join(types) or "none"
            raise ValueError(f"unknown option {key!r} for the {name} sampler: valid options are {valid}")
        try:
            out[key] = types[key](value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} sampler option {key}={value!r}: expected "
                             f"{types[key].__name__}") from None
    return out


def describe_sampler(name: str, options: Mapping[str, Any] | None = None) -> str:
    """``"qaoa (reps=3, shots=1024, ...)"``: the sampler with the settings in force (defaults filled in)."""
    opts = dict(options or {})
    if name in QUANTUM_SAMPLERS:
        try:
            from .quantum.options import check_options

            opts = {**sampler_options(name), **check_options(name, opts)}
        except ValueError:
            pass
        opts["backend"] = opts.get("backend") or "aer_simulator"
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in opts.items() if v is not None)
    return f"{name} ({shown})" if shown else name


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _quantum_sampler(name: str, kwargs: dict[str, Any]) -> Any:
    """Build the ``qaoa``/``vqe`` sampler; one-line SamplerUnavailableError when Qiskit is missing."""
    try:
        import hybrid  # noqa: F401
        import qiskit  # noqa: F401
        import qiskit_aer  # noqa: F401
        import scipy.optimize  # noqa: F401
    except ImportError as exc:
        missing = (exc.name or "qiskit").split(".")[0]
        raise SamplerUnavailableError(f"the '{name}' sampler needs the quantum extra ({missing} is not "
                                      f"installed): {QUANTUM_HELP}") from None
    from .quantum import QAOASampler, VQESampler

    cls = QAOASampler if name == "qaoa" else VQESampler
    return cls(**kwargs)


def resolve_sampler(spec: Any, n_vars: int, **kwargs: Any) -> SamplerAdapter:
    """``"neal"`` (default), ``"tabu"``, ``"exact"``, ``"dwave"``, ``"qaoa"``, ``"vqe"`` or an object with
    ``sample(bqm, **kw)``.

    ``kwargs`` are passed to every ``sample`` call (e.g. ``num_sweeps`` for neal, ``timeout`` for tabu); for
    ``qaoa``/``vqe`` they are the sampler's options (``reps``, ``shots``, ``mixer``, ``max_qubits``, ...;
    see :mod:`search.quantum.options`).
    """
    if spec in QUANTUM_SAMPLERS:
        return SamplerAdapter(spec, _quantum_sampler(spec, dict(kwargs)), {})
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

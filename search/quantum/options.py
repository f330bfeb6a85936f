"""Options of the gate-model samplers: names, types, defaults and parsing of ``KEY=VALUE`` strings.

Pure Python (no Qiskit import), so the command line can validate options before anything heavy loads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

MIXER_ALIASES = {"x": "x", "xy": "xy-ring", "xy-ring": "xy-ring", "ring": "xy-ring",
                 "xy-complete": "xy-complete", "complete": "xy-complete"}
ENTANGLEMENTS = ("linear", "circular", "full")
OPTIMIZERS = ("COBYLA", "Nelder-Mead", "Powell", "COBYQA")

#: option -> (default, one-line help); shared by both samplers
COMMON: dict[str, tuple[Any, str]] = {
    "reps": (2, "circuit layers: QAOA's p (one cost + one mixer layer each) or VQE entangling layers"),
    "shots": (1024, "measurements per circuit evaluation while optimising the angles"),
    "maxiter": (60, "optimiser iterations (circuit evaluations, roughly)"),
    "optimizer": ("COBYLA", "scipy.optimize.minimize method: " + ", ".join(OPTIMIZERS)),
    "alpha": (1.0, "CVaR fraction in (0, 1]: minimise the mean of the lowest alpha share of sampled "
                   "energies (1 = expectation value)"),
    "warm_start": (True, "start from the angles optimal in the previous call (parameter transfer)"),
    "seed": (None, "seed of the simulator and of random starting angles"),
    "max_qubits": (16, "largest circuit; bigger QUBOs are decomposed into sub-problems of at most this size"),
    "rounds": (None, "decomposition: maximum number of sub-problems per call (default: 3 passes over "
                     "the variables)"),
    "num_reads": (None, "samples returned: final shots when the QUBO runs whole (default: shots), "
                        "distinct lowest-energy states when decomposed (default: 8)"),
    "backend": (None, "'aer' (default), an IBM Quantum backend name (needs qiskit-ibm-runtime), or from "
                      "Python any BackendV2 / SamplerV2 object"),
}
QAOA_ONLY: dict[str, tuple[Any, str]] = {
    "mixer": ("xy-ring", "x (transverse field + one-hot penalties), xy-ring or xy-complete (W-state start, "
                         "XY mixers inside each one-hot group: every sample is a valid architecture)"),
}
VQE_ONLY: dict[str, tuple[Any, str]] = {
    "entanglement": ("linear", "CZ entangler layout of the hardware-efficient circuit: "
                               + ", ".join(ENTANGLEMENTS)),
}


def defaults(kind: str) -> dict[str, Any]:
    """Default option values of the ``"qaoa"`` or ``"vqe"`` sampler."""
    extra = QAOA_ONLY if kind == "qaoa" else VQE_ONLY
    if kind == "vqe":
        return {**{k: v[0] for k, v in COMMON.items()}, **{k: v[0] for k, v in extra.items()},
                "reps": 1, "alpha": 0.25, "maxiter": 100}
    return {**{k: v[0] for k, v in COMMON.items()}, **{k: v[0] for k, v in extra.items()}}


def option_names(kind: str) -> tuple[str, ...]:
    """Every option the ``kind`` sampler accepts (besides the per-call ``onehot_groups``)."""
    return tuple(defaults(kind)) + (("p",) if kind == "qaoa" else ())


def _int(lo: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(f"expected an integer, got {v!r}")
        try:
            x = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {v!r}") from None
        if isinstance(v, float) and x != v:
            raise ValueError(f"expected an integer, got {v!r}")
        if x < lo:
            raise ValueError(f"must be >= {lo}, got {x}")
        return x

    return conv


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {v!r}")


def _alpha(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number in (0, 1], got {v!r}") from None
    if not (math.isfinite(x) and 0.0 < x <= 1.0):
        raise ValueError(f"expected a number in (0, 1], got {v!r}")
    return x


def _choice(options: Mapping[str, str] | tuple[str, ...]) -> Callable[[Any], str]:
    table = dict(options) if isinstance(options, Mapping) else {o.lower(): o for o in options}

    def conv(v: Any) -> str:
        key = str(v).strip().lower()
        if key not in {k.lower() for k in table}:
            raise ValueError(f"expected one of {', '.join(dict.fromkeys(table.values()))}, got {v!r}")
        return next(val for k, val in table.items() if k.lower() == key)

    return conv


def _optional(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None or (isinstance(v, str) and v.strip().lower() in ("", "none")) else conv(v)


def _backend(v: Any) -> Any:
    return v.strip() if isinstance(v, str) else v


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "reps": _int(1), "p": _int(1), "shots": _int(1), "maxiter": _int(0), "optimizer": _choice(OPTIMIZERS),
    "alpha": _alpha, "warm_start": _bool, "seed": _optional(_int(0)), "max_qubits": _int(1),
    "rounds": _optional(_int(1)), "num_reads": _optional(_int(1)), "backend": _optional(_backend),
    "mixer": _choice(MIXER_ALIASES), "entanglement": _choice(ENTANGLEMENTS),
}


def check_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and convert ``options`` (strings from the command line, or typed values) for ``kind``.

    Raises ``ValueError`` naming the option and, for an unknown one, the valid names. ``p`` is an alias of
    ``reps`` for QAOA; ``mixer=xy`` means ``xy-ring``.
    """
    valid = option_names(kind)
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in valid:
            raise ValueError(f"unknown option {key!r} for the {kind} sampler: valid options are "
                             f"{', '.join(valid)}")
        try:
            out["reps" if key == "p" else key] = CONVERTERS[key](value)
        except ValueError as exc:
            raise ValueError(f"{kind} sampler option {key}={value!r}: {exc}") from None
    return out

"""Fit the stored instruction model from a `Dataset` (numpy + scipy; never imported at estimate time).

Per core and kernel group: non-negative least squares of the measured layer instructions on the
group's loop-count features (every loop iteration costs >= 0 instructions), weighted by
1 / instructions so that small and large layers count by their relative error. Per core, the Invoke
overhead (total - sum of layers) is fitted as `one + per_layer x n_layers` (non-negative). The
result is a plain, JSON-ready document with rounded numbers and sorted keys, so a re-fit is
byte-for-byte reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from device_profiles.latency.cores import ISA, TICK_INSTRUCTIONS
from device_profiles.latency.dataset import Dataset
from device_profiles.latency.features import STAND_INS, route

FORMAT = "qnas-edge/tflm-cmsis-nn-instructions/1"
SIGNIFICANT = 6


def _round(x: float) -> float:
    """`x` to SIGNIFICANT significant digits (0 stays 0)."""
    return float(f"{x:.{SIGNIFICANT}g}")


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares with column scaling (columns that are all zero get 0)."""
    from scipy.optimize import nnls

    norms = np.linalg.norm(a, axis=0)
    keep = norms > 0
    coef = np.zeros(a.shape[1])
    if keep.any():
        sol, _ = nnls(a[:, keep] / norms[keep], b, maxiter=50 * a.shape[1] + 500)
        coef[keep] = sol / norms[keep]
    return coef


def group_rows(dataset: Dataset, names: Iterable[str],
               core: str) -> dict[str, tuple[list[dict], list[float]]]:
    """group -> (feature dicts, measured instructions) over the layers of `names` on `core`."""
    isa = ISA[core]
    out: dict[str, tuple[list[dict], list[float]]] = {}
    for name in names:
        m = dataset.models[name]
        for lay, y in zip(m.layers, m.layer_instructions[core], strict=True):
            r = route(lay, isa)
            feats, ys = out.setdefault(r.group, ([], []))
            feats.append(r.features)
            ys.append(float(y))
    return out


def fit_group(feats: list[dict], ys: list[float], floor: float, one: float | None = None) -> dict[str, float]:
    """Feature name -> instructions per unit, by relative-error-weighted NNLS. `one` given: the
    per-operator constant is fixed to it and only the other features are fitted."""
    names = sorted({k for f in feats for k in f})
    a = np.array([[f.get(k, 0.0) for k in names] for f in feats], dtype=float)
    y = np.array(ys, dtype=float)
    if one is not None and "one" in names:
        j = names.index("one")
        y = np.maximum(y - one * a[:, j], 0.0)
        a[:, j] = 0.0
    w = 1.0 / np.maximum(np.array(ys, dtype=float), floor)
    coef = _nnls(a * w[:, None], y * w)
    if one is not None and "one" in names:
        coef[names.index("one")] = one
    return {k: _round(c) for k, c in zip(names, coef, strict=True)}


def _generic(groups: dict[str, dict[str, float]], rows: dict[str, tuple[list[dict], list[float]]],
             floor: float) -> dict[str, float]:
    """Fallback for unmeasured operators: glue + per-element cost fitted to the portable elementwise
    kernels (HARD_SWISH, LOGISTIC, broadcast MUL): `one` + `elements` x max(in, out) elements."""
    feats, ys = [], []
    for g in ("hard_swish", "logistic", "broadcast"):
        for f, y in zip(*rows.get(g, ([], [])), strict=True):
            n = max(f.get("in_elements", 0.0), f.get("out_elements", 0.0), f.get("elements", 0.0))
            feats.append({"one": 1.0, "elements": n})
            ys.append(y)
    if not feats:
        return {"one": 0.0, "elements": 0.0}
    return fit_group(feats, ys, floor)


def fit_invoke(dataset: Dataset, names: Iterable[str], core: str) -> dict[str, float]:
    """Invoke overhead (instructions) = one + per_layer x layers, from total - sum of layer counts."""
    rows, ys = [], []
    for name in names:
        m = dataset.models[name]
        rows.append([1.0, float(len(m.layers))])
        ys.append(float(m.total_instructions[core] - sum(m.layer_instructions[core])))
    if not rows:
        return {"one": 0.0, "per_layer": 0.0}
    coef = _nnls(np.array(rows), np.array(ys))
    return {"one": _round(coef[0]), "per_layer": _round(coef[1])}


def fit_core(dataset: Dataset, names: list[str], core: str) -> dict[str, Any]:
    """The stored document of one core: ISA, groups (feature -> coefficient), invoke overhead."""
    floor = float(TICK_INSTRUCTIONS.get(core, 40.0))
    rows = group_rows(dataset, names, core)
    groups = {g: fit_group(f, y, floor) for g, (f, y) in sorted(rows.items())}
    for g, (f, y) in sorted(rows.items()):                 # too few layers to separate the constant
        stand_in = STAND_INS.get(g)
        if len(y) <= len({k for x in f for k in x}) and stand_in in groups:
            groups[g] = fit_group(f, y, floor, one=groups[stand_in]["one"])
    groups["generic"] = _generic(groups, rows, floor)
    return {
        "isa": ISA[core],
        "groups": groups,
        "invoke_overhead": fit_invoke(dataset, names, core),
        "runtime_flash_bytes": int(dataset.runtime_flash_bytes[core]),
        "layers_fitted": {g: len(y) for g, (_, y) in sorted(rows.items())},
    }


def fit_predictor(dataset: Dataset, names: list[str] | None = None,
                  cores: list[str] | None = None) -> dict[str, Any]:
    """The whole stored predictor (JSON-ready) fitted on `names` (default: every model)."""
    if dataset.mismatches:
        raise ValueError("the data set does not join with the parsed models: "
                         + "; ".join(dataset.mismatches[:5]))
    names = sorted(names if names is not None else dataset.models)
    return {
        "format": FORMAT,
        "unit": "instructions (QEMU icount; multiply by a per-core CPI / clock for time)",
        "source": "TFLM 90b983c2 + CMSIS-NN 4ab83cc3, arm-none-eabi-gcc 12.2.1 -O2, QEMU 7.2 icount "
                  "(../shared/data/tflm_kernels, see device_profiles/latency/README.md)",
        "models_fitted": len(names),
        "cores": {c: fit_core(dataset, names, c) for c in sorted(cores or dataset.cores)},
    }


def dumps(document: dict[str, Any]) -> str:
    """Canonical JSON text of a predictor document (sorted keys, one space indent, final newline)."""
    import json

    return json.dumps(document, sort_keys=True, indent=1) + "\n"


def first_difference(a: Any, b: Any, rel: float = 1e-6, where: str = "") -> str | None:
    """Path of the first difference between two documents (numbers compared to `rel`), None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}/{k}: only in {'stored' if k in a else 'fit'}"
            if (d := first_difference(a[k], b[k], rel, f"{where}/{k}")) is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (d := first_difference(x, y, rel, f"{where}[{i}]")) is not None:
                return d
        return None
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if abs(a - b) <= rel * max(abs(a), abs(b), 1e-12):
            return None
        return f"{where}: {a} != {b}"
    return None if a == b else f"{where}: {a!r} != {b!r}"

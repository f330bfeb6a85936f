"""Evaluate the stored instruction model: plain JSON coefficients x loop-count features, pure Python.

    layer instructions = sum over the layer's features of coefficient x feature        (per core)
    model instructions = sum of layer instructions + invoke_overhead(one + per_layer x layers)

No numpy, scikit-learn or TensorFlow is imported; the JSON is read once per process (cached).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from device_profiles.latency.cores import ISA
from device_profiles.latency.features import STAND_INS, Routed, generic, route
from device_profiles.layers import Layer

DATA_FILE = Path(__file__).with_name("instructions.json")


@dataclass(frozen=True)
class LayerPrediction:
    """One layer's instructions with the kernel path it was priced by and a note for stand-ins."""

    instructions: float
    group: str
    path: str
    note: str = ""


class InstructionPredictor:
    """Instruction counts of TFLM + CMSIS-NN int8 layers on one core (`core`: m4, m7, m33, m55)."""

    def __init__(self, core: str, document: dict[str, Any]) -> None:
        entry = document["cores"][core]
        self.core = core
        self.cores: tuple[str, ...] = tuple(sorted(document["cores"]))
        self.isa: str = entry.get("isa", ISA.get(core, "dsp"))
        self.groups: dict[str, dict[str, float]] = entry["groups"]
        self._invoke: dict[str, float] = entry["invoke_overhead"]
        self.runtime_flash_bytes: int = int(entry["runtime_flash_bytes"])

    @property
    def invoke_overhead(self) -> float:
        """Fixed instructions of one Invoke() outside the operators (interpreter loop, profiler)."""
        return float(self._invoke.get("one", 0.0))

    @property
    def per_layer_overhead(self) -> float:
        """Invoke() instructions per executed operator outside the operator's own window."""
        return float(self._invoke.get("per_layer", 0.0))

    def routed(self, layer: Layer) -> Routed:
        """Kernel group, path and features. A group without measurements falls back to its stand-in
        (STAND_INS: the sibling CMSIS-NN kernel with the same loop features), else to `generic`; the
        note says so."""
        r = route(layer, self.isa)
        if r.group in self.groups:
            return r
        stand_in = STAND_INS.get(r.group)
        if stand_in in self.groups:
            return Routed(stand_in, r.path, r.features,
                          f"{layer.op}: kernel {r.path} not measured on {self.core}; priced as {stand_in}")
        return generic(layer, f"{layer.op}: kernel {r.path} not measured on {self.core}; "
                              "priced as a generic portable op")

    def explain(self, layer: Layer) -> LayerPrediction:
        """Instructions of `layer` with the path and fallback note."""
        r = self.routed(layer)
        coef = self.groups[r.group]
        value = sum(coef.get(k, 0.0) * v for k, v in r.features.items())
        note = r.note
        if layer.dtype not in ("int8", "uint8"):
            note = "; ".join(x for x in (note, f"{layer.dtype} layer priced with the int8 kernels") if x)
        return LayerPrediction(float(value), r.group, r.path, note)

    def layer_instructions(self, layer: Layer) -> float:
        """Instructions executed by one operator's Eval (TFLM glue included)."""
        return self.explain(layer).instructions

    def model_instructions(self, layers: Iterable[Layer]) -> float:
        """Instructions of one MicroInterpreter::Invoke() over `layers`."""
        total, n = 0.0, 0
        for lay in layers:
            total += self.layer_instructions(lay)
            n += 1
        return total + self.invoke_overhead + self.per_layer_overhead * n

    def flash_bytes(self, model_bytes: int) -> int:
        """Firmware flash (bytes): TFLM runtime + kernels (upper bound, all 21 ops linked) + model."""
        return self.runtime_flash_bytes + int(model_bytes)


@lru_cache(maxsize=4)
def _document(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: instruction model data missing; regenerate it with "
                                "benchmarks/fit_latency_model.py or reinstall qnas-edge") from None


@lru_cache(maxsize=16)
def load_predictor(core: str, path: str | None = None) -> InstructionPredictor:
    """The predictor of data core `core` (m4, m7, m33, m55), from the stored JSON (cached).

    KeyError names the cores available when `core` is not one of them."""
    doc = _document(str(path or DATA_FILE))
    if core not in doc["cores"]:
        known = ", ".join(sorted(doc["cores"]))
        raise KeyError(f"no instruction model for core {core!r}; measured cores: {known}")
    return InstructionPredictor(core, doc)


def available_cores(path: str | None = None) -> tuple[str, ...]:
    """Cores with a stored instruction model."""
    return tuple(sorted(_document(str(path or DATA_FILE))["cores"]))


def predictor_from_document(core: str, document: dict[str, Any]) -> InstructionPredictor:
    """A predictor from an in-memory document (e.g. a fresh fit), not the stored file."""
    return InstructionPredictor(core, document)

"""Kernel-level instruction model of TensorFlow Lite Micro + CMSIS-NN int8 on Cortex-M cores.

Learned from measured per-operator instruction counts (`../shared/data/tflm_kernels/`, see README.md
here) and stored as plain JSON (`instructions.json`), evaluated in pure Python:

    from device_profiles.latency import core_of, load_predictor
    p = load_predictor(core_of("cortex-m4f"))          # "m4"; None for cores without a model
    p.layer_instructions(layer)                        # instructions of one operator
    p.model_instructions(layers)                       # one Invoke(): layers + interpreter overhead
    p.invoke_overhead, p.per_layer_overhead, p.cores, p.runtime_flash_bytes

Time = instructions x CPI / clock, with CPI per core family from `cpi.json` (`load_cpi`), and a board's
own measurements folded in by `fit_residual` (scale + per-kernel-group factors). No numpy, scikit-learn
or TensorFlow is imported by this package at load time.
"""

from __future__ import annotations

from device_profiles.latency.cores import ISA, core_note, core_of
from device_profiles.latency.cpi import CpiEntry, cpi_for, load_cpi
from device_profiles.latency.predictor import (
    InstructionPredictor,
    LayerPrediction,
    available_cores,
    load_predictor,
)
from device_profiles.latency.residual import Residual, fit_residual, fit_residual_groups, group_instructions

CORES = tuple(sorted(ISA))

__all__ = [
    "CORES", "CpiEntry", "InstructionPredictor", "LayerPrediction", "Residual", "available_cores",
    "core_note", "core_of", "cpi_for", "fit_residual", "fit_residual_groups", "group_instructions",
    "load_cpi", "load_predictor",
]

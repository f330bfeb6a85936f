"""The MCU path's gate: does TFLite Micro run this model, with how much arena, and does it agree with TFLite?

Op support and the exact minimum arena come from `device_profiles.tflm_arena.find_min_arena` (real
tflite-micro, bisected out of process). One inference then runs in-process with the tflite-micro
interpreter on an arena of the minimum + margin (never a too-small arena: that can crash the
process), and its int8 output must be within 1 quantization step of the TFLite interpreter's (builtin
kernels, whose int8 rounding the TFLM reference kernels share).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qnas_edge.errors import RunFailed

_ARENA_MARGIN = 1024  # bytes added to the exact minimum for the in-process run


@dataclass(frozen=True)
class TflmReport:
    arena_bytes: int           # exact minimum arena (bytes) for tflite-micro's Python interpreter
    max_abs_diff: int          # max |TFLM - TFLite| over the output, in quantization steps
    output: list[int]          # TFLM int8 output of the check input

    def to_dict(self) -> dict:
        return asdict(self)


def tflm_invoke(data: bytes, x_int8: np.ndarray, arena_bytes: int) -> np.ndarray:
    """One inference with tflite-micro; `arena_bytes` must be at least the minimum arena."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=int(arena_bytes) + _ARENA_MARGIN)
    interp.set_input(x_int8.astype(np.int8), 0)
    interp.invoke()
    return np.array(interp.get_output(0)).copy()


def check_tflm(model_path: Path, x_int8: np.ndarray, threads: int = 2) -> TflmReport:
    """Arena + op support + one-inference agreement; RunFailed (unsupported ops named) on any failure.

    `x_int8` is one quantized input sample of shape (1, H, W, C).
    """
    from device_profiles.tflm_arena import find_min_arena
    from qnas_edge.pipeline.quantize import run_int8

    model_path = Path(model_path).resolve()  # the arena worker runs in another working directory
    res = find_min_arena(model_path)
    if res.arena_bytes is None:
        ops = f" (unsupported ops: {', '.join(res.unsupported_ops)})" if res.unsupported_ops else ""
        raise RunFailed(f"TFLite Micro cannot run {model_path.name}{ops}: {res.error}")
    data = model_path.read_bytes()
    micro = tflm_invoke(data, x_int8, res.arena_bytes)
    ref = run_int8(data, x_int8, threads, kernels="builtin")
    diff = int(np.abs(micro.astype(np.int32) - ref.astype(np.int32)).max())
    if diff > 1:
        raise RunFailed(f"TFLite Micro output differs from TFLite by {diff} quantization steps (> 1)")
    return TflmReport(int(res.arena_bytes), diff, [int(v) for v in micro.reshape(-1)])

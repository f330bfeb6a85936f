"""Timing model of the virtual board ("board twin"): what a microcontroller would take per inference.

Deliberately *not* the search's static estimator (`device_profiles.cost_model`): it has its own
constants and effects the static model lacks, so measured-vs-predicted calibration in the loop has
something real to correct. For each layer of `parse_tflite(model).layers` (cycles, clock from the
board Profile)::

    compute  = macs * CPM[kind]                     (MAC kernels)
             | out_elements * CPE[kind]             (element-wise kernels)
    memory   = (input_bytes + output_bytes) * CPB[kind]
    core     = max(compute, memory)                 (a 3x3 depthwise is memory-bound: CPB[dw] = 6
                                                     cycles/byte > 9 MACs x CPM[dw] / 2 bytes per element)
    flash    = macs * 0.25 * wait_states * miss(weight_bytes)    (weights fetched from flash)
    miss(w)  = 0.03                                 if w <= cache_bytes
             = 0.03 + 0.45 * (1 - cache_bytes / w)  otherwise
    layer    = overhead[kind] + core + flash        (float32 layers: core * float_slowdown)

    wait_states = max(0, ceil(clock_hz / flash_hz) - 1)
    latency_ms  = (invoke_cycles + sum(layer)) / clock_hz * 1000 * jitter
    jitter      = 1 + clip(N(0, jitter_sigma), -3 sigma, +3 sigma)   (seeded RNG, per inference)

Constants are per core family (`TwinParams.for_core`); Cortex-M4 values follow the shape of the
CMSIS-NN kernel benchmarks (1x1 conv fastest per MAC, depthwise 2-3x slower and bandwidth-limited) and
TFLM's per-op dispatch cost. PROTOCOL.md repeats this formula.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from device_profiles.layers import MAC_KINDS, Layer
from device_profiles.profile import Profile


@dataclass(frozen=True)
class TwinParams:
    cpm: dict[str, float]                  # cycles per MAC by kind
    cpe: dict[str, float]                  # cycles per output element by kind
    cpb: dict[str, float]                  # cycles per activation byte moved, by kind
    overhead: dict[str, float]             # per-layer fixed cycles by kind
    invoke_cycles: float = 9000.0
    flash_hz: float = 32e6                 # flash read rate without wait states
    cache_bytes: int = 8192
    float_slowdown: float = 4.5
    jitter_sigma: float = 0.006

    @staticmethod
    def for_core(core: str) -> TwinParams:
        core = core.lower()
        scale = 1.0
        if core.startswith("cortex-m0") or core.startswith("cortex-m3"):
            scale = 2.6
        elif core.startswith("cortex-m7") or core.startswith("cortex-m55"):
            scale = 0.55
        elif core.startswith("cortex-m33"):
            scale = 0.9
        elif core.startswith("cortex-a") or core.startswith("x86"):
            scale = 0.12
        cpm = {"conv_2d": 1.05, "conv_2d_1x1": 0.88, "depthwise_conv_2d": 1.1, "fully_connected": 1.25,
               "default": 1.4}
        return TwinParams(
            cpm={k: v * scale for k, v in cpm.items()},
            cpe={"add": 11.0 * scale, "mul": 9.5 * scale, "pool": 5.0 * scale, "mean": 7.0 * scale,
                 "softmax": 55.0 * scale, "logistic": 38.0 * scale, "hard_swish": 14.0 * scale,
                 "quantize": 3.5 * scale, "pad": 2.5 * scale, "reshape": 0.0, "default": 7.0 * scale},
            cpb={"depthwise_conv_2d": 6.0 * scale, "default": 0.6 * scale},
            overhead={"conv_2d": 2600.0, "conv_2d_1x1": 2200.0, "depthwise_conv_2d": 3100.0,
                      "fully_connected": 1500.0, "reshape": 300.0, "default": 1100.0},
        )


def _get(d: dict[str, float], kind: str) -> float:
    return d.get(kind, d.get("default", 0.0))


@dataclass
class BoardTwin:
    """Per-inference latency of a model on a board, with seeded run-to-run jitter."""

    profile: Profile
    layers: list[Layer]
    params: TwinParams | None = None
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.params is None:
            self.params = TwinParams.for_core(self.profile.core)
        self._rng = random.Random(self.seed)

    @property
    def wait_states(self) -> int:
        return max(0, math.ceil(self.profile.clock_hz / self.params.flash_hz) - 1)

    def miss_rate(self, weight_bytes: int) -> float:
        c = self.params.cache_bytes
        return 0.03 if weight_bytes <= c else 0.03 + 0.45 * (1.0 - c / weight_bytes)

    def layer_cycles(self, layer: Layer) -> float:
        p = self.params
        if layer.kind in MAC_KINDS:
            compute = layer.macs * _get(p.cpm, layer.kind)
        else:
            compute = layer.output_elements * _get(p.cpe, layer.kind)
        memory = (layer.input_bytes + layer.output_bytes) * _get(p.cpb, layer.kind)
        core = max(compute, memory)
        if layer.dtype == "float32":
            core *= p.float_slowdown
        flash = layer.macs * 0.25 * self.wait_states * self.miss_rate(layer.weight_bytes)
        return _get(p.overhead, layer.kind) + core + flash

    def nominal_ms(self) -> float:
        """Latency without jitter (ms)."""
        cycles = self.params.invoke_cycles + sum(self.layer_cycles(lay) for lay in self.layers)
        return cycles / self.profile.clock_hz * 1000.0

    def sample_ms(self) -> float:
        """One inference's latency (ms) including seeded jitter."""
        s = self.params.jitter_sigma
        j = max(-3 * s, min(3 * s, self._rng.gauss(0.0, s)))
        return self.nominal_ms() * (1.0 + j)

    def breakdown(self) -> list[dict[str, float | str | int]]:
        f = 1000.0 / self.profile.clock_hz
        return [{"index": lay.index, "op": lay.op, "kind": lay.kind, "ms": self.layer_cycles(lay) * f}
                for lay in self.layers]

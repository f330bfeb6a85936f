"""The Layer record: what the cost model needs to know about one operator of a network.

Layers come from two places that must agree exactly: a parsed `.tflite` file
(`device_profiles.tflite_model`) and an architecture description before training (the pipeline's
architecture → layers lowering). Sizes are bytes; MACs are multiply-accumulates per inference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# TFLite builtin operator name -> cost-model kind. Kinds with MACs are priced per MAC, the rest per
# output element. A 1x1 convolution gets its own kind because CMSIS-NN and XNNPACK run it as a GEMM.
MAC_KINDS = ("conv_2d", "conv_2d_1x1", "depthwise_conv_2d", "fully_connected")

OP_KIND = {
    "CONV_2D": "conv_2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv_2d",
    "FULLY_CONNECTED": "fully_connected",
    "ADD": "add",
    "MUL": "mul",
    "SUB": "add",
    "AVERAGE_POOL_2D": "pool",
    "MAX_POOL_2D": "pool",
    "MEAN": "mean",
    "SOFTMAX": "softmax",
    "LOGISTIC": "logistic",
    "HARD_SWISH": "hard_swish",
    "RELU": "activation",
    "RELU6": "activation",
    "QUANTIZE": "quantize",
    "DEQUANTIZE": "quantize",
    "RESHAPE": "reshape",
    "SQUEEZE": "reshape",
    "PAD": "pad",
    "CONCATENATION": "concat",
}

# Ops with no runtime cost beyond the per-layer overhead (they only reinterpret the buffer).
FREE_KINDS = ("reshape",)


def op_kind(op: str, kernel_hw: tuple[int, int] | None = None) -> str:
    """Cost-model kind of a TFLite builtin op (unknown ops map to their lowercase name)."""
    kind = OP_KIND.get(op, op.lower())
    if kind == "conv_2d" and kernel_hw == (1, 1):
        return "conv_2d_1x1"
    return kind


@dataclass(frozen=True)
class Layer:
    """One operator. `weight_bytes` counts constant tensors (weights, biases); activations are the
    variable tensors read and written; shapes are NHWC / (N, features)."""

    index: int
    op: str
    kind: str
    macs: int
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: str = "int8"
    kernel_hw: tuple[int, int] | None = None
    stride: int = 1
    # AVERAGE_POOL_2D / MAX_POOL_2D only: the pooling window (kh, kw) and its stride (None elsewhere).
    # Used by the instruction model (device_profiles.latency); conv padding (SAME/VALID) and the
    # depthwise multiplier are implied by the shapes, kernel_hw and stride, so they need no field.
    pool_hw: tuple[int, int] | None = None
    pool_stride: int | None = None

    @property
    def output_elements(self) -> int:
        return elements(self.output_shape)

    @property
    def input_elements(self) -> int:
        return elements(self.input_shape)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["output_shape"] = list(self.output_shape)
        d["kernel_hw"] = list(self.kernel_hw) if self.kernel_hw else None
        d["pool_hw"] = list(self.pool_hw) if self.pool_hw else None
        return d


def elements(shape: tuple[int, ...]) -> int:
    """Number of elements of a tensor shape (unknown / zero dimensions count as 1)."""
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    return n


def conv_macs(out_shape: tuple[int, ...], kernel_hw: tuple[int, int], in_channels: int) -> int:
    """MACs of a standard convolution: every output element sums kh*kw*in_channels products."""
    _, oh, ow, oc = out_shape
    return int(oh * ow * oc * kernel_hw[0] * kernel_hw[1] * in_channels)


def depthwise_macs(out_shape: tuple[int, ...], kernel_hw: tuple[int, int]) -> int:
    """MACs of a depthwise convolution: every output element sums kh*kw products."""
    _, oh, ow, oc = out_shape
    return int(oh * ow * oc * kernel_hw[0] * kernel_hw[1])


def dense_macs(in_features: int, units: int, batch: int = 1) -> int:
    return int(batch * in_features * units)

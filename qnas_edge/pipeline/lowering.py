"""Lower an Architecture to the exact layer list `parse_tflite` reports for its built int8 `.tflite`.

This is what lets the search price an architecture before training: the cost model sees the same ops,
MACs, weight bytes (int8 weights + int32 biases + the MEAN axis constant) and activation bytes as it
will see in the converted file. `keras_model` builds exactly this op sequence; tests check the two
agree for every block variant. Lowering rules (TFLite converter, full-int8 PTQ, int8 input/output):
BatchNorm folds into the preceding conv (which then carries an int32 bias); ReLU/ReLU6 fuse into the
conv; global pooling is a MEAN with an int32[2] axis tensor; the SE gate is CONV_2D then LOGISTIC.
"""

from __future__ import annotations

from device_profiles.layers import Layer, conv_macs, dense_macs, depthwise_macs, op_kind
from qnas_edge.pipeline.architecture import SE_RATIO, Architecture

_BIAS = 4        # int32 bias bytes per output channel
_AXIS = 8        # MEAN's int32[2] reduction-axes constant


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class _Lowering:
    def __init__(self) -> None:
        self.layers: list[Layer] = []

    def add(self, op: str, macs: int, weight_bytes: int, inputs: list[tuple[int, ...]],
            out: tuple[int, ...], kernel_hw: tuple[int, int] | None = None, stride: int = 1) -> tuple[int, ...]:
        self.layers.append(Layer(
            index=len(self.layers), op=op, kind=op_kind(op, kernel_hw), macs=int(macs),
            weight_bytes=int(weight_bytes), input_bytes=sum(_prod(s) for s in inputs),
            output_bytes=_prod(out), input_shape=inputs[0], output_shape=out, dtype="int8",
            kernel_hw=kernel_hw, stride=stride))
        return out

    def conv(self, x: tuple[int, ...], cout: int, k: int, stride: int = 1) -> tuple[int, ...]:
        _, h, w, cin = x
        out = (1, -(-h // stride), -(-w // stride), cout)
        return self.add("CONV_2D", conv_macs(out, (k, k), cin), cout * k * k * cin + _BIAS * cout, [x], out,
                        (k, k), stride)

    def depthwise(self, x: tuple[int, ...], k: int, stride: int = 1) -> tuple[int, ...]:
        _, h, w, c = x
        out = (1, -(-h // stride), -(-w // stride), c)
        return self.add("DEPTHWISE_CONV_2D", depthwise_macs(out, (k, k)), k * k * c + _BIAS * c, [x], out,
                        (k, k), stride)

    def squeeze_excite(self, x: tuple[int, ...]) -> tuple[int, ...]:
        c = x[3]
        s = self.add("MEAN", 0, _AXIS, [x], (1, 1, 1, c))
        s = self.conv(s, max(1, c // SE_RATIO), 1)
        s = self.conv(s, c, 1)
        s = self.add("LOGISTIC", 0, 0, [s], s)
        return self.add("MUL", 0, 0, [x, s], x)


def lower(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> list[Layer]:
    """Layers (in graph order) of `arch` for an input of (H, W, C) and `num_classes` outputs.

    `input_shape` H and W must equal arch.resolution (datasets are resized to it).
    """
    h, w, c = input_shape
    low = _Lowering()
    x = low.conv((1, h, w, c), arch.scaled(arch.stem_channels), 3, arch.stem_stride)
    for stage in arch.stages:
        cout = arch.scaled(stage.channels)
        for j, block in enumerate(stage.blocks):
            stride = stage.stride if j == 0 else 1
            cin = x[3]
            if block.expansion == 1:
                y = low.depthwise(x, block.kernel, stride)
                if block.se:
                    y = low.squeeze_excite(y)
                x = low.conv(y, cout, 1)
                continue
            y = low.conv(x, cin * block.expansion, 1)
            y = low.depthwise(y, block.kernel, stride)
            if block.se:
                y = low.squeeze_excite(y)
            y = low.conv(y, cout, 1)
            if stride == 1 and cin == cout:
                y = low.add("ADD", 0, 0, [x, y], y)
            x = y
    feat = low.add("MEAN", 0, _AXIS, [x], (1, x[3]))
    low.add("FULLY_CONNECTED", dense_macs(feat[1], num_classes), feat[1] * num_classes + _BIAS * num_classes,
            [feat], (1, num_classes))
    return low.layers


def total_weight_bytes(layers: list[Layer]) -> int:
    """Constant bytes of the built file: the converter stores the MEAN axes constant ([1, 2]) once
    and shares it between every MEAN, so it counts once (matches `ModelInfo.weight_bytes`)."""
    means = sum(1 for lay in layers if lay.op == "MEAN")
    return sum(lay.weight_bytes for lay in layers) - _AXIS * max(0, means - 1)


def estimate_model_bytes(layers: list[Layer]) -> int:
    """Approximate .tflite size before building (weights + flatbuffer metadata + per-channel
    quantization parameters); the exact size is known only after conversion."""
    weights = total_weight_bytes(layers)
    channels = sum(lay.output_shape[-1] for lay in layers if lay.kernel_hw or lay.op == "FULLY_CONNECTED")
    return int(weights + 12 * channels + 420 * len(layers) + 2400)

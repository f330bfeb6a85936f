"""Window geometry of a convolution / pooling layer, from a Layer's shapes alone.

TFLite pads SAME layers with `total = max((out - 1) * stride + k - in, 0)` split as `total // 2` before
and the rest after; a VALID layer gives `total <= 0`, i.e. no padding. So the padding (and with it
which CMSIS-NN kernel runs and how many window taps fall inside the input) follows from the input
and output shapes, the kernel and the stride; no padding field is needed. Counts are integers
(pixels, taps); everything is pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_profiles.layers import Layer


def nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, H, W, C) of a tensor shape; 2-D (N, C) and 1-D shapes are read as N x 1 x 1 x C."""
    dims = [max(int(d), 1) for d in shape] or [1]
    if len(dims) >= 4:
        return dims[0], dims[-3], dims[-2], dims[-1]
    if len(dims) == 3:
        return 1, dims[0], dims[1], dims[2]
    if len(dims) == 2:
        return dims[0], 1, 1, dims[1]
    return 1, 1, 1, dims[0]


def _valid_sum(n_out: int, n_in: int, k: int, stride: int, pad: int) -> int:
    """Sum over output positions of the kernel taps (along one axis) that fall inside the input."""
    total = 0
    for o in range(n_out):
        start = o * stride - pad
        total += max(0, min(start + k, n_in) - max(start, 0))
    return total


@dataclass(frozen=True)
class Window:
    """Sizes of a windowed layer. `taps_valid` = window taps inside the input summed over output
    pixels (x batch); `rows_valid` = kernel rows inside the input summed over output pixels."""

    n: int
    h: int
    w: int
    cin: int
    oh: int
    ow: int
    cout: int
    kh: int
    kw: int
    stride: int
    pad_h: int
    pad_w: int
    taps_valid: int
    rows_valid: int

    @property
    def pixels(self) -> int:
        """Output pixels (x batch)."""
        return self.n * self.oh * self.ow

    @property
    def taps(self) -> int:
        return self.kh * self.kw

    @property
    def taps_padded(self) -> int:
        """Window taps over padding, summed over output pixels."""
        return self.pixels * self.taps - self.taps_valid


def window(layer: Layer) -> Window:
    """Geometry of a CONV_2D / DEPTHWISE_CONV_2D (kernel_hw, stride) or a pooling layer (pool_hw,
    pool_stride; a missing window is taken as in/out, e.g. 2x2 stride 2)."""
    n, h, w, cin = nhwc(layer.input_shape)
    _, oh, ow, cout = nhwc(layer.output_shape)
    if layer.kernel_hw:
        (kh, kw), stride = layer.kernel_hw, max(int(layer.stride), 1)
    elif layer.pool_hw:
        (kh, kw), stride = layer.pool_hw, max(int(layer.pool_stride or 1), 1)
    else:
        stride = max(1, round(h / max(oh, 1)))
        kh = kw = stride
    pad_h = max((oh - 1) * stride + kh - h, 0) // 2
    pad_w = max((ow - 1) * stride + kw - w, 0) // 2
    rows = _valid_sum(oh, h, kh, stride, pad_h)
    cols = _valid_sum(ow, w, kw, stride, pad_w)
    return Window(n=n, h=h, w=w, cin=cin, oh=oh, ow=ow, cout=cout, kh=int(kh), kw=int(kw), stride=stride,
                  pad_h=pad_h, pad_w=pad_w, taps_valid=n * rows * cols, rows_valid=n * rows * ow)

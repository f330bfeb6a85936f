"""Layer -> (kernel group, loop-count features) for TFLM + CMSIS-NN int8, per instruction-set family.

Each operator is routed the way TFLM (cmsis_nn kernels) and CMSIS-NN's wrappers dispatch it, and its
features are the trip counts of that kernel's loops (MAC blocks, remainders, im2col copies,
requantisations, per-call set-up), so the instructions of a layer are a non-negative linear
combination of them. `dsp` is the Armv7E-M / Armv8-M DSP-extension code path (Cortex-M4, M7, M33),
`mve` the Helium path (Cortex-M55). Dispatch rules (CMSIS-NN arm_convolve_wrapper_s8,
arm_depthwise_conv_wrapper_s8; TFLM cmsis_nn/fully_connected.cc, add.cc, mul.cc):

* CONV_2D 1x1, no padding, stride 1 -> arm_convolve_1x1_s8_fast (one GEMM over all pixels);
  1x1 strided -> arm_convolve_1x1_s8 (one GEMM per output row); input height 1 with a 1xN kernel and
  (stride x Cin) % 4 == 0 -> arm_convolve_1_x_n_s8; anything else -> arm_convolve_s8 (im2col + GEMM).
* DEPTHWISE_CONV_2D, multiplier 1: 3x3 with padding <= 1 -> arm_depthwise_conv_3x3_s8 (DSP only),
  otherwise arm_depthwise_conv_s8_opt; other multipliers -> arm_depthwise_conv_s8 (generic); on MVE a
  1-channel input with more than 8 outputs is run as a convolution.
* FULLY_CONNECTED with a >2-D output and accumulation depth % 4 == 0 -> arm_convolve_1x1_s8_fast;
  otherwise arm_fully_connected_s8 / _per_channel_s8 (vector x matrix).
* ADD / MUL with equal flat sizes -> arm_elementwise_add/mul_s8; otherwise TFLM's reference
  Broadcast{Add,Mul}4DSlow (a scalar constant operand is a broadcast too).
* MEAN, HARD_SWISH, LOGISTIC are TFLM portable kernels; pooling and SOFTMAX are CMSIS-NN.

Every group has a `one` feature: the fixed per-operator cost (TFLM glue, kernel set-up, profiler hook).
Slow remainder loops are features *on top of* the base count (e.g. every column at the 16-block rate,
plus an `_extra` per column left to the 4-column or scalar loop), so a remainder never seen in the data
is priced at the base rate rather than for free, and the fitted increments stay non-negative.
Pure Python (no numpy); features are plain floats.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_profiles.latency.geometry import Window, nhwc, window
from device_profiles.layers import Layer

Features = dict[str, float]

# Ops that only reinterpret a buffer: priced at the per-operator glue cost of the `generic` group.
NOOP_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE"})

# Kernel group -> the group with the same features that stands in for it: prices it when it has no
# data, and lends its per-operator constant when it has too few layers to fit one (same-shape MUL: 1).
STAND_INS = {"mul": "add", "add": "mul"}


@dataclass(frozen=True)
class Routed:
    """Where a layer goes: `group` (coefficient set), `path` (kernel name, for reports), features, and
    `note` when the layer has no measured counterpart and is priced by a stand-in group."""

    group: str
    path: str
    features: Features
    note: str = ""


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------- GEMM kernels (arm_nn_mat_mult_nt_t_s8)

def _gemm_dsp(lhs_rows: int, rhs_rows: int, cols: int, calls: int = 1) -> Features:
    """DSP GEMM: 2 output channels x 2 pixels per block, columns in 16s, 4s and singles; an odd
    output channel runs a scalar loop; `calls` GEMM invocations of this size."""
    r2, ro = divmod(rhs_rows, 2)
    l2, lo = divmod(lhs_rows, 2)
    c1 = cols % 4
    c4 = cols % 16 - c1
    return {
        "rhs_sum": calls * r2 * cols, "row_pairs": calls * r2,
        "blk_cols": calls * r2 * l2 * cols, "blk_cols4_extra": calls * r2 * l2 * c4,
        "blk_cols1_extra": calls * r2 * l2 * c1, "blk": calls * r2 * l2,
        "odd_cols": calls * r2 * lo * cols, "odd_cols4_extra": calls * r2 * lo * c4,
        "odd_cols1_extra": calls * r2 * lo * c1, "odd": calls * r2 * lo,
        "scalar_mac": calls * ro * lhs_rows * cols, "scalar_out": calls * ro * lhs_rows,
        "calls": calls,
    }


def _gemm_mve(lhs_rows: int, rhs_rows: int, cols: int, calls: int = 1) -> Features:
    """MVE GEMM: 4 pixels x 1 output channel per block, columns in 16-byte tail-predicated vectors;
    leftover pixels one at a time with outputs requantised in 4s."""
    l4, lt = divmod(lhs_rows, 4)
    vec = _ceil(cols, 16)
    return {
        "vec4": calls * l4 * rhs_rows * vec, "row4": calls * l4 * rhs_rows, "grp4": calls * l4,
        "vec1": calls * lt * rhs_rows * vec, "row1": calls * lt * rhs_rows,
        "req4": calls * lt * (rhs_rows // 4), "req1": calls * lt * (rhs_rows % 4), "grp1": calls * lt,
        "calls": calls,
    }


def _gemm(isa: str, lhs_rows: int, rhs_rows: int, cols: int, calls: int = 1) -> Features:
    f = (_gemm_mve if isa == "mve" else _gemm_dsp)(lhs_rows, rhs_rows, cols, calls)
    f["one"] = 1.0
    return f


# ---------------------------------------------------------------- convolutions

def _im2col(isa: str, g: Window, ch: int) -> Features:
    """Copies of `ch` channels per valid window tap and fills per padded tap."""
    if isa == "mve":
        vec = _ceil(ch, 16)
        return {"copy": g.taps_valid, "copy_vec": g.taps_valid * vec,
                "fill": g.taps_padded, "fill_vec": g.taps_padded * vec}
    return {"copy": g.taps_valid, "copy_bytes": g.taps_valid * ch,
            "fill": g.taps_padded, "fill_bytes": g.taps_padded * ch}


def _conv_generic(isa: str, g: Window) -> Features:
    """arm_convolve_s8: im2col per output pixel, then a GEMM per 2 (DSP) or 4 (MVE) pixels."""
    cols = g.taps * g.cin
    f = _im2col(isa, g, g.cin)
    f["pixels"] = g.pixels
    f["one"] = 1.0
    if isa == "mve":
        f.update({f"mm_{k}": v for k, v in _gemm_mve(g.pixels, g.cout, cols).items()})
        return f
    # DSP: each pixel's column is widened to int16 (4 at a time), then a 2-pixel x 2-channel kernel
    # with 4-column SMLAD blocks; an odd channel and an odd last pixel have their own loops.
    p2, po = divmod(g.pixels, 2)
    c2, co = divmod(g.cout, 2)
    k1 = cols % 4
    f.update({
        "widen": g.pixels * cols, "widen1_extra": g.pixels * k1,
        "blk_cols": p2 * c2 * cols, "blk_cols1_extra": p2 * c2 * k1, "blk": p2 * c2,
        "och_cols": p2 * co * cols, "och_cols1_extra": p2 * co * k1, "och": p2 * co,
        "last_cols": po * g.cout * cols, "last_cols1_extra": po * g.cout * k1, "last": po * g.cout,
        "pairs": p2,
    })
    return f


def _dw_3x3_dsp(g: Window) -> Features:
    """arm_depthwise_conv_3x3_s8: per pixel, channels in 4s over the valid kernel rows, then the rest."""
    c1 = g.cout % 4
    return {
        "ch_rows": g.cout * g.rows_valid, "ch_taps": g.cout * g.taps_valid, "ch": g.cout * g.pixels,
        "rest_rows_extra": c1 * g.rows_valid, "rest_taps_extra": c1 * g.taps_valid,
        "rest_extra": c1 * g.pixels, "pixels": g.pixels, "out_rows": g.n * g.oh, "one": 1.0,
    }


def _dw_opt_dsp(g: Window) -> Features:
    """arm_depthwise_conv_s8_opt (DSP): widen the window to int16 (zeros over padding), then per pixel
    4 channels x 2 taps per block, leftover channels tap by tap."""
    c1 = g.cout % 4
    f = _im2col("dsp", g, g.cin)
    f.update({
        "ch_taps": g.pixels * g.cout * g.taps, "ch_odd_tap_extra": g.pixels * (g.cout - c1) * (g.taps % 2),
        "ch": g.pixels * g.cout, "rest_taps_extra": g.pixels * c1 * g.taps, "rest_extra": g.pixels * c1,
        "pixels": g.pixels, "one": 1.0,
    })
    return f


def _dw_opt_mve(g: Window) -> Features:
    """arm_depthwise_conv_s8_opt (MVE): channel blocks of 124; per block im2col, then 4 pixels x
    4 channels per vector step over all taps; leftover pixels the same one at a time."""
    p4, pt = divmod(g.pixels, 4)
    blocks = [min(124, g.cout - b) for b in range(0, g.cout, 124)] or [1]
    ch4 = sum(_ceil(a, 4) for a in blocks)
    vec = sum(_ceil(a, 16) for a in blocks)
    nb = len(blocks)
    return {
        "copy": nb * g.taps_valid, "copy_vec": vec * g.taps_valid,
        "fill": nb * g.taps_padded, "fill_vec": vec * g.taps_padded,
        "vec4": p4 * ch4 * g.taps, "grp4": p4 * ch4, "vec1": pt * ch4 * g.taps, "grp1": pt * ch4,
        "pixels": nb * g.pixels, "one": 1.0,
    }


def _conv(isa: str, layer: Layer) -> Routed:
    g = window(layer)
    if (g.kh, g.kw) == (1, 1) and g.pad_h == 0 and g.pad_w == 0:
        if g.stride == 1:
            return Routed("gemm", "arm_convolve_1x1_s8_fast", _gemm(isa, g.pixels, g.cout, g.cin))
        return Routed("gemm", "arm_convolve_1x1_s8", _gemm(isa, g.ow, g.cout, g.cin, calls=g.n * g.oh))
    if g.h == 1 and g.kh == 1 and (g.stride * g.cin) % 4 == 0:
        return Routed("conv", "arm_convolve_1_x_n_s8", _conv_generic(isa, g),
                      "1xN convolution priced as the generic im2col convolution (no 1xN layer measured)")
    return Routed("conv", "arm_convolve_s8", _conv_generic(isa, g))


def _depthwise(isa: str, layer: Layer) -> Routed:
    g = window(layer)
    mult = g.cout // max(g.cin, 1)
    if isa == "mve" and g.cin == 1 and g.cout > 8:
        return Routed("conv", "arm_depthwise_conv_to_conv_s8", _conv_generic(isa, g),
                      "1-channel depthwise run as a convolution on MVE (no such layer measured)")
    if mult == 1 and g.cin == g.cout:
        if isa != "mve" and (g.kh, g.kw) == (3, 3) and g.pad_h <= 1 and g.pad_w <= 1:
            return Routed("dw_3x3", "arm_depthwise_conv_3x3_s8", _dw_3x3_dsp(g))
        feats = _dw_opt_mve(g) if isa == "mve" else _dw_opt_dsp(g)
        return Routed("dw_opt", "arm_depthwise_conv_s8_opt", feats)
    feats = _dw_opt_mve(g) if isa == "mve" else _dw_opt_dsp(g)
    return Routed("dw_opt", "arm_depthwise_conv_s8", feats,
                  f"depthwise multiplier {mult}: CMSIS-NN's generic kernel, priced as the optimised one "
                  "(not measured; a lower bound)")


# ---------------------------------------------------------------- fully connected

def _fully_connected(isa: str, layer: Layer) -> Routed:
    units = max(int(layer.output_shape[-1]) if layer.output_shape else 1, 1)
    batch = max(layer.output_elements // units, 1)
    depth = max(layer.macs // max(batch * units, 1), 1)
    if len(layer.output_shape) > 2 and depth % 4 == 0:
        return Routed("gemm", "arm_convolve_1x1_s8_fast", _gemm(isa, batch, units, depth))
    if isa == "mve":
        r4, rt = divmod(units, 4)
        vec = _ceil(depth, 16)
        f = {"vec4": r4 * vec, "row4": r4, "vec1": rt * vec, "row1": rt, "ksum": units * vec}
    else:
        r2, ro = divmod(units, 2)
        d1 = depth % 4
        f = {"blk_cols": r2 * depth, "blk_cols1_extra": r2 * d1, "row2": r2,
             "odd_cols": ro * depth, "odd_cols1_extra": ro * d1, "odd": ro}
    f = {k: batch * v for k, v in f.items()}
    f["one"] = 1.0
    return Routed("fc", "arm_fully_connected_s8", f)


# ---------------------------------------------------------------- elementwise and the rest

def _second_operand_elements(layer: Layer) -> int:
    """Flat size of an ADD/MUL's second operand: the other activation input, or (int8) the constant."""
    bytes_per = {"int8": 1, "uint8": 1, "int16": 2, "float16": 2}.get(layer.dtype, 4)
    other = layer.input_bytes // bytes_per - layer.input_elements
    if other > 0:
        return other
    return max(layer.weight_bytes // bytes_per, 1)


def _elementwise(isa: str, layer: Layer) -> Routed:
    n = layer.output_elements
    other = _second_operand_elements(layer)
    name = layer.op.lower()
    if other == n and layer.input_elements == n:
        f: Features = {"one": 1.0}
        if isa == "mve":
            f["vec"] = _ceil(n, 16)
        else:
            f["elements"], f["rest_extra"] = n, n % 4
        return Routed(name, f"arm_elementwise_{name}_s8", f)
    batch, h, w, _ = nhwc(layer.output_shape)
    # Reference 4-D broadcast loop: per output element, per (b, y, x) row; the index arithmetic of a
    # tensor operand costs more than reading a scalar.
    f = {"elements": n, "pixels": batch * h * w, "tensor_elements": n if other > 1 else 0, "one": 1.0}
    note = "" if layer.op == "MUL" else "broadcast ADD: not measured, priced like the broadcast MUL"
    return Routed("broadcast", f"reference Broadcast{layer.op.title()}4DSlow", f, note)


def _pool(isa: str, layer: Layer) -> Routed:
    g = window(layer)
    ch = _ceil(g.cout, 16) if isa == "mve" else g.cout
    f = {"taps_ch": g.taps_valid * ch, "taps": g.taps_valid, "pix_ch": g.pixels * ch, "pixels": g.pixels,
         "one": 1.0}
    kind = "avg_pool" if layer.op == "AVERAGE_POOL_2D" else "max_pool"
    return Routed(kind, f"arm_{kind.replace('_', '')}_s8", f)


def _portable(layer: Layer, group: str) -> Routed:
    f = {"in_elements": layer.input_elements, "out_elements": layer.output_elements, "one": 1.0}
    return Routed(group, f"tflm {layer.op.lower()}", f)


def _softmax(layer: Layer) -> Routed:
    depth = max(int(layer.output_shape[-1]) if layer.output_shape else 1, 1)
    f = {"elements": layer.output_elements, "rows": layer.output_elements // depth, "one": 1.0}
    return Routed("softmax", "arm_softmax_s8", f)


def generic(layer: Layer, note: str) -> Routed:
    """Fallback for an operator without measurements: TFLM glue + a per-element portable-kernel cost."""
    if layer.op in NOOP_OPS:
        return Routed("generic", "tflm glue only", {"one": 1.0}, note)
    return Routed("generic", "fallback", {"one": 1.0, "elements": max(layer.input_elements,
                                                                        layer.output_elements)}, note)


def route(layer: Layer, isa: str) -> Routed:
    """The kernel group, path and loop-count features of `layer` on an `isa` ("dsp" | "mve") core."""
    op = layer.op
    if op == "CONV_2D" and layer.kernel_hw:
        return _conv(isa, layer)
    if op == "DEPTHWISE_CONV_2D" and layer.kernel_hw:
        return _depthwise(isa, layer)
    if op == "FULLY_CONNECTED" and layer.macs:
        return _fully_connected(isa, layer)
    if op in ("ADD", "MUL"):
        return _elementwise(isa, layer)
    if op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return _pool(isa, layer)
    if op == "MEAN":
        return _portable(layer, "mean")
    if op == "HARD_SWISH":
        return _portable(layer, "hard_swish")
    if op == "LOGISTIC":
        return _portable(layer, "logistic")
    if op == "SOFTMAX":
        return _softmax(layer)
    if op in NOOP_OPS:
        return generic(layer, f"{op}: no kernel work, TFLM glue only")
    return generic(layer, f"{op}: no measured TFLM kernel, priced as a generic portable elementwise op")

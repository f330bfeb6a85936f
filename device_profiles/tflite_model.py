"""Read any `.tflite` flatbuffer (int8 or float) into the layers the cost model prices.

Parsing uses the `tflite` flatbuffer bindings only (no TensorFlow import), so `estimate` stays fast.
A file that is not a TFLite flatbuffer, or is truncated, raises ModelFileError with one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from device_profiles.errors import ModelFileError
from device_profiles.layers import Layer, conv_macs, dense_macs, depthwise_macs, op_kind

# TensorType enum of the TFLite schema -> (name, bytes per element)
_TENSOR_TYPES = {
    0: ("float32", 4), 1: ("float16", 2), 2: ("int32", 4), 3: ("uint8", 1), 4: ("int64", 8),
    6: ("bool", 1), 7: ("int16", 2), 9: ("int8", 1), 10: ("float64", 8), 16: ("uint32", 4),
    17: ("uint16", 2), 18: ("int4", 1),
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    constant: bool
    scale: float | None = None
    zero_point: int | None = None


@dataclass
class ModelInfo:
    """A parsed model: its layers plus what deployment needs to know (size, I/O, dtypes)."""

    layers: list[Layer]
    model_bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[str]
    activation_dtype: str            # "int8", "float32" or "mixed"
    weight_bytes: int
    peak_activation_bytes: int
    path: str = ""
    float_ops: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def is_int8(self) -> bool:
        return self.activation_dtype == "int8"


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    return n


def read_model_bytes(path: str | Path) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{p}: no such model file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{p}: is a directory, expected a .tflite file") from None
    except OSError as exc:
        raise ModelFileError(f"{p}: cannot read ({exc.strerror})") from None
    return data


def parse_tflite(source: str | Path | bytes, name: str = "") -> ModelInfo:
    """Parse a TFLite flatbuffer from a path or bytes into a ModelInfo."""
    if isinstance(source, bytes | bytearray):
        data, label = bytes(source), name or "<model bytes>"
    else:
        data, label = read_model_bytes(source), str(source)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"{label}: not a TFLite flatbuffer (missing 'TFL3' identifier); "
                             "pass a .tflite file produced by the TFLite converter")
    try:
        return _parse(data, label)
    except ModelFileError:
        raise
    except Exception:  # flatbuffers raises assorted errors on truncated or corrupt data
        raise ModelFileError(f"{label}: corrupt or truncated TFLite file; "
                             "re-export the model") from None


def _parse(data: bytes, label: str) -> ModelInfo:
    import tflite  # flatbuffer bindings; light, no TensorFlow

    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFileError(f"{label}: the model has no subgraph")
    graph = model.Subgraphs(0)
    tensors = _tensors(model, graph, data, label)
    layers: list[Layer] = []
    float_ops: list[str] = []
    peak = 0
    for i in range(graph.OperatorsLength()):
        layer, out_dtype = _layer(model, graph.Operators(i), i, tensors)
        if layer.op not in ("QUANTIZE", "DEQUANTIZE") and "float32" in (layer.dtype, out_dtype):
            float_ops.append(layer.op)
        peak = max(peak, layer.input_bytes + layer.output_bytes)
        layers.append(layer)
    inputs = [tensors[j] for j in graph.InputsAsNumpy()] if graph.InputsLength() else []
    outputs = [tensors[j] for j in graph.OutputsAsNumpy()] if graph.OutputsLength() else []
    compute = [lay for lay in layers if lay.op not in ("QUANTIZE", "DEQUANTIZE")]
    kinds = {lay.dtype for lay in compute} or {"int8"}
    act_dtype = kinds.pop() if len(kinds) == 1 else "mixed"
    return ModelInfo(
        layers=layers, model_bytes=len(data), inputs=inputs, outputs=outputs, ops=[la.op for la in layers],
        activation_dtype=act_dtype, weight_bytes=sum(t.nbytes for t in tensors if t.constant),
        peak_activation_bytes=peak, path=label, float_ops=sorted(set(float_ops)),
    )


def _tensors(model, graph, data: bytes, label: str) -> list[TensorInfo]:
    """Every tensor of the subgraph: shape, dtype, bytes (constant buffers sized from the file)."""

    def buffer_nbytes(idx: int) -> int:
        if idx <= 0 or idx >= model.BuffersLength():
            return 0
        buf = model.Buffers(idx)
        n = buf.DataLength()
        if n == 0 and buf.Size():
            n = int(buf.Size())
            if buf.Offset() + n > len(data):
                raise ModelFileError(f"{label}: truncated (a weight buffer points past the end of file)")
        return n

    tensors: list[TensorInfo] = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype, width = _TENSOR_TYPES.get(t.Type(), (f"type{t.Type()}", 1))
        const_bytes = buffer_nbytes(t.Buffer())
        nbytes = const_bytes if const_bytes else _prod(shape) * width
        if dtype == "int4" and not const_bytes:
            nbytes = (_prod(shape) + 1) // 2
        scale = zp = None
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            scale = float(q.Scale(0))
            zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() > 0 else 0
        tname = t.Name().decode("utf-8", "replace") if t.Name() else f"t{i}"
        tensors.append(TensorInfo(tname, shape, dtype, nbytes, const_bytes > 0, scale, zp))
    return tensors


def _opname(model, op) -> str:
    import tflite

    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    name = tflite.opcode2name(builtin) if builtin != 32 else "CUSTOM"
    if name == "CUSTOM" and code.CustomCode():
        name = "CUSTOM:" + code.CustomCode().decode("utf-8", "replace")
    return name


def _layer(model, op, i: int, tensors: list[TensorInfo]) -> tuple[Layer, str]:
    """One operator as a Layer (MACs, kernel, stride, bytes read and written) and its output dtype."""
    opname = _opname(model, op)
    ins = [tensors[j] for j in op.InputsAsNumpy() if j >= 0] if op.InputsLength() else []
    outs = [tensors[j] for j in op.OutputsAsNumpy() if j >= 0] if op.OutputsLength() else []
    acts_in = [t for t in ins if not t.constant]
    out = outs[0] if outs else TensorInfo("", (), "int8", 0, False)
    kernel_hw, stride, macs = None, 1, 0
    pool_hw, pool_stride = _pool(op, opname)
    if opname in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(ins) >= 2 and len(ins[1].shape) == 4:
        w = ins[1].shape  # conv: [oc, kh, kw, ic]; depthwise: [1, kh, kw, oc]
        kernel_hw = (w[1], w[2])
        stride = _stride(op, opname)
        macs = conv_macs(out.shape, kernel_hw, w[3]) if opname == "CONV_2D" else depthwise_macs(out.shape, kernel_hw)
    elif opname == "FULLY_CONNECTED" and len(ins) >= 2 and len(ins[1].shape) == 2:
        units, in_features = ins[1].shape
        macs = dense_macs(in_features, units, _prod(out.shape) // max(units, 1))
    return Layer(
        index=i, op=opname, kind=op_kind(opname, kernel_hw), macs=int(macs),
        weight_bytes=sum(t.nbytes for t in ins if t.constant),
        input_bytes=sum(t.nbytes for t in acts_in), output_bytes=sum(t.nbytes for t in outs),
        input_shape=tuple(acts_in[0].shape if acts_in else ()), output_shape=tuple(out.shape),
        dtype=acts_in[0].dtype if acts_in else out.dtype, kernel_hw=kernel_hw, stride=stride,
        pool_hw=pool_hw, pool_stride=pool_stride,
    ), out.dtype


def _stride(op, opname: str) -> int:
    import tflite

    opts = op.BuiltinOptions()
    if opts is None:
        return 1
    cls = tflite.Conv2DOptions if opname == "CONV_2D" else tflite.DepthwiseConv2DOptions
    o = cls()
    o.Init(opts.Bytes, opts.Pos)
    return int(o.StrideH())


def _pool(op, opname: str) -> tuple[tuple[int, int] | None, int | None]:
    """(window (kh, kw), stride) of an AVERAGE/MAX_POOL_2D operator; (None, None) for other ops."""
    if opname not in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return None, None
    import tflite

    opts = op.BuiltinOptions()
    if opts is None:
        return None, None
    o = tflite.Pool2DOptions()
    o.Init(opts.Bytes, opts.Pos)
    return (int(o.FilterHeight()), int(o.FilterWidth())), int(o.StrideH())

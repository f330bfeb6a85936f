"""Full-integer post-training quantization and the int8 model's accuracy.

The converter gets a representative dataset (training samples), int8-only builtins, and int8 input
and output, so the `.tflite` that ships has no float op at all; anything else is refused by op name.
Accuracy is measured on the *int8* file with `tf.lite.Interpreter`, because that is what ships.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device_profiles.tflite_model import ModelInfo, parse_tflite
from qnas_edge.errors import RunFailed


@dataclass(frozen=True)
class QuantParams:
    """Affine int8 quantization of a tensor: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(x / self.scale) + self.zero_point, -128, 127).astype(np.int8)


def convert_int8(model, representative: np.ndarray) -> bytes:
    """Float tf_keras model -> full-int8 .tflite bytes (int8 in/out), calibrated on `representative`."""
    import tensorflow as tf

    # A concrete function of the inference graph, not from_keras_model: that one first saves every
    # Keras layer as a SavedModel (tracing each layer's call), 90 % of the conversion time.
    # The trackable handed to the converter is a bare module owning just the variables, so the
    # intermediate SavedModel holds one function instead of every layer's.
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="input")
    holder = tf.Module()
    holder.variables_ = list(model.variables)
    holder.serve = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([holder.serve.get_concrete_function()], holder)

    def rep():
        for i in range(len(representative)):
            yield [representative[i:i + 1].astype(np.float32)]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    try:
        return conv.convert()
    except Exception as exc:  # the converter refuses ops with no int8 kernel
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFailed(f"int8 conversion failed: {first[:300]}") from None


def check_full_int8(data: bytes) -> ModelInfo:
    """Parse the converted model; RunFailed naming the ops if any tensor on the way is not int8."""
    info = parse_tflite(data, "model.tflite")
    bad = list(info.float_ops)
    bad += [lay.op for lay in info.layers if lay.op in ("QUANTIZE", "DEQUANTIZE") and lay.op not in bad]
    io = [t for t in info.inputs + info.outputs if t.dtype != "int8"]
    if bad or io or not info.is_int8:
        what = ", ".join(sorted(set(bad))) or ", ".join(f"{t.name} ({t.dtype})" for t in io) or "mixed dtypes"
        raise RunFailed(f"model is not fully int8: {what}; only int8 TFLite builtins are allowed")
    return info


def io_params(info: ModelInfo) -> tuple[QuantParams, QuantParams]:
    i, o = info.inputs[0], info.outputs[0]
    return QuantParams(float(i.scale), int(i.zero_point)), QuantParams(float(o.scale), int(o.zero_point))


def tflite_interpreter(data: bytes, threads: int = 2, kernels: str = "default"):
    """TFLite interpreter. kernels="default": TFLite's default CPU kernels with the XNNPACK delegate
    (what Linux boards run; TVM's Relax lowering rounds like it). kernels="builtin": TFLite's
    *reference* kernels (BUILTIN_REF), which TFLite Micro's kernels match bit for bit at every op; the
    optimized builtin kernels round differently and the difference grows with depth."""
    import tensorflow as tf

    if kernels == "builtin":
        resolver = tf.lite.experimental.OpResolverType.BUILTIN_REF
        return tf.lite.Interpreter(model_content=data, num_threads=threads,
                                   experimental_op_resolver_type=resolver)
    return tf.lite.Interpreter(model_content=data, num_threads=threads)


def run_int8(data: bytes, x_int8: np.ndarray, threads: int = 2, batch: int = 256,
             kernels: str = "default") -> np.ndarray:
    """int8 outputs of the TFLite interpreter for a batch of int8 inputs (N, ...)."""
    interp = tflite_interpreter(data, threads, kernels)
    inp = interp.get_input_details()[0]
    out_idx = interp.get_output_details()[0]["index"]
    outs = []
    current = None
    for s in range(0, len(x_int8), batch):
        chunk = x_int8[s:s + batch]
        if current != len(chunk):
            interp.resize_tensor_input(inp["index"], [len(chunk), *inp["shape"][1:]])
            interp.allocate_tensors()
            current = len(chunk)
        interp.set_tensor(inp["index"], chunk)
        interp.invoke()
        outs.append(interp.get_tensor(out_idx).copy())
    return np.concatenate(outs)


def int8_accuracy(data: bytes, info: ModelInfo, x: np.ndarray, y: np.ndarray, threads: int = 2,
                  kernels: str = "default") -> float:
    """Top-1 accuracy of the int8 .tflite on float inputs `x` (quantized with the model's input params);
    `kernels` as in `tflite_interpreter` ("builtin" for TFLite Micro boards, "default" for Linux)."""
    qin, _ = io_params(info)
    out = run_int8(data, qin.quantize(x), threads, kernels=kernels)
    return float(np.mean(np.argmax(out, axis=1) == y))

"""Builtin operators the TFLite Micro interpreter can run (the `tflite-micro` Python package's resolver).

TFLM stops at the first operator it cannot resolve, so the static list lets us name *every* missing
operator of a model at once. Source: tensorflow/tflite-micro,
`tensorflow/lite/micro/python/interpreter/src/python_ops_resolver.cc` (the resolver the PyPI package
registers); the arena search still runs the real interpreter, which has the last word.
"""

TFLM_BUILTIN_OPS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_TO_SPACE_ND BROADCAST_ARGS
BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D
DEQUANTIZE DIV ELU EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND
GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG
LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL
NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_MAX RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH
SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE
TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split())

TFLM_CUSTOM_OPS = frozenset({"ETHOSU", "CIRCULAR_BUFFER", "TFLite_Detection_PostProcess", "SignalWindow"})


def unsupported_ops(ops: list[str]) -> list[str]:
    """Names of the model's operators that TFLite Micro has no kernel for (sorted, unique)."""
    missing = set()
    for op in ops:
        if op.startswith("CUSTOM:"):
            if op[7:] not in TFLM_CUSTOM_OPS:
                missing.add(op)
        elif op not in TFLM_BUILTIN_OPS:
            missing.add(op)
    return sorted(missing)

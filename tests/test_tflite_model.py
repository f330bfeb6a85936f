"""The TFLite reader: layers, hand-computed MACs, weight bytes, dtype detection, bad files."""

import pytest

from device_profiles.errors import ModelFileError
from device_profiles.tflite_model import parse_tflite
from tests.fixtures.models import TINY_MACS


@pytest.mark.parametrize("name", sorted(TINY_MACS))
def test_macs_match_hand_computed(tiny_models, name):
    info = parse_tflite(tiny_models[name])
    macs = [lay.macs for lay in info.layers if lay.macs]
    assert macs == TINY_MACS[name]
    assert info.is_int8


def test_conv_layer_details(tiny_models):
    info = parse_tflite(tiny_models["conv"])
    conv = next(lay for lay in info.layers if lay.op == "CONV_2D")
    assert conv.kind == "conv_2d"
    assert conv.kernel_hw == (3, 3) and conv.stride == 2
    assert conv.output_shape == (1, 8, 8, 8)
    assert conv.weight_bytes == 8 * 3 * 3 * 3 + 8 * 4   # int8 weights + int32 bias
    assert conv.input_bytes == 16 * 16 * 3 and conv.output_bytes == 8 * 8 * 8
    assert info.inputs[0].dtype == "int8" and info.inputs[0].scale is not None


def test_pointwise_conv_has_own_kind(tiny_models):
    kinds = [lay.kind for lay in parse_tflite(tiny_models["depthwise"]).layers]
    assert "depthwise_conv_2d" in kinds and "conv_2d_1x1" in kinds


def test_mbblock_ops(tiny_models):
    info = parse_tflite(tiny_models["mbblock"])
    ops = set(info.ops)
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "ADD", "FULLY_CONNECTED"} <= ops
    assert info.weight_bytes == sum(lay.weight_bytes for lay in info.layers) or info.weight_bytes > 0


def test_float_model_detected(tiny_models):
    info = parse_tflite(tiny_models["mbblock_float"])
    assert info.activation_dtype == "float32"
    assert not info.is_int8
    assert "CONV_2D" in info.float_ops


def test_not_a_flatbuffer(tmp_path):
    bad = tmp_path / "notes.tflite"
    bad.write_text("hello, this is not a model")
    with pytest.raises(ModelFileError, match="not a TFLite flatbuffer"):
        parse_tflite(bad)


def test_truncated(tiny_models, tmp_path):
    data = tiny_models["mbblock"].read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="truncated|corrupt"):
        parse_tflite(cut)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        parse_tflite(tmp_path / "nope.tflite")

"""Every block variant converts to full int8, runs in tflite-micro, and lowers statically to exactly the
layers parse_tflite reports; static vs built cost-model estimates agree (MACs, weight bytes exact,
latency within 5 %)."""

from __future__ import annotations

import numpy as np
import pytest

from device_profiles.catalog import get_profile
from device_profiles.cost_model import CostModel
from device_profiles.tflite_model import parse_tflite
from qnas_edge.pipeline.architecture import EXPANSIONS, KERNELS, Architecture, Block, Stage
from qnas_edge.pipeline.lowering import lower, total_weight_bytes


def _variant_arch(kernel: int) -> Architecture:
    """Every (expansion, se) for one kernel size, with stride-1 residual, stride-2 and channel-change cases."""
    variants = [Block(kernel, e, se) for e in EXPANSIONS for se in (False, True)]
    return Architecture(16, 1.0, 8, 1, (
        Stage(8, 1, tuple(variants[:5])),     # stride 1, Cin == Cout -> residual ADD for e > 1
        Stage(12, 2, tuple(variants[5:])),    # stride 2 then residual blocks
        Stage(16, 2, tuple(variants[:3])),    # second stride 2, channel change
    ))


@pytest.fixture(scope="session")
def variant_models(tmp_path_factory):
    """kernel -> (arch, int8 .tflite path) for untrained models covering every block variant."""
    from qnas_edge.pipeline.keras_model import build_model
    from qnas_edge.pipeline.quantize import check_full_int8, convert_int8
    from qnas_edge.pipeline.training import seed_everything

    folder = tmp_path_factory.mktemp("variants")
    rng = np.random.default_rng(0)
    rep = rng.random((16, 16, 16, 1), dtype=np.float32)
    out = {}
    for k in KERNELS:
        seed_everything(k)
        arch = _variant_arch(k)
        data = convert_int8(build_model(arch, (16, 16, 1), 10), rep)
        check_full_int8(data)
        path = folder / f"k{k}.tflite"
        path.write_bytes(data)
        out[k] = (arch, path)
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kernel", KERNELS)
def test_variants_full_int8_and_exact_lowering(variant_models, kernel):
    arch, path = variant_models[kernel]
    info = parse_tflite(path)
    assert info.is_int8 and not info.float_ops
    assert info.inputs[0].dtype == "int8" and info.outputs[0].dtype == "int8"
    assert set(info.ops) == {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "LOGISTIC", "MUL", "ADD", "FULLY_CONNECTED"}
    static = lower(arch, (16, 16, 1), 10)
    assert len(static) == len(info.layers)
    for s, b in zip(static, info.layers, strict=True):
        assert s == b, f"layer {b.index}: static {s} != built {b}"
    assert total_weight_bytes(static) == info.weight_bytes


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kernel", KERNELS)
def test_variants_run_in_tflite_micro(variant_models, kernel):
    from qnas_edge.pipeline.quantize import io_params
    from qnas_edge.pipeline.tflm_check import check_tflm

    _, path = variant_models[kernel]
    qin, _ = io_params(parse_tflite(path))
    x = qin.quantize(np.random.default_rng(kernel).random((1, 16, 16, 1), dtype=np.float32))
    rep = check_tflm(path, x)
    assert rep.arena_bytes > 0 and rep.max_abs_diff <= 1 and len(rep.output) == 10


@pytest.mark.parametrize("board", ["nano33ble", "rpi4"])
def test_static_and_built_estimates_agree(trained_candidate, board):
    from qnas_edge.pipeline.build import static_estimate

    arch = Architecture.load(trained_candidate.files["arch.json"])
    profile = get_profile(board)
    info = parse_tflite(trained_candidate.model_path)
    static = static_estimate(arch, (16, 16, 1), 10, profile)
    built = CostModel(profile).estimate_layers(info.layers, info.model_bytes, None, info.activation_dtype,
                                               info.peak_activation_bytes, info.weight_bytes)
    assert static.macs == built.macs == info.macs
    assert static.weight_bytes == built.weight_bytes == info.weight_bytes
    assert abs(static.latency_ms - built.latency_ms) <= 0.05 * built.latency_ms
    assert abs(static.model_bytes - info.model_bytes) <= 0.5 * info.model_bytes  # rough size before building
    m = trained_candidate.metrics["static_vs_built"]
    assert m["macs_static"] == m["macs_built"] and m["weight_bytes_static"] == m["weight_bytes_built"]

"""The virtual board's timing model (board twin) and a trained candidate profiled end to end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from device_profiles.layers import Layer
from device_profiles.tflite_model import parse_tflite
from firmware_bridge.virtual.timing import BoardTwin, TwinParams


def _layer(kind: str, macs: int, w: int, io: int, op: str = "CONV_2D") -> Layer:
    return Layer(index=0, op=op, kind=kind, macs=macs, weight_bytes=w, input_bytes=io, output_bytes=io,
                 input_shape=(1, 16, 16, 16), output_shape=(1, 16, 16, 16))


def test_depthwise_is_memory_bound_and_conv_is_compute_bound(nano33ble):
    twin = BoardTwin(nano33ble, [])
    p = twin.params
    dw = _layer("depthwise_conv_2d", 36864, 208, 4096, "DEPTHWISE_CONV_2D")
    assert (dw.input_bytes + dw.output_bytes) * p.cpb["depthwise_conv_2d"] > dw.macs * p.cpm["depthwise_conv_2d"]
    cv = _layer("conv_2d", 36864, 208, 4096)
    assert cv.macs * p.cpm["conv_2d"] > (cv.input_bytes + cv.output_bytes) * p.cpb["default"]
    # doubling the activations of a depthwise layer costs (almost) double; for a conv it does not
    dw2 = replace(dw, input_bytes=8192, output_bytes=8192)
    cv2 = replace(cv, input_bytes=8192, output_bytes=8192)
    assert twin.layer_cycles(dw2) - twin.layer_cycles(dw) > 0.8 * (twin.layer_cycles(dw) - p.overhead["depthwise_conv_2d"])
    assert twin.layer_cycles(cv2) == pytest.approx(twin.layer_cycles(cv))


def test_flash_wait_states_and_cache_misses(nano33ble):
    fast = replace(nano33ble, clock_hz=16_000_000)
    assert BoardTwin(fast, []).wait_states == 0 and BoardTwin(nano33ble, []).wait_states == 1
    twin = BoardTwin(nano33ble, [])
    small, big = _layer("conv_2d", 100_000, 4_000, 100), _layer("conv_2d", 100_000, 64_000, 100)
    assert twin.miss_rate(4_000) == pytest.approx(0.03) and twin.miss_rate(64_000) > 0.3
    assert twin.layer_cycles(big) > twin.layer_cycles(small) * 1.05
    assert BoardTwin(fast, []).layer_cycles(big) == pytest.approx(BoardTwin(fast, []).layer_cycles(small))


def test_jitter_is_small_seeded_and_reproducible(nano33ble, tiny_models):
    layers = parse_tflite(tiny_models["mbblock"]).layers
    a = [BoardTwin(nano33ble, layers, seed=3).sample_ms() for _ in range(1)]
    t1, t2 = BoardTwin(nano33ble, layers, seed=3), BoardTwin(nano33ble, layers, seed=3)
    s1 = [t1.sample_ms() for _ in range(50)]
    assert s1 == [t2.sample_ms() for _ in range(50)] and s1[0] == a[0]
    nominal = t1.nominal_ms()
    assert all(abs(s / nominal - 1) <= 3 * t1.params.jitter_sigma + 1e-12 for s in s1)
    assert len(set(s1)) > 40
    assert sum(b["ms"] for b in t1.breakdown()) < nominal     # + the fixed invoke overhead


def test_core_families_scale_the_constants():
    m4, m7, m0 = (TwinParams.for_core(c) for c in ("cortex-m4f", "cortex-m7", "cortex-m0plus"))
    assert m7.cpm["conv_2d"] < m4.cpm["conv_2d"] < m0.cpm["conv_2d"]


@pytest.mark.timeout(600)
def test_trained_candidate_profiles_on_the_virtual_board(trained_candidate, nano33ble):
    from firmware_bridge.boards import open_board
    from firmware_bridge.device import DeviceSpec
    from firmware_bridge.serial.session import default_input
    from tests.test_serial_profile import reference_output

    path = trained_candidate.model_path
    with open_board(nano33ble, DeviceSpec(kind="virtual")) as board:
        m = board.measure(path, runs=3)
    nbytes = parse_tflite(path).inputs[0].nbytes
    assert m.source == "simulated" and m.output == reference_output(path, default_input(nbytes))
    twin = BoardTwin(nano33ble, parse_tflite(path).layers).nominal_ms()
    assert m.latency_ms_median == pytest.approx(twin, rel=0.02)
    assert m.arena_bytes and m.arena_bytes <= nano33ble.ram_available_bytes

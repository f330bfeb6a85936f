"""The virtual board's timing model (board twin) and a trained candidate profiled end to end."""

from __future__ import annotations

from dataclasses import replace

import pytest

from device_profiles.tflite_model import parse_tflite
from firmware_bridge.virtual.timing import BoardTwin


def test_twin_is_the_boards_latency_model(nano33ble, tiny_models):
    """One timing model: the virtual board reports what `estimate` and the QUBO tables compute."""
    from device_profiles.cost_model import CostModel

    layers = parse_tflite(tiny_models["mbblock"]).layers
    twin = BoardTwin(nano33ble, layers)
    assert twin.nominal_ms() == CostModel(nano33ble).latency_ms(layers)
    assert CostModel(nano33ble).timing.kind == "tflm-kernels"     # the learned instruction model on M4
    faster = replace(nano33ble, clock_hz=nano33ble.clock_hz * 2)
    assert BoardTwin(faster, layers).nominal_ms() == pytest.approx(twin.nominal_ms() / 2)


def test_jitter_is_small_seeded_and_reproducible(nano33ble, tiny_models):
    layers = parse_tflite(tiny_models["mbblock"]).layers
    a = [BoardTwin(nano33ble, layers, seed=3).sample_ms() for _ in range(1)]
    t1, t2 = BoardTwin(nano33ble, layers, seed=3), BoardTwin(nano33ble, layers, seed=3)
    s1 = [t1.sample_ms() for _ in range(50)]
    assert s1 == [t2.sample_ms() for _ in range(50)] and s1[0] == a[0]
    nominal = t1.nominal_ms()
    assert all(abs(s / nominal - 1) <= 3 * t1.jitter_sigma + 1e-12 for s in s1)
    assert len(set(s1)) > 40
    assert sum(b["ms"] for b in t1.breakdown()) < nominal     # + the fixed invoke overhead


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
    from device_profiles.cost_model import CostModel

    estimate = CostModel(nano33ble).estimate_tflite(path, arena=False).latency_ms   # `qnas-edge estimate`
    assert m.latency_ms_median == pytest.approx(estimate, rel=0.05)                 # one timing model
    assert m.arena_bytes and m.arena_bytes <= nano33ble.ram_available_bytes

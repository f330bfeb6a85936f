"""Static cost model: formula, memory accounting, budgets, float models, recalibration."""

import dataclasses

import pytest

from device_profiles import get_profile
from device_profiles.cost_model import CostModel
from device_profiles.layers import Layer
from device_profiles.tflite_model import parse_tflite


def _layer(i, kind, macs=0, out=(1, 4, 4, 8), dtype="int8"):
    return Layer(index=i, op=kind.upper(), kind=kind, macs=macs, weight_bytes=10, input_bytes=100,
                 output_bytes=128, input_shape=(1, 4, 4, 8), output_shape=out, dtype=dtype)


def test_latency_formula_by_hand():
    prof = get_profile("stm32f746")       # Cortex-M7: no published TFLM run, priced by cycle coefficients
    cm = CostModel(prof)
    c = prof.cost
    layers = [_layer(0, "conv_2d", macs=1000), _layer(1, "add"), _layer(2, "reshape")]
    cycles = (c.invoke_overhead_cycles + c.mac_cost("conv_2d") * 1000 + c.element_cost("add") * 128
              + 3 * c.layer_overhead_cycles)
    assert cm.latency_ms(layers) == pytest.approx(cycles / prof.clock_hz * 1000)
    assert sum(cm.layer_latency_ms(la) for la in layers) == pytest.approx(
        cm.latency_ms(layers) - c.invoke_overhead_cycles / prof.clock_hz * 1000)
    assert cm.timing.kind == "coefficients" and "no TFLM" in cm.describe()["note"] or "no " in cm.describe()["note"]


def test_tflm_board_latency_is_instructions_times_cpi(tiny_models):
    """nano33ble (Cortex-M4F): the learned instruction model x the M4 family's published-run CPI."""
    from device_profiles.latency import cpi_for, group_instructions, load_predictor

    prof = get_profile("nano33ble")
    cm = CostModel(prof)
    layers = parse_tflite(tiny_models["dense"]).layers + parse_tflite(tiny_models["mbblock"]).layers
    groups = group_instructions(load_predictor("m4"), layers)
    assert sum(groups.values()) == pytest.approx(load_predictor("m4").model_instructions(layers))
    cpi = cpi_for(prof.core)
    assert cpi.groups["fc"] != cpi.groups["*"]          # weights streamed from flash: their own CPI
    cycles = sum(v * cpi.for_group(g) for g, v in groups.items())
    assert cm.timing.kind == "tflm-kernels"
    assert cm.latency_ms(layers) == pytest.approx(cycles / prof.clock_hz * 1000)
    d = cm.describe()
    assert d["cpi"] == pytest.approx(cpi.cpi) and "tiny_results" in d["cpi_source"] and "m4" in d["predictor"]


def test_float_layers_cost_more():
    cm = CostModel(get_profile("nano33ble"))
    assert cm.latency_ms([_layer(0, "conv_2d", 5000, dtype="float32")]) > cm.latency_ms([_layer(0, "conv_2d", 5000)])


def test_estimate_tflite_tflm_board(tiny_models):
    prof = get_profile("nano33ble")
    est = CostModel(prof).estimate_tflite(tiny_models["mbblock"])
    info = parse_tflite(tiny_models["mbblock"])
    assert est.arena_bytes and est.arena_bytes >= max(la.output_bytes for la in info.layers)
    assert est.ram_bytes == est.arena_bytes + prof.ram_reserve_bytes
    assert est.flash_bytes == info.model_bytes + prof.flash_reserve_bytes
    assert est.energy_mj == pytest.approx(est.latency_ms * prof.power.active_mw / 1000)
    assert est.macs == info.macs and len(est.layers) == len(info.layers)
    assert est.fits_all and est.status == "estimated"


def test_estimate_linux_board_uses_activations_and_weights(tiny_models):
    prof = get_profile("rpi4")
    est = CostModel(prof).estimate_tflite(tiny_models["mbblock"])
    assert est.arena_bytes is None
    assert est.ram_bytes == est.peak_activation_bytes + est.weight_bytes + prof.ram_reserve_bytes


def test_budget_violation_reported(tiny_models):
    prof = get_profile("nano33ble").with_budgets(latency_ms=1e-4)
    est = CostModel(prof).estimate_tflite(tiny_models["mbblock"])
    assert est.fits["latency_ms"] is False and not est.fits_all


def test_float_model_on_tflm_board_is_stated(tiny_models):
    est = CostModel(get_profile("nano33ble")).estimate_tflite(tiny_models["mbblock_float"])
    assert est.dtype == "float32"
    assert any("not int8" in n for n in est.notes)


@pytest.mark.parametrize("board", ["stm32f746", "nano33ble"])     # cycle coefficients, kernel model
def test_recalibration_learns_a_bias_and_keeps_prior_without_data(tiny_models, board):
    cm = CostModel(get_profile(board))
    models = [parse_tflite(tiny_models[n]).layers for n in ("conv", "depthwise", "dense", "mbblock")]
    truth = cm.with_coefficients({k: cm.coefficient(k) * 1.6 for m in models for k in cm.features(m)})
    samples = [(m, truth.latency_ms(m)) for m in models]
    refit = cm.recalibrate(samples)
    for m in models:
        before = abs(cm.latency_ms(m) - truth.latency_ms(m)) / truth.latency_ms(m)
        after = abs(refit.latency_ms(m) - truth.latency_ms(m)) / truth.latency_ms(m)
        assert after < before / 3
    assert cm.recalibrate([]) is cm
    if board == "stm32f746":     # a coefficient no sample exercises keeps its catalog value
        assert refit.coefficient("elem:softmax") == cm.coefficient("elem:softmax")


@pytest.mark.parametrize("board", ["stm32f746", "nano33ble"])
def test_recalibration_is_robust_to_an_outlier(tiny_models, board):
    cm = CostModel(get_profile(board))
    layers = [parse_tflite(tiny_models[n]).layers for n in ("conv", "depthwise", "dense", "mbblock")] * 2
    samples = [(m, cm.latency_ms(m) * 1.3) for m in layers]
    samples[0] = (layers[0], cm.latency_ms(layers[0]) * 20)  # one glitched measurement
    refit = cm.recalibrate(samples)
    err = [abs(refit.latency_ms(m) - 1.3 * cm.latency_ms(m)) / (1.3 * cm.latency_ms(m)) for m in layers[1:]]
    assert max(err) < 0.25


def test_profile_copy_is_immutable():
    prof = get_profile("nano33ble")
    with pytest.raises(dataclasses.FrozenInstanceError):
        prof.clock_hz = 1  # type: ignore[misc]

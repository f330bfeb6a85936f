"""The TFLM + CMSIS-NN instruction model: stored files = a fresh fit of the shared data, held-out accuracy,
light loading (no numpy / scikit-learn / TensorFlow), physical sanity (monotone in MACs), fallbacks,
core mapping, CPI table and the per-board residual fit."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from device_profiles.latency import (
    core_note,
    core_of,
    cpi_for,
    fit_residual,
    group_instructions,
    load_predictor,
)
from device_profiles.latency.geometry import window
from device_profiles.latency.predictor import DATA_FILE, predictor_from_document
from device_profiles.layers import Layer, conv_macs, depthwise_macs

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data" / "tflm_kernels"
MLPERF = SHARED / "models" / "mlperf_tiny"
CORES = ("m4", "m7", "m33", "m55")

needs_data = pytest.mark.skipif(not (DATA / "layers.csv").is_file(),
                                reason="../shared/data/tflm_kernels missing")


@pytest.fixture(scope="module")
def dataset():
    from device_profiles.latency.dataset import load_dataset

    return load_dataset(DATA)


def _fit_script():
    path = REPO / "benchmarks" / "fit_latency_model.py"
    spec = importlib.util.spec_from_file_location("fit_latency_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _conv(h: int, cin: int, cout: int, k: int, stride: int = 1) -> Layer:
    out = (1, -(-h // stride), -(-h // stride), cout)
    return Layer(index=0, op="CONV_2D", kind="conv_2d", macs=conv_macs(out, (k, k), cin),
                 weight_bytes=cout * k * k * cin, input_bytes=h * h * cin, output_bytes=math.prod(out),
                 input_shape=(1, h, h, cin), output_shape=out, kernel_hw=(k, k), stride=stride)


def _dw(h: int, c: int, k: int, stride: int = 1) -> Layer:
    out = (1, -(-h // stride), -(-h // stride), c)
    return Layer(index=0, op="DEPTHWISE_CONV_2D", kind="depthwise_conv_2d", macs=depthwise_macs(out, (k, k)),
                 weight_bytes=k * k * c, input_bytes=h * h * c, output_bytes=math.prod(out),
                 input_shape=(1, h, h, c), output_shape=out, kernel_hw=(k, k), stride=stride)


# ------------------------------------------------------------------ stored files = fit

@needs_data
def test_stored_files_equal_a_fresh_fit():
    from device_profiles.latency.fitting import first_difference

    fit = _fit_script()
    doc, cpi = fit.fit_documents(DATA, fit.LATENCY_DIR / "cpi.json", MLPERF)
    assert first_difference(json.loads(DATA_FILE.read_text()), doc) is None
    assert cpi is not None
    assert first_difference(json.loads((fit.LATENCY_DIR / "cpi.json").read_text()), cpi) is None


@needs_data
def test_check_option_fails_on_a_stale_file(tmp_path):
    stale = json.loads(DATA_FILE.read_text())
    stale["cores"]["m4"]["groups"]["gemm"]["one"] *= 1.5
    out = tmp_path / "instructions.json"
    out.write_text(json.dumps(stale))
    rc = _fit_script().main([str(DATA), "--out", str(out), "--cpi", str(tmp_path / "none.json"), "--check"])
    assert rc == 1


@needs_data
def test_join_of_csv_and_parsed_models_is_exact(dataset):
    assert dataset.mismatches == []
    assert len(dataset.models) == 160 and sorted(dataset.cores) == sorted(CORES)
    pool = dataset.models["op_035"].layers[0]
    assert pool.pool_hw == (2, 2) and pool.pool_stride == 2


# ------------------------------------------------------------------ accuracy on held-out models

@needs_data
def test_held_out_models_within_tolerance(dataset):
    from device_profiles.latency.fitting import fit_predictor

    names = dataset.names()
    held = set(names[::7])                       # 17 networks + 6 single-op models never seen by the fit
    doc = fit_predictor(dataset, [n for n in names if n not in held])
    for core in CORES:
        p = predictor_from_document(core, doc)
        for n in sorted(held):
            m = dataset.models[n]
            ratio = p.model_instructions(m.layers) / m.total_instructions[core]
            tol = 0.10 if m.single_op else 0.05
            assert abs(ratio - 1) <= tol, f"{n} on {core}: predicted / measured = {ratio:.3f}"


@needs_data
def test_stored_model_reproduces_the_data(dataset):
    for core in CORES:
        p = load_predictor(core)
        for n in dataset.names(single_op=False):
            m = dataset.models[n]
            assert abs(p.model_instructions(m.layers) / m.total_instructions[core] - 1) < 0.05, (n, core)


# ------------------------------------------------------------------ loading stays light

def test_loader_imports_no_numpy_sklearn_or_tensorflow():
    code = (
        "import sys\n"
        "from device_profiles.latency import core_of, load_predictor\n"
        "from device_profiles.layers import Layer\n"
        "p = load_predictor(core_of('cortex-m4f'))\n"
        "lay = Layer(0, 'CONV_2D', 'conv_2d_1x1', 16384, 0, 4096, 4096, (1, 16, 16, 16), (1, 16, 16, 16),"
        " kernel_hw=(1, 1))\n"
        "assert p.model_instructions([lay]) > 0\n"
        "heavy = ('numpy', 'scipy', 'sklearn', 'tensorflow', 'tflite_micro')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


@pytest.mark.skipif(not MLPERF.is_dir(), reason="../shared/models/mlperf_tiny missing")
def test_parse_and_predict_import_no_sklearn_or_tensorflow():
    code = (
        "import sys\n"
        "from device_profiles.latency import load_predictor\n"
        "from device_profiles.tflite_model import parse_tflite\n"
        f"info = parse_tflite({str(MLPERF / 'kws_ref_model.tflite')!r})\n"
        "assert load_predictor('m33').model_instructions(info.layers) > 1e6\n"
        "print(','.join(m for m in ('scipy', 'sklearn', 'tensorflow', 'tflite_micro') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------ physical sanity

@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv_prediction_grows_with_macs(core, k):
    p = load_predictor(core)
    by_size = [p.layer_instructions(_conv(h, 32, 64, k)) for h in range(8, 72, 8)]
    by_cout = [p.layer_instructions(_conv(24, 32, c, k)) for c in range(8, 264, 8)]
    by_cin = [p.layer_instructions(_conv(24, c, 64, k)) for c in range(16, 272, 16)]
    for series in (by_size, by_cout, by_cin):
        assert all(b > a for a, b in zip(series, series[1:], strict=False)), series


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("k", [3, 5, 7])
def test_depthwise_prediction_grows_with_macs(core, k):
    p = load_predictor(core)
    by_size = [p.layer_instructions(_dw(h, 64, k)) for h in range(8, 72, 8)]
    by_ch = [p.layer_instructions(_dw(24, c, k)) for c in range(8, 264, 8)]
    for series in (by_size, by_ch):
        assert all(b > a for a, b in zip(series, series[1:], strict=False)), series


def test_fast_paths_are_routed_like_cmsis_nn():
    p = load_predictor("m4")
    assert p.explain(_conv(16, 32, 32, 1)).path == "arm_convolve_1x1_s8_fast"
    assert p.explain(_conv(16, 32, 32, 1, stride=2)).path == "arm_convolve_1x1_s8"
    assert p.explain(_conv(16, 32, 32, 3)).path == "arm_convolve_s8"
    assert p.explain(_dw(16, 32, 3)).path == "arm_depthwise_conv_3x3_s8"
    assert p.explain(_dw(16, 32, 5)).path == "arm_depthwise_conv_s8_opt"
    assert load_predictor("m55").explain(_dw(16, 32, 3)).path == "arm_depthwise_conv_s8_opt"   # no 3x3 on MVE


def test_padding_is_inferred_from_shapes():
    same = window(_conv(15, 8, 8, 3, stride=2))              # 15 -> 8: SAME, pad 1 before
    assert (same.pad_h, same.pad_w) == (1, 1) and same.taps_padded > 0
    valid = window(Layer(0, "CONV_2D", "conv_2d", 0, 0, 0, 0, (1, 15, 15, 8), (1, 13, 13, 8),
                         kernel_hw=(3, 3)))
    assert (valid.pad_h, valid.pad_w) == (0, 0) and valid.taps_padded == 0


# ------------------------------------------------------------------ fallbacks and mapping

def test_unknown_and_glue_ops_have_clear_fallbacks():
    p = load_predictor("m7")
    gather = Layer(0, "GATHER", "gather", 0, 0, 4000, 4000, (1, 1000), (1, 1000))
    e = p.explain(gather)
    assert e.group == "generic" and "GATHER" in e.note and 0 < e.instructions < math.inf
    reshape = p.explain(Layer(0, "RESHAPE", "reshape", 0, 0, 64, 64, (1, 1, 1, 64), (1, 64)))
    assert reshape.path == "tflm glue only" and reshape.note and reshape.instructions < e.instructions


def test_unmeasured_kernel_group_uses_its_stand_in():
    doc = json.loads(DATA_FILE.read_text())
    del doc["cores"]["m4"]["groups"]["mul"]
    p = predictor_from_document("m4", doc)
    same_shape_mul = Layer(0, "MUL", "mul", 0, 0, 2 * 4096, 4096, (1, 16, 16, 16), (1, 16, 16, 16))
    e = p.explain(same_shape_mul)
    assert e.group == "add" and "not measured" in e.note and e.instructions > 0


def test_core_strings_of_the_catalog_map_to_data_cores():
    assert core_of("cortex-m4f") == "m4" and core_of("Cortex-M7") == "m7"
    assert core_of("cortex-m33") == "m33" and core_of("ARM Cortex-M55") == "m55"
    assert core_of("cortex-m85") == "m55" and "M55" in core_note("cortex-m85").upper()
    for other in ("cortex-m0plus", "cortex-m3", "cortex-a72", "xtensa-lx7", "x86-64-avx2", ""):
        assert core_of(other) is None
    assert core_note("cortex-m0plus")
    import tomllib

    for toml in sorted((REPO / "device_profiles" / "boards").glob("*.toml")):
        prof = tomllib.loads(toml.read_text())
        core = prof["core"]
        if prof.get("runtime") == "tflm" and core.startswith("cortex-m") and "m0" not in core:
            assert core_of(core) in CORES, toml.name             # pico (M0+) and esp32s3 (Xtensa) have none


def test_load_predictor_names_the_measured_cores():
    assert load_predictor("m4").cores == ("m33", "m4", "m55", "m7")
    with pytest.raises(KeyError, match="m33"):
        load_predictor("m3")


def test_runtime_flash_per_core():
    assert load_predictor("m4").runtime_flash_bytes == 172452
    assert load_predictor("m55").flash_bytes(10_000) == 159432 + 10_000


# ------------------------------------------------------------------ CPI and residual

def test_cpi_table_cites_its_runs():
    m4 = cpi_for("cortex-m4f")
    assert m4 is not None and 2.0 < m4.cpi < 3.5 and m4.runs == 4
    assert all(s.startswith("mlcommons/tiny_results_v0.5/") for s in m4.sources)
    assert cpi_for("cortex-m33").runs == 4 and cpi_for("cortex-m7").cpi is None
    assert m4.ms(120e6, 120e6) == pytest.approx(1000 * m4.cpi)


def test_residual_recovers_scale_and_group_factors():
    p = load_predictor("m4")
    nets = [[_conv(32, 16, 32, 3), _dw(32, 32, 3), _conv(32, 32, c, 1)] for c in (16, 32, 64, 96, 128)]
    nets += [[_dw(24, c, 5), _conv(24, c, 2 * c, 1)] for c in (24, 48, 72)]

    def board(layers, scale=2e-6, slow="dw_3x3"):           # ms per instruction, dw_3x3 25 % slower
        g = group_instructions(p, layers)
        return scale * sum(v * (1.25 if k == slow else 1.0) for k, v in g.items())

    assert fit_residual([], p, prior_scale=3e-6).scale == 3e-6
    one = fit_residual([(nets[0], board(nets[0]))], p, prior_scale=3e-6)
    assert one.predict(p, nets[0]) == pytest.approx(board(nets[0]), rel=0.01)
    res = fit_residual([(n, board(n)) for n in nets], p, prior_scale=3e-6)
    assert res.factors["dw_3x3"] > res.factors["gemm"]
    held = [_conv(40, 24, 48, 3), _dw(40, 48, 3), _conv(40, 48, 48, 1)]
    assert res.predict(p, held) == pytest.approx(board(held), rel=0.03)


@pytest.mark.parametrize("core", CORES)
def test_elementwise_cost_scales_with_elements(core):
    p = load_predictor(core)

    def mul(h: int) -> Layer:                                # same-shape MUL: one measured layer only
        return Layer(0, "MUL", "mul", 0, 0, 2 * h * h * 16, h * h * 16, (1, h, h, 16), (1, h, h, 16))

    small, large = p.layer_instructions(mul(32)), p.layer_instructions(mul(64))
    assert 3.0 < large / small < 4.05                        # 4x the elements, plus a fixed per-op part

"""CLI of the foundation: boards, boards show, detect, estimate; exit codes and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None):
    import os

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "qnas_edge", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=e, timeout=120)


def _one_line_error(res, code):
    assert res.returncode == code, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_boards_json_lists_catalog():
    res = cli("boards", "--json")
    assert res.returncode == 0
    boards = json.loads(res.stdout)
    ids = {b["id"] for b in boards}
    assert {"nano33ble", "rpi4"} <= ids
    assert {b["id"] for b in boards if b["test_host"]} == {"linux-host"}


def test_boards_show():
    res = cli("boards", "show", "nano33ble", "--json")
    assert res.returncode == 0
    d = json.loads(res.stdout)
    assert d["runtime"] == "tflm" and d["link"]["kind"] == "serial"
    human = cli("boards", "show", "nano33ble")
    assert human.returncode == 0 and "nano33ble" in human.stdout and "MHz" in human.stdout


def test_unknown_board_lists_close_matches():
    line = _one_line_error(cli("boards", "show", "nano33"), 2)
    assert "unknown board 'nano33'" in line and "nano33ble" in line


def test_malformed_profile_names_file_key_reason(tmp_path):
    src = (ROOT / "device_profiles/boards/nano33ble.toml").read_text()
    bad = tmp_path / "myboard.toml"
    bad.write_text(src.replace('id = "nano33ble"', 'id = "myboard"').replace("clock_mhz = 64", 'clock_mhz = "fast"'))
    line = _one_line_error(cli("boards", "--profile", bad), 2)
    assert str(bad) in line and "clock_mhz" in line and "number" in line


def test_user_profile_dir_and_profile_flag(tmp_path):
    src = (ROOT / "device_profiles/boards/nano33ble.toml").read_text()
    (tmp_path / "mine.toml").write_text(src.replace('id = "nano33ble"', 'id = "my-nano"'))
    res = cli("boards", "--json", env={"QNAS_EDGE_PROFILE_DIR": str(tmp_path)})
    assert "my-nano" in {b["id"] for b in json.loads(res.stdout)}
    other = tmp_path / "other"
    other.mkdir()
    f = other / "x.toml"
    f.write_text(src.replace('id = "nano33ble"', 'id = "x-board"'))
    res = cli("boards", "show", "x-board", "--profile", f, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["id"] == "x-board"


def test_estimate_json(tiny_models):
    res = cli("estimate", tiny_models["mbblock"], "--board", "nano33ble", "--json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    for key in ("latency_ms", "energy_mj", "flash_bytes", "ram_bytes", "fits", "layers"):
        assert key in d
    assert d["arena_bytes"] > 0 and set(d["fits"]) >= {"latency_ms", "ram_bytes", "flash_bytes"}
    assert d["layers"][0]["op"] and d["status"] == "estimated"
    assert d["latency_model"]["kind"] == "catalog" and d["figure_sources"]["latency_ms"]


def test_estimate_human_readable(tiny_models):
    res = cli("estimate", tiny_models["conv"], "--board", "rpi4")
    assert res.returncode == 0 and "latency" in res.stdout and "CONV_2D" in res.stdout


def test_estimate_not_a_flatbuffer(tmp_path):
    f = tmp_path / "model.tflite"
    f.write_bytes(b"\x00" * 64)
    assert "not a TFLite flatbuffer" in _one_line_error(cli("estimate", f, "--board", "nano33ble"), 2)


def test_estimate_truncated(tiny_models, tmp_path):
    f = tmp_path / "cut.tflite"
    f.write_bytes(tiny_models["mbblock"].read_bytes()[:900])
    assert "truncated" in _one_line_error(cli("estimate", f, "--board", "nano33ble"), 2)


def test_estimate_missing_file(tmp_path):
    assert "no such model file" in _one_line_error(cli("estimate", tmp_path / "x.tflite", "--board", "rpi4"), 2)


def test_estimate_float_model_on_tflm_board_is_stated(tiny_models):
    res = cli("estimate", tiny_models["mbblock_float"], "--board", "nano33ble", "--json")
    d = json.loads(res.stdout)
    assert d["dtype"] == "float32" and any("not int8" in n for n in d["notes"])


@pytest.fixture(scope="module")
def unsupported_model(tmp_path_factory):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32)])
    def f(x):
        values, _ = tf.math.top_k(x, 3)
        return values

    path = tmp_path_factory.mktemp("unsup") / "topk.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert())
    return path


def test_estimate_lists_ops_tflm_cannot_run(unsupported_model):
    res = cli("estimate", unsupported_model, "--board", "nano33ble", "--json")
    assert res.returncode == 0
    d = json.loads(res.stdout)
    assert d["unsupported_ops"] == ["TOPK_V2"] and d["fits_all"] is False
    human = cli("estimate", unsupported_model, "--board", "nano33ble")
    assert "TOPK_V2" in human.stdout


def test_usage_error_is_one_line():
    line = _one_line_error(cli("estimate"), 2)
    assert "required" in line


def test_detect_json_when_nothing_plugged():
    res = cli("detect", "--json")
    assert res.returncode == 0
    d = json.loads(res.stdout)
    assert isinstance(d["boards"], list)
    if not d["boards"]:
        assert "dialout" in d["hint"]

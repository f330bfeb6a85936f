"""Profile end to end over real ptys: virtual board, standard-only firmware, refusals, faults, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.errors import LinkError, ModelRefused
from firmware_bridge.serial_profile import SerialBoard, default_input, profile_over_serial
from tests.fixtures.serial import FAST_BAUD

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parent.parent


def reference_output(model_path: Path, data: bytes) -> list[float]:
    """Output of one TFLM inference on `data`, dequantized and rounded like the board prints it."""
    from tflite_micro.python.tflite_micro import runtime

    from device_profiles.tflite_model import parse_tflite
    from device_profiles.tflm_arena import find_min_arena

    model = Path(model_path).read_bytes()
    info = parse_tflite(model)
    interp = runtime.Interpreter.from_bytes(model, arena_size=find_min_arena(model).arena_bytes + 4096)
    interp.set_input(np.frombuffer(data, dtype=np.int8).reshape(info.inputs[0].shape), 0)
    interp.invoke()
    out, t = np.asarray(interp.get_output(0)).reshape(-1), info.outputs[0]
    return [float(f"{(float(v) - t.zero_point) * t.scale:0.3f}") for v in out]


def test_profile_over_serial_virtual_end_to_end(tiny_models, nano33ble):
    msgs: list[str] = []
    m = profile_over_serial(tiny_models["mbblock"], nano33ble, virtual=True, runs=5, progress=msgs.append)
    assert m.source == "simulated" and m.board_id == "nano33ble" and m.runs == 5
    assert m.link.startswith("virtual:/dev/")
    assert 0.5 < m.latency_ms_min <= m.latency_ms_median <= m.latency_ms_p90 <= m.latency_ms_max < 100
    assert m.latency_ms_max / m.latency_ms_min < 1.05          # small, seeded run-to-run jitter
    assert m.arena_bytes and m.ram_free_bytes == nano33ble.ram_available_bytes - m.arena_bytes
    assert m.flash_free_bytes == nano33ble.flash_available_bytes - tiny_models["mbblock"].stat().st_size
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))
    assert m.energy_source == "estimated" and m.energy_mj == pytest.approx(
        m.latency_ms_median * nano33ble.power.active_mw / 1000)
    up = m.extra["upload"]
    assert up["bytes"] == tiny_models["mbblock"].stat().st_size and up["efficiency"] >= 0.8
    assert m.extra["checked_link"] and m.extra["outputs_consistent"]
    assert any("uploaded" in x for x in msgs)


def test_latency_follows_the_board_twin_not_the_static_estimator(tiny_models, nano33ble, mbblock_board):
    from device_profiles.cost_model import CostModel
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.board_twin import BoardTwin

    with SerialBoard(mbblock_board.path, nano33ble, baud=FAST_BAUD) as board:
        m = board.profile(runs=4, input_data=default_input(1024))
    twin = BoardTwin(nano33ble, parse_tflite(tiny_models["mbblock"]).layers).nominal_ms()
    assert m.latency_ms_median == pytest.approx(twin, rel=0.02)
    static = CostModel(nano33ble).estimate_tflite(tiny_models["mbblock"]).latency_ms
    assert abs(static - twin) / twin > 0.05                   # calibration has something to correct


def test_standard_only_firmware_is_profiled_without_upload(virtual_board_factory, tiny_models, nano33ble):
    vb = virtual_board_factory(nano33ble, model=tiny_models["mbblock"], baud=FAST_BAUD, standard_only=True)
    msgs: list[str] = []
    with SerialBoard(vb.path, nano33ble, baud=FAST_BAUD, progress=msgs.append) as board:
        assert board.caps is None and not board.checked
        with pytest.raises(LinkError, match="flash the model"):
            board.upload(tiny_models["mbblock"].read_bytes())
        m = board.profile(runs=3, input_data=default_input(1024))
    assert m.arena_bytes is None and m.source == "measured"  # no extension: cannot tell it is simulated
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))


def test_standard_only_firmware_via_profile_over_serial_says_to_flash(virtual_board_factory, tiny_models,
                                                                       nano33ble):
    vb = virtual_board_factory(nano33ble, model=tiny_models["mbblock"], standard_only=True)
    m = profile_over_serial(tiny_models["mbblock"], nano33ble, port=vb.path, runs=2)
    assert "flash mbblock.tflite into the firmware" in m.extra["note"]
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))


def test_session_reuses_one_connection_across_candidates(virtual_board_factory, tiny_models, nano33ble):
    """The search loop's pattern: one open SerialBoard, upload + profile per candidate."""
    vb = virtual_board_factory(nano33ble, baud=FAST_BAUD)
    with SerialBoard(vb.path, nano33ble, baud=FAST_BAUD) as board:
        got = {}
        for name in ("mbblock", "dense", "mbblock"):
            board.upload(tiny_models[name].read_bytes())
            got.setdefault(name, []).append(board.profile(runs=2))
    assert got["dense"][0].latency_ms_median < got["mbblock"][0].latency_ms_median
    assert got["mbblock"][0].output == got["mbblock"][1].output
    assert all(m.energy_source == "estimated" for ms in got.values() for m in ms)


def test_profile_with_one_percent_faults_completes_with_the_right_result(virtual_board_factory, tiny_models,
                                                                        nano33ble):
    vb = virtual_board_factory(nano33ble, fault_rate=0.01, seed=5, baud=FAST_BAUD)
    t = time.monotonic()
    with SerialBoard(vb.path, nano33ble, baud=FAST_BAUD) as board:
        board.upload(tiny_models["mbblock"].read_bytes())
        m = board.profile(runs=4, input_data=default_input(1024))
    assert time.monotonic() - t < 150
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.board_twin import BoardTwin
    twin = BoardTwin(nano33ble, parse_tflite(tiny_models["mbblock"]).layers).nominal_ms()
    assert m.latency_ms_median == pytest.approx(twin, rel=0.02)


def test_refusals_happen_before_upload_with_figures(tiny_models, nano33ble, small_flash_profile,
                                                    small_ram_profile):
    size = tiny_models["mbblock"].stat().st_size
    with pytest.raises(ModelRefused, match=rf"model is {size} B but tinyflash has 4096 B of flash free"):
        profile_over_serial(tiny_models["mbblock"], small_flash_profile, port="/dev/does-not-matter")
    with pytest.raises(ModelRefused, match=r"tensor arena needs \d+ B but tinyram has 8192 B of RAM free"):
        profile_over_serial(tiny_models["mbblock"], small_ram_profile, port="/dev/does-not-matter")
    with pytest.raises(ModelRefused, match="not fully int8"):
        profile_over_serial(tiny_models["mbblock_float"], nano33ble, port="/dev/does-not-matter")


def test_board_side_refuses_an_arena_larger_than_its_ram(virtual_board_factory, small_ram_profile, tiny_models):
    vb = virtual_board_factory(small_ram_profile, baud=FAST_BAUD)
    with SerialBoard(vb.path, small_ram_profile, baud=FAST_BAUD) as board:
        with pytest.raises(ModelRefused, match="tensor arena needs .* 8192 B of RAM free"):
            board.upload(tiny_models["mbblock"].read_bytes())


def _cli(*args: str, timeout: float = 200) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "qnas_edge", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(ROOT))


def test_cli_profile_virtual_json(tiny_models):
    proc = _cli("profile", str(tiny_models["mbblock"]), "--board", "nano33ble", "--virtual", "--runs", "3",
                "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == "simulated" and doc["runs"] == 3 and len(doc["output"]) == 10
    assert doc["latency_ms_median"] > 0 and doc["arena_bytes"] > 0


def test_cli_profile_refusal_and_link_failure_exit_codes(tiny_models):
    proc = _cli("profile", str(tiny_models["mbblock_float"]), "--board", "nano33ble", "--virtual")
    assert proc.returncode == 2 and "not fully int8" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("profile", str(tiny_models["mbblock"]), "--board", "nano33ble", "--port", "/dev/ttyACM77")
    assert proc.returncode == 3 and "/dev/ttyACM77 does not exist" in proc.stderr


@pytest.mark.timeout(120)
def test_cli_virtual_board_prints_its_path_and_serves(tiny_models, nano33ble):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "qnas_edge", "virtual-board", "--board", "nano33ble",
                             "--model", str(tiny_models["mbblock"]), "--baud", str(FAST_BAUD)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        with SerialBoard(path, nano33ble, baud=FAST_BAUD) as board:
            assert board.simulated and board.model_label.startswith("crc32-")
            board.load_input(default_input(1024))
            assert board.infer(2, 0).per_inference_ms > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = _cli("virtual-board", "--board", "nano33ble", "--fault-rate", "1.5", timeout=60)
    assert bad.returncode == 2 and "--fault-rate" in bad.stderr

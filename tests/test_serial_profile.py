"""Measure end to end over real ptys: the serial and virtual Boards, the DUT session below them,
standard-only firmware, refusals, faults, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.device import DeviceSpec
from firmware_bridge.errors import LinkError, ModelRefused
from firmware_bridge.serial.board import SerialBoard
from firmware_bridge.serial.session import DutSession, default_input
from firmware_bridge.virtual.board import VirtualBoard
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


def test_virtual_board_measures_end_to_end(tiny_models, nano33ble):
    msgs: list[str] = []
    board = VirtualBoard(nano33ble, DeviceSpec(kind="virtual"), progress=msgs.append)
    try:
        m = board.measure(tiny_models["mbblock"], runs=5)
        process = board.process
        assert process is not None and process.proc.poll() is None
    finally:
        board.close()
    assert process.proc.poll() is not None and board.process is None     # close() ended the board
    assert m.source == "simulated" and m.board_id == "nano33ble" and m.runs == 5
    assert len(m.latencies_ms) == 5 and "samples_ms" not in m.extra
    assert m.link.startswith("virtual:/dev/")
    assert 0.5 < m.latency_ms_min <= m.latency_ms_median <= m.latency_ms_p90 <= m.latency_ms_max < 1000
    assert m.latency_ms_max / m.latency_ms_min < 1.05          # small, seeded run-to-run jitter
    assert m.arena_bytes and m.ram_free_bytes == nano33ble.ram_available_bytes - m.arena_bytes
    size = tiny_models["mbblock"].stat().st_size
    assert m.flash_bytes == size and m.flash_free_bytes == nano33ble.flash_available_bytes - size
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))
    assert m.energy_source == "estimated" and m.energy_mj == pytest.approx(
        m.latency_ms_median * nano33ble.power.active_mw / 1000)
    up = m.extra["upload"]
    assert up["bytes"] == size and up["efficiency"] >= 0.8
    assert m.extra["checked_link"] and m.extra["outputs_consistent"]
    assert sum("uploaded" in x for x in msgs) == 1               # said once (issue 12, item 8)


def test_one_arena_search_per_model_for_host_and_virtual_board(tiny_models, nano33ble, tmp_path, monkeypatch):
    """The host's check and the virtual board's upload share one arena search (the content-keyed cache);
    with the arena given by the caller there is none at all, in either process."""
    from device_profiles import tflm_arena

    trace = tmp_path / "arena-searches"
    monkeypatch.setenv("QNAS_EDGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QNAS_EDGE_ARENA_TRACE", str(trace))
    tflm_arena.clear_memory_cache()
    try:
        with VirtualBoard(nano33ble, DeviceSpec(kind="virtual"), baud=FAST_BAUD) as board:
            m = board.measure(tiny_models["dense"], runs=1)
            assert len(trace.read_text().splitlines()) == 1          # host + board process: one search
            arena = tflm_arena.find_min_arena(tiny_models["conv"]).arena_bytes
            trace.unlink()
            m2 = board.measure(tiny_models["conv"], arena_bytes=arena, runs=1)
        assert not trace.exists()                                    # given arena: no search anywhere
        assert m.arena_bytes == m.extra["arena_bytes_host"] and m2.arena_bytes == arena
    finally:
        tflm_arena.clear_memory_cache()


def test_latency_is_the_boards_latency_model(tiny_models, nano33ble, mbblock_board):
    """One timing model (issue 13): the virtual board reports what `qnas-edge estimate` computes."""
    from device_profiles.cost_model import CostModel
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.virtual.timing import BoardTwin

    with DutSession(mbblock_board.path, nano33ble, baud=FAST_BAUD) as board:
        m = board.profile(runs=4, input_data=default_input(1024))
    twin = BoardTwin(nano33ble, parse_tflite(tiny_models["mbblock"]).layers).nominal_ms()
    assert m.latency_ms_median == pytest.approx(twin, rel=0.02)
    static = CostModel(nano33ble).estimate_tflite(tiny_models["mbblock"]).latency_ms
    assert twin == pytest.approx(static, rel=1e-9)


def test_standard_only_firmware_is_profiled_without_upload(virtual_board_factory, tiny_models, nano33ble):
    vb = virtual_board_factory(nano33ble, model=tiny_models["mbblock"], baud=FAST_BAUD, standard_only=True)
    msgs: list[str] = []
    with DutSession(vb.path, nano33ble, baud=FAST_BAUD, progress=msgs.append) as board:
        assert board.caps is None and not board.checked
        with pytest.raises(LinkError, match="flash the model"):
            board.upload(tiny_models["mbblock"].read_bytes())
        m = board.profile(runs=3, input_data=default_input(1024))
    assert m.arena_bytes is None and m.source == "measured"  # no extension: cannot tell it is simulated
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))


def test_standard_only_firmware_measures_only_the_model_flashed_on_it(virtual_board_factory, tiny_models,
                                                                      nano33ble):
    vb = virtual_board_factory(nano33ble, model=tiny_models["mbblock"], standard_only=True)
    board = SerialBoard(nano33ble, DeviceSpec(kind="serial", port=vb.path))
    try:
        m = board.measure(tiny_models["mbblock"], runs=2)       # the flashed model: same CRC-32
        assert "is the model flashed on the board" in m.extra["note"]
        assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))
        assert m.flash_bytes == tiny_models["mbblock"].stat().st_size
        with pytest.raises(LinkError, match="cannot receive models .* flash it into the firmware"):
            board.measure(tiny_models["dense"], runs=2)        # another model cannot get there
        assert board.session is None                           # a fault closes the link ...
        assert board.measure(tiny_models["mbblock"], runs=1).runs == 1   # ... the next measure reopens it
    finally:
        board.close()


def test_session_reuses_one_connection_across_candidates(virtual_board_factory, tiny_models, nano33ble):
    """One open DUT session, upload + profile per candidate."""
    vb = virtual_board_factory(nano33ble, baud=FAST_BAUD)
    with DutSession(vb.path, nano33ble, baud=FAST_BAUD) as board:
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
    with DutSession(vb.path, nano33ble, baud=FAST_BAUD) as board:
        board.upload(tiny_models["mbblock"].read_bytes())
        m = board.profile(runs=4, input_data=default_input(1024))
    assert time.monotonic() - t < 150
    assert m.output == reference_output(tiny_models["mbblock"], default_input(1024))
    from device_profiles.tflite_model import parse_tflite
    from firmware_bridge.virtual.timing import BoardTwin
    twin = BoardTwin(nano33ble, parse_tflite(tiny_models["mbblock"]).layers).nominal_ms()
    assert m.latency_ms_median == pytest.approx(twin, rel=0.02)


def _nowhere(profile) -> SerialBoard:
    """A serial Board whose port does not exist: any link work would fail with LinkError."""
    return SerialBoard(profile, DeviceSpec(kind="serial", port="/dev/does-not-matter"))


def test_refusals_happen_before_upload_with_figures(tiny_models, nano33ble, small_flash_profile,
                                                    small_ram_profile, tmp_path):
    size = tiny_models["mbblock"].stat().st_size
    with pytest.raises(ModelRefused, match=rf"model is {size} B but tinyflash has 4096 B of flash free"):
        _nowhere(small_flash_profile).measure(tiny_models["mbblock"])
    with pytest.raises(ModelRefused, match=r"tensor arena needs \d+ B but tinyram has 8192 B of RAM free"):
        _nowhere(small_ram_profile).measure(tiny_models["mbblock"])
    with pytest.raises(ModelRefused, match="not fully int8"):
        _nowhere(nano33ble).measure(tiny_models["mbblock_float"])
    with pytest.raises(ModelRefused, match="no such model file"):
        _nowhere(nano33ble).measure(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 8)
    with pytest.raises(ModelRefused, match="not a valid .tflite model"):
        _nowhere(nano33ble).measure(junk)


def test_given_arena_is_used_without_any_arena_search(tiny_models, small_ram_profile, monkeypatch):
    from device_profiles import tflm_arena

    def no_search(*_a, **_k):
        raise AssertionError("the arena search ran although the caller gave the arena")

    monkeypatch.setattr(tflm_arena, "find_min_arena", no_search)
    monkeypatch.setattr("device_profiles.tflite_model.parse_tflite", no_search)
    with pytest.raises(ModelRefused, match="tensor arena needs 9000 B but tinyram has 8192 B of RAM free"):
        _nowhere(small_ram_profile).measure(tiny_models["mbblock"], arena_bytes=9000)
    with pytest.raises(LinkError, match="does-not-matter does not exist"):    # fits: on to the link
        _nowhere(small_ram_profile).measure(tiny_models["mbblock"], arena_bytes=8000)


def test_board_side_refuses_an_arena_larger_than_its_ram(virtual_board_factory, small_ram_profile, tiny_models):
    vb = virtual_board_factory(small_ram_profile, baud=FAST_BAUD)
    with DutSession(vb.path, small_ram_profile, baud=FAST_BAUD) as board:
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


def test_cli_profile_virtual_human_output_says_uploaded_once(tiny_models):
    proc = _cli("profile", str(tiny_models["dense"]), "--board", "nano33ble", "--virtual", "--runs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "[simulated]" in proc.stdout and "mJ (estimated)" in proc.stdout and "arena" in proc.stdout
    assert proc.stderr.count("uploaded") == 1 and "starting a virtual nano33ble" in proc.stderr


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
        with DutSession(path, nano33ble, baud=FAST_BAUD) as board:
            assert board.simulated and board.model_label.startswith("crc32-")
            board.load_input(default_input(1024))
            assert board.infer(2, 0).per_inference_ms > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = _cli("virtual-board", "--board", "nano33ble", "--fault-rate", "1.5", timeout=60)
    assert bad.returncode == 2 and "--fault-rate" in bad.stderr

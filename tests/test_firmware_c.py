"""The reference firmware's portable C core: host tests under ASan/UBSan (+ fuzz loop), the Cortex-M4
cross build, and the Python host driving the C core through a real pty (same protocol both sides)."""

from __future__ import annotations

import os
import subprocess
import tty
from pathlib import Path

import pytest

from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.session import DutSession

FW = Path(__file__).resolve().parent.parent / "firmware_bridge" / "firmware"
pytestmark = pytest.mark.timeout(300)


def _make(target: str, build: Path, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "-C", str(FW), target, f"BUILD={build}"], capture_output=True, text=True,
                          timeout=240, env=dict(os.environ, **env))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fwbuild")


def test_host_unit_tests_and_fuzz_pass_under_asan_ubsan(build_dir):
    proc = _make("test", build_dir, FUZZ_ITERATIONS="300000")
    assert "all checks passed (fuzz iterations: 300000)" in proc.stdout
    assert "-fsanitize=address,undefined" in proc.stdout


def test_core_cross_compiles_for_cortex_m4(build_dir):
    proc = _make("arm", build_dir)
    obj = build_dir / "arm" / "dut_protocol.o"
    head = subprocess.run(["arm-none-eabi-readelf", "-h", "-A", str(obj)], capture_output=True, text=True,
                          check=True).stdout
    assert "ARM" in head and "Tag_CPU_arch: v7E-M" in head and "Tag_CPU_arch_profile: Microcontroller" in head
    size_line = next(x for x in proc.stdout.splitlines() if x.split() and x.split()[0].isdigit())
    text_bytes = int(size_line.split()[0])
    assert 2000 < text_bytes < 16384                      # fits comfortably next to TFLM in flash


@pytest.fixture(scope="module")
def c_pty_board(build_dir):
    _make("pty-board", build_dir)
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    path = os.ttyname(slave)
    proc = subprocess.Popen([str(build_dir / "pty_board")], stdin=master, stdout=master)
    try:
        yield path
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.close(master)
        os.close(slave)


def test_python_host_drives_the_c_core_through_a_pty(c_pty_board, nano33ble, tiny_models):
    model = tiny_models["mbblock"].read_bytes()        # the C fake accepts any flatbuffer ("TFL3")
    with DutSession(c_pty_board, nano33ble, baud=115200) as board:
        assert board.name == "qnas-edge host-test" and board.checked and board.caps.frame == 1024
        rep = board.upload(model)
        assert rep.bytes == len(model) and board.arena_bytes == 2048
        assert board.model_label == f"crc32-{P.crc32(model):08x}"
        assert board.input_spec.shape == (1, 16) and board.input_spec.zero_point == -3
        data = bytes([1] * 8 + [9] * 8)
        m = board.profile(runs=3, input_data=data)
    assert m.latency_ms_median == pytest.approx(1.25)      # the fake clock: 1250 us per inference
    assert m.output == [0.2, 0.2, 0.2, 0.2]                # toy model: sums of every 4th byte / 100
    assert m.arena_bytes == 2048 and m.flash_free_bytes == 65536 - len(model)

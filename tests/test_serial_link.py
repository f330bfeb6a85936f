"""The standard DUT commands byte for byte through a real pty opened by pyserial, link errors, resync."""

from __future__ import annotations

import errno
import os
import time

import pytest
import serial

from device_profiles import get_profile
from firmware_bridge.errors import LinkError
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.link import SerialLink, _open_error
from firmware_bridge.serial.session import DutSession

pytestmark = pytest.mark.timeout(120)


def _raw(port: serial.Serial, cmd: bytes, timeout_s: float = 10.0) -> bytes:
    """Send a command exactly as the MLPerf Tiny runner does; bytes up to and including m-ready."""
    port.write(cmd)
    buf = b""
    end = time.monotonic() + timeout_s
    while not buf.endswith(b"m-ready\r\n"):
        assert time.monotonic() < end, f"no m-ready after {cmd!r}: {buf!r}"
        buf += port.read(port.in_waiting or 1)
    return buf


@pytest.fixture(scope="module")
def raw_port(mbblock_board):
    from tests.fixtures.serial import FAST_BAUD

    with serial.Serial(mbblock_board.path, FAST_BAUD, timeout=0.2) as port:
        port.write(b"%")
        time.sleep(0.2)
        port.reset_input_buffer()
        yield port


def test_name_profile_timestamp_help_and_unknown(raw_port):
    assert _raw(raw_port, b"name%") == b"m-name-dut-[qnas-edge virtual nano33ble (simulated)]\r\nm-ready\r\n"
    out = _raw(raw_port, b"profile%").decode()
    assert out.startswith("m-profile-[qnas-edge-dut-1]\r\nm-model-[crc32-") and out.endswith("]\r\nm-ready\r\n")
    t1 = int(_raw(raw_port, b"timestamp%").split(b"\r\n")[0].removeprefix(b"m-lap-us-"))
    time.sleep(0.05)
    t2 = int(_raw(raw_port, b"timestamp%").split(b"\r\n")[0].removeprefix(b"m-lap-us-"))
    assert 40_000 <= t2 - t1 < 2_000_000
    assert b"infer N [W=0]: Load input, execute N inferences after W warmup loops\r\n" in _raw(raw_port, b"help%")
    assert _raw(raw_port, b"bogus 1 2%") == b"e-[Unknown command: bogus]\r\nm-ready\r\n"


def test_db_load_print_infer_results_exactly(raw_port, tiny_models):
    data = bytes((i * 37) & 0xFF for i in range(1024))
    assert _raw(raw_port, b"db load 1024%") == b"m-[Expecting 1024 bytes]\r\nm-ready\r\n"
    chunks = P.db_chunks(data)
    for c in chunks[:-1]:
        assert _raw(raw_port, c.encode() + b"%") == b"m-ready\r\n"
    assert _raw(raw_port, chunks[-1].encode() + b"%") == b"m-load-done\r\nm-ready\r\n"
    printed = _raw(raw_port, b"db print%").decode().split("\r\n")
    assert printed[0] == "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8])
    assert P.parse_db_print(printed, 1024) == data
    lines = _raw(raw_port, b"infer 5 2%").decode().split("\r\n")
    assert lines[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-5"]
    assert lines[3].startswith("m-lap-us-") and lines[4].startswith("m-lap-us-")
    assert lines[5] == "m-infer-done" and lines[6].startswith("m-results-[") and lines[7:] == ["m-ready", ""]
    reply = P.parse_infer(lines[:-2], 5, 2)
    from device_profiles.cost_model import CostModel
    from device_profiles.tflite_model import parse_tflite

    model_ms = CostModel(get_profile("nano33ble")).latency_ms(parse_tflite(tiny_models["mbblock"]).layers)
    assert reply.per_inference_ms == pytest.approx(model_ms, rel=0.03)    # the board's latency model + jitter
    # the reported output is what TFLM computes for this input (reference run in this process)
    from tests.test_serial_profile import reference_output
    assert reply.results == reference_output(tiny_models["mbblock"], data)
    assert _raw(raw_port, b"results%").decode().split("\r\n")[0] == lines[6]
    assert _raw(raw_port, b"infer 0%") == b"e-[Inference iterations must be >0]\r\nm-ready\r\n"
    assert _raw(raw_port, b"db zz%") == b"e-[Invalid hex digit 'zz']\r\nm-ready\r\n"
    assert _raw(raw_port, b"db abc%") == b"e-[Insufficent number of hex digits]\r\nm-ready\r\n"


def test_resync_after_garbage(mbblock_board, nano33ble):
    from tests.fixtures.serial import FAST_BAUD

    with DutSession(mbblock_board.path, nano33ble, baud=FAST_BAUD) as board:
        board.link.write(os.urandom(300) + b"\xff\xfe garbage without terminator")
        assert board.command("name", P.parse_name).endswith("(simulated)")
        board.link.write(b"half a comm")               # a half-sent command is terminated and dropped
        assert board.timestamp() > 0
        board.link.resync()
        assert board.command("profile", P.parse_profile)[1].startswith("crc32-")


def test_name_round_trip_is_fast_on_a_pty(mbblock_board, nano33ble):
    from tests.fixtures.serial import FAST_BAUD

    with DutSession(mbblock_board.path, nano33ble, baud=FAST_BAUD) as board:
        times = []
        for _ in range(10):
            t = time.perf_counter()
            board.command("name", P.parse_name)
            times.append(time.perf_counter() - t)
        assert sorted(times)[len(times) // 2] <= 0.020


def test_missing_busy_and_forbidden_ports_name_the_port_and_fix(mbblock_board):
    with pytest.raises(LinkError, match="/dev/ttyACM99 does not exist.*--port"):
        SerialLink("/dev/ttyACM99", 115200)
    with SerialLink(mbblock_board.path, 921600):
        with pytest.raises(LinkError, match=f"{mbblock_board.path} is busy: close the other program"):
            SerialLink(mbblock_board.path, 921600)
    err = _open_error("/dev/ttyACM0", serial.SerialException(errno.EACCES, "could not open port: [Errno 13] "
                                                                           "Permission denied"))
    assert "permission denied opening /dev/ttyACM0" in str(err) and "sudo usermod -aG dialout $USER" in str(err)
    assert err.exit_code == 3


def test_auto_detect_without_a_board_says_what_to_do(nano33ble):
    from device_profiles.detect import detect_boards
    from firmware_bridge.serial.link import resolve_port

    if any(b.board_id == "nano33ble" for b in detect_boards()):      # a real board is plugged in
        assert resolve_port("auto", nano33ble).startswith("/dev/")
        return
    with pytest.raises(LinkError, match="no nano33ble found on USB serial.*--port DEV"):
        resolve_port("auto", nano33ble)
    assert resolve_port("/dev/ttyUSB3", nano33ble) == "/dev/ttyUSB3"


def test_a_port_that_only_sends_garbage_fails_with_link_error_in_bounded_time(nano33ble):
    """Not a DUT (or the wrong baud rate): random bytes forever. The host must give up, not hang."""
    import random
    import threading
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    stop = threading.Event()

    def spew() -> None:
        rng = random.Random(0)
        while not stop.is_set():
            try:
                os.write(master, rng.randbytes(64).replace(b"m-ready", b"m-r3ady"))
            except OSError:
                return
            time.sleep(0.005)

    t = threading.Thread(target=spew, daemon=True)
    t.start()
    start = time.monotonic()
    try:
        with pytest.raises(LinkError, match="no valid answer from .* to the handshake") as info:
            DutSession(os.ttyname(slave), nano33ble).open()
        assert info.value.exit_code == 3
        assert time.monotonic() - start < 40
    finally:
        stop.set()
        t.join(timeout=2)
        os.close(master)
        os.close(slave)

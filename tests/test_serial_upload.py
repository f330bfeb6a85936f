"""Model upload through real ptys: clean, paced at 115200 baud, 1% faults, reset mid-upload, resume."""

from __future__ import annotations

import threading
import time

import pytest

from firmware_bridge.errors import LinkError
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.frames import encode_frame
from firmware_bridge.serial.session import DutSession
from tests.fixtures.serial import FAST_BAUD

pytestmark = pytest.mark.timeout(180)


def test_upload_at_115200_is_paced_and_near_link_speed(virtual_board_factory, nano33ble, tiny_models):
    model = tiny_models["mbblock"].read_bytes()
    vb = virtual_board_factory(nano33ble)                   # the profile's own 115200 baud
    with DutSession(vb.path, nano33ble) as board:
        assert board.baud == 115200 and board.simulated
        rep = board.upload(model)
        nominal_s = len(model) / (115200 / 10)
        assert rep.seconds >= nominal_s * 0.98               # the virtual board really paces the wire
        assert rep.efficiency >= 0.80, rep
        assert board.model_label == f"crc32-{P.crc32(model):08x}"
        assert board.arena_bytes and board.arena_bytes > 1000
        assert board.input_spec.nbytes == 1024


def test_upload_survives_one_percent_byte_faults(virtual_board_factory, nano33ble, tiny_models):
    model = tiny_models["mbblock"].read_bytes()
    vb = virtual_board_factory(nano33ble, fault_rate=0.01, seed=3, baud=FAST_BAUD)
    t = time.monotonic()
    with DutSession(vb.path, nano33ble, baud=FAST_BAUD) as board:
        rep = board.upload(model)
        assert rep.naks + rep.timeouts > 0                  # faults really happened and were repaired
        assert board.model_label == f"crc32-{P.crc32(model):08x}"   # board-verified CRC of the model
    assert time.monotonic() - t < 120


def test_unrecoverable_link_fails_with_link_error_in_bounded_time(virtual_board_factory, nano33ble, tiny_models):
    vb = virtual_board_factory(nano33ble, fault_rate=0.3, seed=1, baud=FAST_BAUD)
    t = time.monotonic()
    with pytest.raises(LinkError) as info:
        with DutSession(vb.path, nano33ble, baud=FAST_BAUD, retries=6) as board:
            board.upload(tiny_models["mbblock"].read_bytes())
    assert info.value.exit_code == 3
    assert vb.path in str(info.value) and "check" in str(info.value)
    assert time.monotonic() - t < 90


def test_reset_mid_upload_is_detected_and_the_upload_restarts(virtual_board_factory, nano33ble, tiny_models):
    model = tiny_models["mbblock"].read_bytes()
    vb = virtual_board_factory(nano33ble)                   # 115200 baud: the upload takes ~0.7 s
    messages: list[str] = []
    with DutSession(vb.path, nano33ble, progress=messages.append) as board:
        timer = threading.Timer(0.3, vb.reset)
        timer.start()
        rep = board.upload(model)
        timer.join()
        assert rep.resets == 1 and board.resets == 1
        assert any("reset" in m for m in messages)
        assert board.model_label == f"crc32-{P.crc32(model):08x}"
        assert board.checked                                # checked mode was switched on again


def test_interrupted_upload_resumes_from_the_last_good_offset(virtual_board_factory, nano33ble, tiny_models):
    model = tiny_models["mbblock"].read_bytes()
    vb = virtual_board_factory(nano33ble, baud=FAST_BAUD)
    with DutSession(vb.path, nano33ble, baud=FAST_BAUD) as board:
        lines, seq = board.command_lines(P.upload(len(model), P.crc32(model)))
        assert P.parse_upload_ready(lines) == (0, 1024)
        for off in range(0, 3072, 1024):                    # the host "dies" after three frames
            board.link.write(encode_frame(off, model[off:off + 1024]))
        acked = 0
        end = time.monotonic() + 5
        while acked < 3072 and time.monotonic() < end:
            line = board.link.read_line(0.5)
            if line and (ack := P.parse_ack(P.unseal(line)[0])):
                acked = ack[1]
        assert acked == 3072
        board.link.resync()
        rep = board.upload(model)
        assert rep.resumed_from == 3072
        assert board.model_label == f"crc32-{P.crc32(model):08x}"


def test_board_refuses_an_upload_that_does_not_fit(virtual_board_factory, small_flash_profile, tiny_models):
    from firmware_bridge.errors import ModelRefused

    vb = virtual_board_factory(small_flash_profile, baud=FAST_BAUD)
    with DutSession(vb.path, small_flash_profile, baud=FAST_BAUD) as board:
        with pytest.raises((ModelRefused, P.BoardError), match="flash"):
            board.upload(tiny_models["mbblock"].read_bytes())

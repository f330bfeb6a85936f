"""Pure protocol pieces: command encoding, reply parsing, line checks, frames; fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import ProtocolError
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.frames import OVERHEAD, BadFrame, Frame, FrameDecoder, Text, encode_frame


def test_commands_are_byte_compatible_with_the_mlperf_tiny_runner():
    assert P.encode_command("name") == b"name%"
    assert P.encode_command(P.infer(10, 1)) == b"infer 10 1%"
    assert P.encode_command(P.db_load(1024)) == b"db load 1024%"
    # the runner sends 31 bytes (62 lower-case hex digits) per `db` command
    chunks = P.db_chunks(bytes(range(70)))
    assert [len(c) for c in chunks] == [3 + 62, 3 + 62, 3 + 16]
    assert chunks[0] == "db " + bytes(range(31)).hex()
    with pytest.raises(ValueError):
        P.encode_command("name%")
    with pytest.raises(ValueError):
        P.encode_command("x" * 81)


def test_sealed_command_and_line_roundtrip_and_tamper_detection():
    cmd = P.encode_command("infer 5 1", seq=7)
    assert cmd.endswith(b"%") and len(cmd) <= P.CMD_MAX + 1
    text, seq = P.unseal(cmd[:-1].decode())
    assert (text, seq) == ("infer 5 1", 7)
    line = P.seal("m-lap-us-123456", 9)
    assert P.unseal(line) == ("m-lap-us-123456", 9)
    bad = line.replace("123456", "123457")
    with pytest.raises(ProtocolError):
        P.unseal(bad)


def test_parse_standard_replies():
    assert P.parse_name(["m-name-dut-[unspecified]"]) == "unspecified"
    assert P.parse_profile(["m-profile-[ulp-mlperf]", "m-model-[ic01]"]) == ("ulp-mlperf", "ic01")
    assert P.parse_timestamp(["m-lap-us-42"]) == 42
    assert P.parse_load_ack(["m-[Expecting 1024 bytes]"]) == 1024
    assert P.parse_db_print(["m-buffer-00-01-02-03-04-05-06-07", "m-buffer-08-ff"], 10) == \
        bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 255])
    lines = ["m-warmup-start-1", "m-warmup-done", "m-infer-start-10", "m-lap-us-1000", "m-lap-us-51000",
             "m-infer-done", "m-results-[0.000,0.500,-1.250]"]
    r = P.parse_infer(lines, 10, 1)
    assert r.per_inference_ms == pytest.approx(5.0)
    assert r.results == [0.0, 0.5, -1.25]
    with pytest.raises(ProtocolError):
        P.parse_infer(lines, 11, 1)                     # a garbled count never yields a number
    with pytest.raises(ProtocolError):
        P.parse_infer([x for x in lines if x != "m-lap-us-51000"])
    with pytest.raises(P.BoardError, match="Inference iterations"):
        P.parse_infer(["e-[Inference iterations must be >0]"])


def test_parse_extension_replies():
    caps = P.parse_caps(["m-qx-caps-[v=1,upload=1,frame=1024,flash=770048,ram=196608,sim=1]"])
    assert caps.version == 1 and caps.upload and caps.frame == 1024 and caps.simulated
    mem = P.parse_mem(["m-qx-mem-[arena=16008,ram_free=180600,flash_free=762128,model=7920]"])
    assert mem.arena_bytes == 16008 and mem.flash_free_bytes == 762128
    ins, outs = P.parse_tensors(["m-qx-input-[0,int8,1x32x32x1,0.00392,-128]",
                                 "m-qx-output-[0,int8,1x10,0.0022,-6]"])
    assert ins[0].nbytes == 1024 and outs[0].shape == (1, 10) and ins[0].zero_point == -128
    assert P.parse_ack("m-qx-ack-[4096]") == ("ack", 4096, None)
    assert P.parse_ack("m-qx-nak-[64,3]") == ("nak", 64, 3)
    assert P.parse_ack("m-ready") is None


def test_line_splitter_drops_cr_and_nul_like_the_runner():
    sp = P.LineSplitter()
    assert sp.feed(b"m-name-dut-[x]\r\n\x00m-re") == ["m-name-dut-[x]"]
    assert sp.feed(b"ady\r\n") == ["m-ready"]


def test_frames_roundtrip_resync_and_version():
    payload = bytes(range(200))
    f1, f2 = encode_frame(0, payload), encode_frame(200, payload[:50], round_=3)
    assert len(f1) == len(payload) + OVERHEAD
    dec = FrameDecoder()
    garbage = b"\x00\xa5junk\xa5"
    evs = dec.feed(garbage + f1[:7]) + dec.feed(f1[7:] + f2)
    frames = [e for e in evs if isinstance(e, Frame)]
    assert [(f.offset, len(f.payload), f.round) for f in frames] == [(0, 200, 0), (200, 50, 3)]
    assert frames[0].payload == payload
    # a corrupted frame is reported and the next good frame is still found
    bad = bytearray(f1)
    bad[40] ^= 0x10
    evs = FrameDecoder().feed(bytes(bad) + f2)
    assert any(isinstance(e, BadFrame) for e in evs)
    assert [e.offset for e in evs if isinstance(e, Frame)] == [200]
    # another protocol version is rejected, never misread
    evs = FrameDecoder().feed(encode_frame(0, b"abc", version=2))
    assert not any(isinstance(e, Frame) for e in evs) and any(isinstance(e, BadFrame) for e in evs)
    # a corrupted length field is rejected at once (the ~len check), not waited for
    bad = bytearray(f2)
    bad[8] ^= 0x01
    evs = FrameDecoder().feed(bytes(bad))
    assert isinstance(evs[0], BadFrame) and "length" in evs[0].reason


_PARSERS = [P.parse_name, P.parse_profile, P.parse_timestamp, P.parse_load_ack, P.parse_db_print,
            P.parse_results, P.parse_infer, P.parse_caps, P.parse_mem, P.parse_tensors, P.parse_db_crc,
            P.parse_upload_ready, P.parse_upload_done, P.parse_model,
            lambda lines: P.parse_infer(lines, strict=False), lambda lines: [P.unseal(x) for x in lines]]

_line = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["m-lap-us-", "m-results-[", "m-qx-caps-[", "m-qx-mem-[", "m-qx-input-[",
                     "m-qx-output-[", "m-infer-start-", "m-warmup-start-", "e-[", "m-buffer-",
                     "m-qx-upload-[", "m-qx-model-[", "m-qx-db-[", "m-[Expecting "]).flatmap(
        lambda prefix: st.text(alphabet="0123456789abcdefx,.=-+e[]~: ", max_size=40).map(lambda t: prefix + t)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_line, max_size=8), st.integers(0, len(_PARSERS) - 1))
def test_fuzz_reply_parsers_only_raise_protocol_error(lines, which):
    try:
        _PARSERS[which](lines)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_byte_level_decoders_never_crash(data):
    lines = P.LineSplitter().feed(data)
    assert all(isinstance(x, str) for x in lines)
    for ev in FrameDecoder().feed(data):
        assert isinstance(ev, Frame | BadFrame | Text)
    for line in lines:
        assert P.parse_ack(line) is None or P.parse_ack(line)[0] in ("ack", "nak")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_board_engine_survives_random_input(data):
    """The virtual board's protocol engine answers garbage with protocol lines, never an exception."""
    from device_profiles.catalog import get_profile
    from firmware_bridge.virtual.engine import DutEngine

    out = bytearray()
    eng = DutEngine(get_profile("nano33ble"), out.extend)
    eng.feed(data + b"%")
    eng.feed(b"name%")
    assert out.rstrip().endswith(b"m-ready")
    assert b"m-name-dut-[" in out or b"command check" in out

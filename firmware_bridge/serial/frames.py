"""Binary frames of the model-upload extension (host -> board), so the link runs near its nominal rate.

Layout (little-endian), 16 bytes of overhead per frame::

    A5 5A | ver u8 | type u8 | offset u32 | len u16 | ~len u16 | payload[len] | crc32 u32

`type` holds the frame type in its low nibble and the sender's retransmission round (0-15) in its high
nibble; the board echoes the round in ``m-qx-nak-[expected,round]`` so the host can tell a nak about
its latest round from one about frames it has already re-sent. `~len` (ones' complement of len) lets the board reject a corrupted length at once instead of
swallowing the following frames while it waits for a payload that never comes.

`crc32` (zlib/IEEE) covers ver..payload. `offset` is the byte offset of the payload in the model, so
frames are idempotent: the board keeps the bytes only when `offset` equals the next byte it expects
(go-back-N with cumulative ``m-qx-ack-[next]``), which is also what makes an upload resumable.
`ver` is `FRAME_VERSION`; a frame of another version is rejected (``m-qx-nak``), never misread.

`FrameDecoder` is the board-side scanner: it hunts for the sync bytes, checks length and CRC, and on a
bad frame re-scans from the byte after the false sync, so garbage and dropped bytes cost one frame.
Bytes outside frames are handed back as text (commands may interleave with frames).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from firmware_bridge.serial.protocol import crc32

SYNC = b"\xa5\x5a"
FRAME_VERSION = 1
TYPE_DATA = 1
HEADER = struct.Struct("<2sBBIHH")  # sync, version, type, offset, length, ~length
TRAILER = 4
OVERHEAD = HEADER.size + TRAILER    # 16 bytes
MAX_PAYLOAD = 4096


@dataclass(frozen=True)
class Frame:
    offset: int
    payload: bytes
    ftype: int = TYPE_DATA
    round: int = 0


@dataclass(frozen=True)
class BadFrame:
    reason: str


@dataclass(frozen=True)
class Text:
    data: bytes


def encode_frame(offset: int, payload: bytes, ftype: int = TYPE_DATA, version: int = FRAME_VERSION,
                 round_: int = 0) -> bytes:
    """One frame carrying `payload` (at most MAX_PAYLOAD bytes) for model offset `offset`."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"frame payload {len(payload)} > {MAX_PAYLOAD} bytes")
    tbyte = (ftype & 0x0F) | ((round_ & 0x0F) << 4)
    head = HEADER.pack(SYNC, version, tbyte, offset, len(payload), len(payload) ^ 0xFFFF)
    return head + payload + struct.pack("<I", crc32(head[2:] + payload))


class FrameDecoder:
    """Incremental frame scanner: feed bytes, get Frame / BadFrame / Text events in stream order."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> list[Text | BadFrame]:
        """Forget a partial frame (e.g. after an inter-byte timeout); reports it as bad if any."""
        had = bool(self._buf)
        self._buf.clear()
        return [BadFrame("incomplete frame timed out")] if had else []

    def feed(self, data: bytes) -> list[Frame | BadFrame | Text]:
        self._buf.extend(data)
        events: list[Frame | BadFrame | Text] = []
        buf = self._buf
        while buf:
            i = buf.find(SYNC)
            if i < 0:
                keep = 1 if buf[-1] == SYNC[0] else 0       # a sync may straddle two feeds
                if len(buf) - keep:
                    events.append(Text(bytes(buf[:len(buf) - keep])))
                del buf[:len(buf) - keep]
                break
            if i > 0:
                events.append(Text(bytes(buf[:i])))
                del buf[:i]
            if len(buf) < HEADER.size:
                break
            _, ver, ftype, offset, length, nlength = HEADER.unpack_from(buf)
            if length ^ nlength != 0xFFFF or length > self.max_payload:
                events.append(BadFrame(f"bad length field {length}"))
                del buf[:1]
                continue
            total = HEADER.size + length + TRAILER
            if len(buf) < total:
                break
            (crc,) = struct.unpack_from("<I", buf, HEADER.size + length)
            if crc32(bytes(buf[2:HEADER.size + length])) != crc:
                events.append(BadFrame("crc mismatch"))
                del buf[:1]
                continue
            if ver != FRAME_VERSION:
                events.append(BadFrame(f"frame version {ver}, board speaks {FRAME_VERSION}"))
                del buf[:total]
                continue
            events.append(Frame(offset, bytes(buf[HEADER.size:HEADER.size + length]), ftype & 0x0F, ftype >> 4))
            del buf[:total]
        return events

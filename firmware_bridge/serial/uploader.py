"""Model upload over the qx- extension: binary frames, go-back-N with cumulative acks, resumable.

The host sends frames (`frames.encode_frame`) while at most `window` frames are unacknowledged; the
board acks the next byte it expects (``m-qx-ack-[n]``) or naks it (``m-qx-nak-[n,round]``, once per
host round) after a bad or out-of-order frame. On a nak of its current round, or an ack timeout,
the host goes back to the offset the board expects, starts a new round and
halves the frame size (down to `MIN_FRAME`, so a noisy line still gets frames through); clean acks
grow it back. When an attempt stalls, or the board resets (``m-init-done``), ``qx-upload LEN CRC`` is
sent again and the board answers with the offset it already holds: the upload resumes there (or
restarts from 0 after a reset that lost RAM). The board verifies the CRC-32 of the whole model.
Every wait has a deadline; the whole upload has one too, so a bad link ends in `LinkError` (exit 3).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from firmware_bridge.errors import LinkError
from firmware_bridge.serial import protocol as P
from firmware_bridge.serial.frames import OVERHEAD, encode_frame

MIN_FRAME = 32
WINDOW = 4
MAX_STALLS = 8          # consecutive naks/timeouts without progress before re-issuing qx-upload
MAX_ATTEMPTS = 8        # qx-upload (re)starts before giving up


class BoardReset(LinkError):
    """The board printed m-init-done: it rebooted and lost its RAM state."""


class _Stalled(Exception):
    pass


@dataclass
class UploadReport:
    """What an upload cost: bytes, seconds, payload throughput vs the link's nominal byte rate."""

    bytes: int
    seconds: float
    throughput_bps: float          # payload bytes per second
    nominal_bps: float             # baud / 10
    efficiency: float              # throughput / nominal
    frames: int
    retransmitted_bytes: int
    naks: int
    timeouts: int
    attempts: int
    resumed_from: int
    resets: int
    final_frame: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def upload_model(board, data: bytes, progress=None, deadline_s: float | None = None) -> UploadReport:
    """Upload `data` to `board` (a `DutSession` with the upload capability); returns the report."""
    link = board.link
    total, crc = len(data), P.crc32(data)
    nominal = link.baud / 10.0
    deadline = time.monotonic() + (deadline_s if deadline_s is not None
                                   else 30.0 + 20.0 * (total + OVERHEAD * total / MIN_FRAME) / nominal)
    stats = {"frames": 0, "retx": 0, "naks": 0, "timeouts": 0, "resets": 0}
    resumed_from = 0
    frame_max = max(MIN_FRAME, min(board.caps.frame if board.caps else 1024, 4096))
    size = frame_max
    t_start = None
    attempt, done = 0, False
    while not done and attempt < MAX_ATTEMPTS and time.monotonic() <= deadline:
        attempt += 1
        try:
            lines, seq = board.command_lines(P.upload(total, crc), timeout_s=2.0 + 64 * link.byte_time_s)
            offset, fmax = P.parse_upload_ready(lines)
            frame_max = max(MIN_FRAME, min(frame_max, fmax))
            size = min(size, frame_max)
            if offset > 0:
                resumed_from = offset           # the board already held this much of the same model
            t_start = t_start or time.monotonic()
            if offset >= total:
                got_len, got_crc = P.parse_upload_done(lines)
                _check_done(got_len, got_crc, total, crc)
            else:
                size = _stream(board, data, crc, offset, seq, size, frame_max, deadline, stats)
            done = True
        except BoardReset:
            stats["resets"] += 1
            if progress:
                progress("board reset during upload; reconnecting and resuming")
            board.recover()
        except (_Stalled, P.ProtocolError) as exc:
            if isinstance(exc, P.BoardError):
                raise
            if progress:
                progress(f"upload stalled ({exc or 'no progress'}); asking the board where it stands")
            link.resync()
    if not done:
        raise LinkError(f"upload of {total} B to {link.port} failed after {attempt} attempts "
                        f"({stats['naks']} naks, {stats['timeouts']} timeouts): check the cable and baud "
                        f"rate, or reset the board and retry")
    secs = max(time.monotonic() - (t_start or time.monotonic()), 1e-9)
    return UploadReport(total, secs, total / secs, nominal, total / secs / nominal, stats["frames"],
                        stats["retx"], stats["naks"], stats["timeouts"], attempt, resumed_from,
                        stats["resets"], size)


def _check_done(got_len: int, got_crc: int, total: int, crc: int) -> None:
    if got_len != total or got_crc != crc:
        raise P.ProtocolError(f"board holds {got_len} B crc {got_crc:08x}, expected {total} B crc {crc:08x}")


def _stream(board, data: bytes, crc: int, offset: int, seq: int, size: int, frame_max: int,
            deadline: float, stats: dict[str, int]) -> int:
    link = board.link
    total = len(data)
    base = nxt = offset
    sent_max = offset
    stalls = 0
    clean = 0
    rnd = 0

    def go_back(to: int) -> None:
        nonlocal nxt, size, clean, rnd, stalls
        stalls += 1
        if stalls > MAX_STALLS:
            raise _Stalled(f"no progress for {stalls} rounds at offset {base}")
        nxt, size, clean, rnd = to, max(MIN_FRAME, size // 2), 0, (rnd + 1) & 0x0F

    while True:
        if time.monotonic() > deadline:
            raise _Stalled("upload deadline passed")
        while nxt < total and nxt - base < WINDOW * size:
            payload = data[nxt:nxt + size]
            link.write(encode_frame(nxt, payload, round_=rnd))
            stats["frames"] += 1
            if nxt < sent_max:
                stats["retx"] += len(payload)
            nxt += len(payload)
            sent_max = max(sent_max, nxt)
        in_flight = (nxt - base) + OVERHEAD * (1 + (nxt - base) // max(size, 1))
        text = _read_reply(link, seq, 0.05 + 3.0 * in_flight * link.byte_time_s)
        if text is None:
            stats["timeouts"] += 1
            go_back(base)
            continue
        ack = P.parse_ack(text)
        if ack is not None:
            kind, n, r = ack
            if kind == "ack" and base < n <= total:
                base, stalls = n, 0
                clean += 1
                if clean >= 8 and size < frame_max:
                    size, clean = min(frame_max, size * 2), 0
                nxt = max(nxt, base)
            elif kind == "nak" and r == rnd and base <= n <= total:
                stats["naks"] += 1
                base = n
                go_back(n)
            continue
        if text.startswith("m-qx-upload-done-"):
            got_len, got_crc = P.parse_upload_done([text])
            _check_done(got_len, got_crc, total, crc)
            _await_ready(board, seq)
            return size
        if text.startswith("e-["):
            raise _Stalled(text)


def _read_reply(link, seq: int, timeout_s: float) -> str | None:
    """The next verified line of command `seq` ("" for a line to skip: corrupted, or stale from an
    older command; acks are cumulative, so nothing is lost); None on timeout; BoardReset on a reset."""
    line = link.read_line(timeout_s)
    if line is None:
        return None
    if line == P.INIT_DONE:
        raise BoardReset("board reset")
    try:
        text, s = P.unseal(line)
    except P.ProtocolError:
        return ""
    return text if s == seq else ""


def _await_ready(board, seq: int) -> None:
    """Consume the upload's closing m-ready (best effort, bounded)."""
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        line = board.link.read_line(max(0.0, end - time.monotonic()))
        if line is None:
            return
        try:
            text, s = P.unseal(line)
        except P.ProtocolError:
            continue
        if s == seq and text == P.READY:
            return

"""The pyserial link to a board: open by path or by USB VID:PID, timed reads, resync after garbage.

Every read here has a deadline; nothing blocks forever. Open failures become a `LinkError` that names
the port and the fix (missing device, busy port, permission denied -> dialout group).
"""

from __future__ import annotations

import errno
import time
from collections import deque

from firmware_bridge.errors import LinkError
from firmware_bridge.serial.protocol import TERMINATOR, LineSplitter

DIALOUT_FIX = "add yourself to the dialout group: sudo usermod -aG dialout $USER (then log out and back in)"


def resolve_port(port: str | None, profile) -> str:
    """`port` itself, or for None/'auto' the single plugged-in board matching `profile` (VID:PID)."""
    if port not in (None, "", "auto"):
        return str(port)
    from device_profiles.detect import detect_boards

    found = [b for b in detect_boards() if b.board_id == profile.id or profile.id in (b.candidates or [])]
    if not found:
        ids = ", ".join(f"{v:04x}:{p:04x}" for v, p in profile.link.usb_ids) or "none listed"
        raise LinkError(f"no {profile.id} found on USB serial (VID:PID {ids}): plug it in and check "
                        f"'qnas-edge detect', or pass --port DEV (or --virtual for a simulated board)")
    if len(found) > 1:
        raise LinkError(f"{len(found)} {profile.id} boards found ({', '.join(b.port for b in found)}): "
                        f"choose one with --port DEV")
    return found[0].port


def _open_error(port: str, exc: Exception) -> LinkError:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text:
        return LinkError(f"serial port {port} does not exist: plug the board in, check 'qnas-edge detect' "
                         f"and pass the right --port")
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return LinkError(f"permission denied opening {port}: {DIALOUT_FIX}")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "lock" in text.lower() or "busy" in text:
        return LinkError(f"serial port {port} is busy: close the other program using it "
                         f"(serial monitor, Arduino IDE, another qnas-edge) and retry")
    return LinkError(f"cannot open serial port {port}: {text}")


class SerialLink:
    """Line-oriented access to a serial port with per-call deadlines (seconds)."""

    def __init__(self, port: str, baud: int = 115200, open_timeout_s: float = 2.0) -> None:
        import serial

        self.port = port
        self.baud = baud
        self.splitter = LineSplitter()
        self.lines: deque[str] = deque()
        self.rx_bytes = 0
        self.tx_bytes = 0
        try:
            self.ser = serial.Serial(port, baud, timeout=0.05, write_timeout=open_timeout_s + 5.0,
                                     exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _open_error(port, exc) from None

    @property
    def byte_time_s(self) -> float:
        """Seconds one byte takes on the wire (start + 8 data + stop bits)."""
        return 10.0 / self.baud

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"writing to {self.port} failed ({exc}): the board was unplugged or reset; "
                            f"reconnect it and retry") from None
        self.tx_bytes += len(data)

    def _pump(self, wait_s: float) -> bool:
        """Read what is available (waiting at most `wait_s`); True when bytes arrived."""
        import serial

        try:
            self.ser.timeout = max(0.0, wait_s)
            n = self.ser.in_waiting
            data = self.ser.read(n if n > 0 else 1)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"reading from {self.port} failed ({exc}): the board was unplugged or reset; "
                            f"reconnect it and retry") from None
        if data:
            self.rx_bytes += len(data)
            self.lines.extend(self.splitter.feed(data))
        return bool(data)

    def read_line(self, timeout_s: float) -> str | None:
        """The next complete line, or None when none arrived within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._pump(min(left, 0.05))
        return self.lines.popleft()

    def partial(self) -> str:
        """Bytes of an unfinished line (a lost newline leaves them here)."""
        return self.splitter.pending.decode("latin-1")

    def drain(self, quiet_s: float = 0.05, max_s: float = 2.0) -> int:
        """Discard input until the line has been quiet for `quiet_s` (at most `max_s`); bytes dropped."""
        dropped = sum(len(x) + 1 for x in self.lines) + len(self.splitter.pending)
        self.lines.clear()
        self.splitter.clear()
        end = time.monotonic() + max_s
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet_s:
            before = self.rx_bytes
            if self._pump(min(quiet_s, 0.02)):
                last = time.monotonic()
                dropped += self.rx_bytes - before
        self.lines.clear()
        self.splitter.clear()
        return dropped

    def resync(self, quiet_s: float = 0.08, max_s: float = 2.0) -> None:
        """Terminate any half-received command on the board and throw away what it says back
        (until quiet for `quiet_s`, at most `max_s`)."""
        try:
            self.ser.reset_input_buffer()
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.write(TERMINATOR)
        self.drain(quiet_s=max(quiet_s, 40 * self.byte_time_s), max_s=max_s)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
